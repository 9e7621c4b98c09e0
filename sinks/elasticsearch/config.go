package elasticsearch

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
)

// Config is the elasticsearch sink's own keys (the pipeline handles name,
// type, streams, when, buffer, batch and retry).
type Config struct {
	// Addresses are the cluster's HTTP(S) endpoints; requests rotate over
	// them. Default https://127.0.0.1:9200 (Elasticsearch 8 enables TLS)
	// when cloud_id is not set either.
	Addresses []string `yaml:"addresses"`
	// CloudID is an Elastic Cloud deployment id (instead of addresses).
	CloudID string `yaml:"cloud_id"`
	// Username authenticates with HTTP basic auth, with password.
	Username string `yaml:"username"`
	// Password is the basic-auth password (write ${VAR} to read it from the environment).
	Password config.Secret `yaml:"password"`
	// APIKey is the base64 "id:api_key" value Elasticsearch returns as
	// "encoded" (instead of username/password).
	APIKey config.Secret `yaml:"api_key"`
	// TLS is the CA, client certificate and server name for https addresses.
	TLS config.TLS `yaml:"tls"`

	// Index is the target index or data stream: ${stream} and ${tenant}
	// are expanded per record, and %Y, %m, %d from the record's `when` (UTC).
	// Default sophos-${stream}; format integration writes to
	// logs-sophos_central.<alert|event>-<namespace> and takes no index.
	Index string `yaml:"index"`
	// OpType is index (replays overwrite by _id) or create (required for
	// data streams; a replay is refused with 409, which counts as
	// delivered). Default create for format integration, else index.
	OpType string `yaml:"op_type"`
	// Format is the document encoder: integration (the default: Elastic
	// Agent's document, which the sophos_central integration's ingest
	// pipeline in the cluster turns into its ECS document), ecs (that
	// finished document, for clusters without the integration), or any
	// other encoder.
	Format string `yaml:"format"`
	// CEFStrict escapes newlines in the cef format, as the CEF specification requires (default false).
	CEFStrict bool `yaml:"cef_strict"`
	// Namespace is the data stream namespace of format integration
	// (logs-sophos_central.<alert|event>-<namespace>). Default default.
	Namespace string `yaml:"namespace"`
	// IDMode chooses each document's _id: fingerprint (the integration's
	// fingerprint of created_at, id and when, so a copy from Elastic Agent
	// and one from sophos-connect are one document; the default with format
	// integration) or id (the record's id; the default otherwise).
	IDMode string `yaml:"id_mode"`
	// ECSExtras adds to format ecs the fields the integration does not set
	// (host.*, event.severity, event.module/dataset, ...). Default false.
	ECSExtras bool `yaml:"ecs_extras"`
	// PreserveOriginalEvent keeps the item in event.original (formats ecs
	// and integration), like the integration's option. Default false.
	PreserveOriginalEvent bool `yaml:"preserve_original_event"`
	// PreserveDuplicateCustomFields keeps the sophos_central.* fields
	// copied to ECS fields (formats ecs and integration), like the
	// integration's option. Default false.
	PreserveDuplicateCustomFields bool `yaml:"preserve_duplicate_custom_fields"`
	// OCSF tunes format ocsf: raw_data: true keeps the API item in raw_data.
	OCSF encoding.OCSFOptions `yaml:"ocsf"`

	// MaxBytes bounds one _bulk request body; a larger batch is split.
	MaxBytes config.ByteSize `yaml:"max_bytes"`
	// Compression is gzip (the default: Elasticsearch and OpenSearch take
	// Content-Encoding: gzip bodies) or none.
	Compression string `yaml:"compression"`
	// CompressionLevel is gzip's level, 1 (fastest, the default) to 9
	// (smallest).
	CompressionLevel int `yaml:"compression_level"`
	// Request is the request block: concurrency (adaptive, the default, or
	// a fixed number of _bulk requests in flight).
	Request httpout.RequestConfig `yaml:"request"`
	// Concurrency is the older form of a fixed request.concurrency (1 to
	// 64; unset: request.concurrency decides).
	Concurrency int `yaml:"concurrency"`
	// Pipeline is an ingest pipeline to run on every document (optional).
	Pipeline string `yaml:"pipeline"`
	// Setup installs an index template (a data stream template with
	// op_type create) mapping the ECS fields at start-up.
	Setup bool `yaml:"setup"`
	// Timeout bounds each request to the cluster.
	Timeout config.Duration `yaml:"timeout"`
}

// Defaults.
const (
	DefaultAddress   = "https://127.0.0.1:9200"
	DefaultIndex     = "sophos-${stream}"
	DefaultNamespace = "default"
	// IntegrationIndex is where format integration writes: the data
	// streams of Elastic's sophos_central integration.
	IntegrationIndex = "logs-sophos_central.${stream}-"
	DefaultMaxBytes  = 10 << 20
	DefaultTimeout   = 60 * time.Second
)

// DefaultConfig returns the defaults: format integration into
// logs-sophos_central.<stream>-default with op_type create and the
// integration's fingerprint _id, 10 MiB requests, adaptive concurrency,
// 60 s timeout.
// Other formats default to index sophos-${stream}, op_type index, id_mode id
// (Resolve fills those in).
func DefaultConfig() Config {
	return Config{
		Format:           "integration",
		Namespace:        DefaultNamespace,
		MaxBytes:         DefaultMaxBytes,
		Compression:      "gzip",
		CompressionLevel: httpout.DefaultCompressionLevel,
		Timeout:          config.Duration(DefaultTimeout),
	}
}

// gzipLevel is the level _bulk bodies are gzip'd at, 0 for none (an unset
// compression is the default, gzip; an unset level the fastest).
func (c *Config) gzipLevel() int {
	if c.Compression == "none" {
		return 0
	}
	if c.CompressionLevel == 0 {
		return httpout.DefaultCompressionLevel
	}
	return c.CompressionLevel
}

// Resolve fills in the defaults that depend on the format (index, op_type,
// id_mode), so that validate shows them.
func (c *Config) Resolve() {
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.Format == "integration" {
		if c.Index == "" {
			c.Index = IntegrationIndex + c.Namespace
		}
		if c.OpType == "" {
			c.OpType = "create"
		}
		if c.IDMode == "" {
			c.IDMode = "fingerprint"
		}
		return
	}
	if c.Index == "" {
		c.Index = DefaultIndex
	}
	if c.OpType == "" {
		c.OpType = "index"
	}
	if c.IDMode == "" {
		c.IDMode = "id"
	}
}

// Validate checks the keys, naming each bad one and the fix.
func (c *Config) Validate() error {
	var errs config.Errors
	bad := func(key, format string, a ...any) {
		errs = append(errs, &config.FieldError{Key: key, Msg: fmt.Sprintf(format, a...)})
	}
	c.Resolve()
	if c.Format == "integration" {
		if c.Index != IntegrationIndex+c.Namespace {
			bad("index", "format integration writes to the integration's data streams logs-sophos_central.<alert|event>-<namespace>: remove index and set namespace (or use format ecs for an index of your own)")
		}
		if c.OpType != "create" {
			bad("op_type", "format integration writes to data streams, which take only op_type create: remove op_type")
		}
	}
	if msg := namespaceError(c.Namespace); msg != "" {
		bad("namespace", "%q %s", c.Namespace, msg)
	}
	if c.IDMode != "id" && c.IDMode != "fingerprint" {
		bad("id_mode", "%q is not id or fingerprint", c.IDMode)
	}
	if len(c.Addresses) > 0 && c.CloudID != "" {
		bad("cloud_id", "set either addresses or cloud_id, not both")
	}
	for i, a := range c.Addresses {
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(fmt.Sprintf("addresses[%d]", i), "%q is not an http(s) URL: write it like https://es.example:9200", redactURL(a))
		}
	}
	if c.CloudID != "" && !strings.Contains(c.CloudID, ":") {
		bad("cloud_id", "not an Elastic Cloud id (expected name:base64 as shown in the deployment's page)")
	}
	if (c.Username == "") != (c.Password == "") {
		bad("password", "username and password go together: set both, or neither")
	}
	if c.APIKey != "" && c.Username != "" {
		bad("api_key", "use either api_key or username/password, not both")
	}
	if fe := c.TLS.Problem(); fe != nil {
		bad("tls."+fe.Key, "%s", fe.Msg)
	}
	if ix, err := parseIndex(c.Index); err != nil {
		bad("index", "%v", err)
	} else if c.Setup && strings.HasPrefix(ix.pattern(), "*") {
		bad("index", "%q gives the template pattern %q, with no literal prefix: it would match every index and outrank Fleet's logs-*-*; start the index with a fixed name (e.g. sophos-${stream}) or set setup: false", c.Index, ix.pattern())
	}
	if c.Setup && c.Format == "integration" {
		bad("setup", "the Sophos Central integration installs its own templates: remove setup (it is for format ecs)")
	}
	if c.OpType != "index" && c.OpType != "create" {
		bad("op_type", "%q is not index or create (create for data streams)", c.OpType)
	}
	if !slices.Contains(encoding.Formats, c.Format) {
		bad("format", "%q is not one of %s", c.Format, strings.Join(encoding.Formats, ", "))
	}
	if c.MaxBytes < 1024 {
		bad("max_bytes", "%d is too small: use at least 1KiB (the default is 10MiB; Elasticsearch accepts up to 100MiB)", c.MaxBytes)
	}
	if c.Compression != "" && c.Compression != "gzip" && c.Compression != "none" {
		bad("compression", "%q is not gzip or none", c.Compression)
	}
	if c.CompressionLevel != 0 {
		if fe := httpout.ValidateCompressionLevel(c.CompressionLevel); fe != nil {
			bad(fe.Key, "%s", fe.Msg)
		}
	}
	if c.Concurrency < 0 || c.Concurrency > httpout.MaxConcurrency {
		bad("concurrency", "%d is out of range: use 1 to %d, or request.concurrency (adaptive by default)", c.Concurrency, httpout.MaxConcurrency)
	} else if c.Concurrency > 0 && c.Request.Concurrency != httpout.Adaptive && int(c.Request.Concurrency) != c.Concurrency {
		bad("concurrency", "%d and request.concurrency %s disagree: keep request.concurrency only", c.Concurrency, c.Request.Concurrency)
	}
	if c.Timeout <= 0 {
		bad("timeout", "must be positive, e.g. 60s")
	}
	if strings.ContainsAny(c.Pipeline, " /,") {
		bad("pipeline", "%q is not an ingest pipeline id", c.Pipeline)
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// RequestConcurrency is request.concurrency, or the older concurrency key
// when only it is set.
func (c *Config) RequestConcurrency() httpout.Concurrency {
	if c.Request.Concurrency == httpout.Adaptive && c.Concurrency > 0 {
		return httpout.Concurrency(c.Concurrency)
	}
	return c.Request.Concurrency
}

// namespaceError checks a data stream namespace against Fleet's rules.
func namespaceError(ns string) string {
	switch {
	case ns == "":
		return "must not be empty (default: default)"
	case len(ns) > 100:
		return "is longer than 100 bytes"
	case strings.ToLower(ns) != ns:
		return "must be lowercase"
	case strings.ContainsAny(ns, `-\/*?"<>|, #:`):
		return `must not contain -, \, /, *, ?, ", <, >, |, ',', space, # or :`
	}
	return ""
}

// redactURL drops any user:password@ from an address for messages.
func redactURL(a string) string {
	u, err := url.Parse(a)
	if err != nil {
		if i := strings.LastIndex(a, "@"); i >= 0 {
			return "…@" + a[i+1:]
		}
		return a
	}
	u.User = nil
	return u.String()
}

// where names the cluster for messages, without credentials.
func (c *Config) where() string {
	if c.CloudID != "" {
		name, _, _ := strings.Cut(c.CloudID, ":")
		return "Elastic Cloud deployment " + name
	}
	addrs := c.addresses()
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = redactURL(a)
	}
	return strings.Join(out, ", ")
}

func (c *Config) addresses() []string {
	if len(c.Addresses) == 0 && c.CloudID == "" {
		return []string{DefaultAddress}
	}
	return c.Addresses
}
