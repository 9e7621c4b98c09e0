// Package opensearch is the OpenSearch sink (OpenSearch 2.x and 3.x, the Wazuh
// indexer, Graylog's data node, Amazon OpenSearch Service with basic auth): the
// elasticsearch sink's bulk writer, per-item classification and templates on
// the opensearch-go client, which does not require Elasticsearch's product
// header. Documents, _id semantics and dead-lettering are the elasticsearch
// sink's (see its README).
package opensearch

import (
	"log/slog"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/sinks/elasticsearch"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
)

// Config is the opensearch sink's own keys (the pipeline handles name,
// type, streams, when, buffer, batch and retry).
type Config struct {
	// Addresses are the cluster's HTTP(S) endpoints (default http://127.0.0.1:9200); requests fail over between them.
	Addresses []string `yaml:"addresses"`
	// Username authenticates with HTTP basic auth, with Password (both or neither).
	Username string `yaml:"username"`
	// Password is the basic auth password (use ${VAR} to read it from the environment).
	Password config.Secret `yaml:"password"`
	// TLS is the CA, client certificate and server name for https addresses.
	TLS config.TLS `yaml:"tls"`
	// Index is the target index or data stream: ${stream}, ${tenant}, and %Y, %m, %d from `when` (UTC); default sophos-${stream}.
	Index string `yaml:"index"`
	// OpType is index (replays overwrite by _id, the default) or create (data streams; a replay's 409 counts as delivered).
	OpType string `yaml:"op_type"`
	// Format is the document encoder (default ecs).
	Format string `yaml:"format"`
	// CEFStrict escapes newlines in the cef format (default false).
	CEFStrict bool `yaml:"cef_strict"`
	// MaxBytes bounds one _bulk request body; a larger batch is split (default 10MiB).
	MaxBytes config.ByteSize `yaml:"max_bytes"`
	// Compression is gzip (the default: OpenSearch takes Content-Encoding: gzip bodies) or none.
	Compression string `yaml:"compression"`
	// CompressionLevel is gzip's level, 1 (fastest, the default) to 9 (smallest).
	CompressionLevel int `yaml:"compression_level"`
	// Request is the request block: concurrency (adaptive, the default, or a fixed number of _bulk requests in flight).
	Request httpout.RequestConfig `yaml:"request"`
	// Concurrency is the older form of a fixed request.concurrency (1 to 64; unset: request.concurrency decides).
	Concurrency int `yaml:"concurrency"`
	// Pipeline is an ingest pipeline to run on every document (default none).
	Pipeline string `yaml:"pipeline"`
	// Setup installs the ECS index (or data stream) template at start-up (default false; needs OpenSearch 2.12+ for match_only_text).
	Setup bool `yaml:"setup"`
	// Timeout bounds each request to the cluster (default 60s).
	Timeout config.Duration `yaml:"timeout"`
}

// DefaultAddress is a local node with the security plugin off (set an
// https:// address for a node with it, as the distribution ships).
const DefaultAddress = "http://127.0.0.1:9200"

// DefaultConfig is the elasticsearch sink's defaults for its own indices:
// format ecs into sophos-${stream} with op_type index. (Elastic's
// integration format needs Elastic's ingest pipeline, which OpenSearch
// does not have.)
func DefaultConfig() Config {
	d := elasticsearch.DefaultConfig()
	d.Format = "ecs"
	d.Resolve()
	return Config{Index: d.Index, OpType: d.OpType, Format: d.Format, MaxBytes: d.MaxBytes,
		Compression: d.Compression, CompressionLevel: d.CompressionLevel, Timeout: d.Timeout}
}

// es is c as the elasticsearch sink's config, which checks and runs it.
func (c *Config) es() elasticsearch.Config {
	return elasticsearch.Config{
		Addresses: c.Addresses, Username: c.Username, Password: c.Password, TLS: c.TLS,
		Index: c.Index, OpType: c.OpType, Format: c.Format, CEFStrict: c.CEFStrict,
		MaxBytes: c.MaxBytes, Compression: c.Compression, CompressionLevel: c.CompressionLevel, Request: c.Request, Concurrency: c.Concurrency, Pipeline: c.Pipeline, Setup: c.Setup, Timeout: c.Timeout,
	}
}

// RequestConcurrency is request.concurrency, or the older concurrency key
// when only it is set.
func (c *Config) RequestConcurrency() httpout.Concurrency {
	ec := c.es()
	return ec.RequestConcurrency()
}

// Validate checks every key and names the fix.
func (c *Config) Validate() error {
	ec := c.es()
	return ec.Validate()
}

// addresses is the configured list, or the default node.
func (c *Config) addresses() []string {
	if len(c.Addresses) == 0 {
		return []string{DefaultAddress}
	}
	return c.Addresses
}

// LogValue keeps the password out of structured logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("addresses", c.addresses()), slog.String("username", c.Username),
		slog.String("index", c.Index), slog.String("op_type", c.OpType), slog.String("format", c.Format))
}
