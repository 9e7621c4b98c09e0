// Package sinks is the table of sink types: each entry decodes its own
// config keys strictly, validates them and builds the sink. The table is
// explicit (no init() registration) so `validate` can print it and a reader
// can see every destination in one place.
package sinks

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/elasticsearch"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
	"github.com/sophos-connect/sophos-connect/sinks/file"
	"github.com/sophos-connect/sophos-connect/sinks/googlesecops"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
	"github.com/sophos-connect/sophos-connect/sinks/httpsink"
	"github.com/sophos-connect/sophos-connect/sinks/kafka"
	"github.com/sophos-connect/sophos-connect/sinks/opensearch"
	"github.com/sophos-connect/sophos-connect/sinks/otlp"
	"github.com/sophos-connect/sophos-connect/sinks/s3"
	"github.com/sophos-connect/sophos-connect/sinks/sentinel"
	"github.com/sophos-connect/sophos-connect/sinks/splunkhec"
	"github.com/sophos-connect/sophos-connect/sinks/stdout"
	"github.com/sophos-connect/sophos-connect/sinks/syslog"
)

// Stability of a sink type, as its README states it: stable (local, or
// tested against the real peer in CI; keys and defaults are kept), beta
// (tested against an in-repo server built from the vendor's documentation;
// keys may still change), alpha (new; may change or go).
const (
	Stable = "stable"
	Beta   = "beta"
	Alpha  = "alpha"
)

// Factory builds one sink type and says what the collector needs to know
// about it without naming it.
type Factory struct {
	Type string
	Doc  string
	// Folder is the sink's package folder under sinks/ (txt and json share
	// file/); its testdata/config.yaml holds an example of every type in it.
	Folder string
	// Stability is Stable, Beta or Alpha.
	Stability string
	// Local is true for a sink whose output stays on this machine (files,
	// standard output): distributed mode refuses it.
	Local bool
	// Defaults returns the sink's config struct with its defaults (for the
	// config schema).
	Defaults func() any
	build    func(c config.Component, prefix string, log *slog.Logger, env Env) (pipeline.Sink, string, error)
	paths    func(c config.Component) []string
}

// Env is what a sink takes from the rest of the config.
type Env struct {
	// FileMode is the top-level file_mode: the mode of the files a sink
	// creates unless its own file_mode says otherwise.
	FileMode config.FileMode
}

// Table lists every sink type.
var Table = []Factory{
	local(entry("txt", "file", Stable, "a line file: one record per line (the seed's bracketed lines by default; any line format)",
		file.DefaultTxtConfig, file.NewTxt, func(c file.TxtConfig) string {
			return fmt.Sprintf("path=%s format=%s%s", c.Path, encoding.FormatDesc(c.Format, encoding.Options{OCSF: c.OCSF, LEEF: c.LEEF}), c.Rotate)
		},
		writes(func(c *file.TxtConfig) ([]string, *config.FileMode) { return []string{c.Path}, &c.FileMode }))),
	local(entry("json", "file", Stable, "a JSON file: the seed's array file (layout: array) or NDJSON (layout: lines)",
		file.DefaultJSONConfig, file.NewJSON, func(c file.JSONConfig) string {
			def := "as received"
			if c.Layout == "lines" {
				def = "raw"
			}
			return fmt.Sprintf("path=%s layout=%s format=%s%s", c.Path, c.Layout, encoding.FormatDesc(orDefault(c.Format, def), encoding.Options{OCSF: c.OCSF}), c.Rotate)
		},
		writes(func(c *file.JSONConfig) ([]string, *config.FileMode) { return []string{c.Path}, &c.FileMode }))),
	local(entry("stdout", "stdout", Stable, "standard output, one line per record",
		stdout.DefaultConfig, stdout.New, func(c stdout.Config) string {
			return "format=" + encoding.FormatDesc(c.Format, encoding.Options{OCSF: c.OCSF, LEEF: c.LEEF})
		})),
	entry("syslog", "syslog", Stable, "syslog over udp, tcp, tcp+tls, relp (acknowledged), relp+tls or a unix socket (RFC 3164 or 5424)",
		syslog.DefaultConfig, syslog.New, func(c syslog.Config) string { return c.Describe() }),
	entry("kafka", "kafka", Stable, "Kafka topics (segmentio/kafka-go), keyed by record id",
		kafka.DefaultConfig, kafka.New, func(c kafka.Config) string {
			return fmt.Sprintf("brokers=%s topic=%s key=%s format=%s acks=%s compression=%s topic_missing_timeout=%s", strings.Join(c.Brokers, ","), c.Topic, c.Key, encoding.FormatDesc(c.Format, c.Options), c.RequiredAcks, c.Compression, c.TopicMissingTimeout)
		}),
	entry("elasticsearch", "elasticsearch", Stable, "Elasticsearch _bulk, idempotent by _id (go-elasticsearch v8)",
		elasticsearch.DefaultConfig, elasticsearch.New, func(c elasticsearch.Config) string {
			c.Resolve()
			var hosts []string
			for _, a := range c.Addresses {
				if u, err := url.Parse(a); err == nil && u.User != nil {
					u.User = nil
					a = u.String()
				}
				hosts = append(hosts, a)
			}
			addr := strings.Join(hosts, ",")
			if c.CloudID != "" {
				addr = "cloud_id"
			}
			if addr == "" {
				addr = elasticsearch.DefaultAddress
			}
			return fmt.Sprintf("addresses=%s index=%s op_type=%s format=%s id_mode=%s compression=%s %s", addr, c.Index, c.OpType, c.Format, c.IDMode,
				compressionDesc(orDefault(c.Compression, "gzip"), max(c.CompressionLevel, httpout.DefaultCompressionLevel)), concurrencyDesc(c.RequestConcurrency()))
		}),
	entry("opensearch", "opensearch", Stable, "OpenSearch _bulk (Wazuh indexer, Graylog, Amazon OpenSearch), idempotent by _id (opensearch-go)",
		opensearch.DefaultConfig, opensearch.New, func(c opensearch.Config) string {
			var hosts []string
			for _, a := range c.Addresses {
				if u, err := url.Parse(a); err == nil && u.User != nil {
					u.User = nil
					a = u.String()
				}
				hosts = append(hosts, a)
			}
			return fmt.Sprintf("addresses=%s index=%s op_type=%s format=%s compression=%s %s", strings.Join(hosts, ","), c.Index, c.OpType, c.Format,
				compressionDesc(orDefault(c.Compression, "gzip"), max(c.CompressionLevel, httpout.DefaultCompressionLevel)), concurrencyDesc(c.RequestConcurrency()))
		}),
	entry("splunk_hec", "splunkhec", Beta, "Splunk HTTP Event Collector, with optional indexer acknowledgement",
		splunkhec.DefaultConfig, splunkhec.New, func(c splunkhec.Config) string {
			return fmt.Sprintf("url=%s index=%s sourcetype=%s source=%s format=%s compression=%s max_bytes=%d %s ack=%v ack_timeout=%s",
				c.URL, orDefault(c.Index, "(token default)"), c.Sourcetype, c.Source, encoding.FormatDesc(c.Format, c.Options), compressionDesc(c.Compression, c.CompressionLevel), c.MaxBytes, c.Request.Describe(), c.Ack, c.AckTimeout)
		}),
	entry("sentinel", "sentinel", Beta, "Microsoft Sentinel through the Azure Monitor Logs Ingestion API (a DCR stream)",
		sentinel.DefaultConfig, sentinel.New, func(c sentinel.Config) string {
			return fmt.Sprintf("endpoint=%s dcr=%s stream=%s format=%s compression=%s max_bytes=%d %s tenant_id=%s client_id=%s",
				c.Endpoint, c.DCRImmutableID, c.Stream, encoding.FormatDesc(c.Format, encoding.Options{}), compressionDesc(c.Compression, c.CompressionLevel), c.MaxBytes, c.Request.Describe(), c.TenantID, c.ClientID)
		}),
	entry("otlp", "otlp", Beta, "OpenTelemetry logs over OTLP/HTTP (protobuf or JSON): the Collector, Grafana Alloy, Datadog, Honeycomb, …",
		otlp.DefaultConfig, otlp.New, func(c otlp.Config) string {
			var hdrs []string
			for k := range c.Headers {
				hdrs = append(hdrs, k)
			}
			sort.Strings(hdrs)
			return fmt.Sprintf("url=%s encoding=%s format=%s compression=%s auth=%s headers=%s service_name=%s max_bytes=%d max_records=%d %s",
				redactURL(c.URL()), c.Encoding, c.Format, c.Compression, orDefault(c.Auth.Type, "none"), orDefault(strings.Join(hdrs, ","), "-"), c.ServiceName, c.MaxBytes, c.MaxRecords, c.Request.Describe())
		}),
	entry("google_secops", "googlesecops", Beta, "Google SecOps (Chronicle): raw entries of log type SOPHOS_CENTRAL through logs.import (or the v2 batchCreate), as a service account",
		googlesecops.DefaultConfig, googlesecops.New, func(c googlesecops.Config) string {
			return fmt.Sprintf("url=%s api=%s log_type=%s format=%s max_bytes=%d %s token_url=%s",
				c.URL(), c.API, c.LogType, encoding.FormatDesc(c.Format, c.Options), c.MaxBytes, c.Request.Describe(), c.TokenURL)
		}),
	entry("s3", "s3", Beta, "objects in Amazon S3 or any S3-compatible store: NDJSON (gzip) or Parquet of OCSF, the Amazon Security Lake layout",
		s3.DefaultConfig, s3.New, func(c s3.Config) string {
			where := orDefault(c.Endpoint, "aws")
			return fmt.Sprintf("bucket=%s endpoint=%s region=%s layout=%s object=%s format=%s max_bytes=%d max_records=%d max_age=%s %s role_arn=%s",
				c.Bucket, redactURL(where), orDefault(c.Region, "(AWS chain)"), c.Layout, c.Object, encoding.FormatDesc(c.Format, c.Options), c.MaxBytes, c.MaxRecords, c.MaxAge, c.Request.Describe(), orDefault(c.RoleARN, "-"))
		}),
	entry("http", "httpsink", Beta, "any HTTP(S) receiver: NDJSON, JSON array or one request per record; basic, bearer or OAuth2 auth",
		httpsink.DefaultConfig, httpsink.New, func(c httpsink.Config) string {
			var hdrs []string
			for k := range c.Headers {
				hdrs = append(hdrs, k)
			}
			sort.Strings(hdrs)
			return fmt.Sprintf("url=%s method=%s body=%s format=%s compression=%s max_bytes=%d %s auth=%s headers=%s retry_on=%s reject_on=%s split_on=%s",
				redactURL(c.URL), c.Method, c.Body, encoding.FormatDesc(c.Format, c.Options), compressionDesc(c.Compression, c.CompressionLevel), c.MaxBytes, c.Request.Describe(), orDefault(c.Auth.Type, "none"), orDefault(strings.Join(hdrs, ","), "-"),
				strings.Join(c.RetryOn, ","), strings.Join(c.RejectOn, ","), strings.Join(c.SplitOn, ","))
		}),
}

// compressionDesc is compression for `validate`, with gzip's level.
func compressionDesc(compression string, level int) string {
	if compression == "gzip" {
		return fmt.Sprintf("gzip(level %d)", level)
	}
	return compression
}

// concurrencyDesc is request.concurrency for `validate`.
func concurrencyDesc(c httpout.Concurrency) string {
	return httpout.RequestConfig{Concurrency: c}.Describe()
}

// redactURL drops a query string (it may hold a key) from a URL for display.
func redactURL(a string) string {
	if u, err := url.Parse(a); err == nil && u.RawQuery != "" {
		u.RawQuery = "…"
		return u.String()
	}
	return a
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Types returns the sink type names.
func Types() []string {
	var out []string
	for _, f := range Table {
		out = append(out, f.Type)
	}
	sort.Strings(out)
	return out
}

// Lookup returns the factory of a sink type (nil for an unknown type).
func Lookup(typ string) *Factory {
	for i := range Table {
		if Table[i].Type == typ {
			return &Table[i]
		}
	}
	return nil
}

// Build decodes the component's keys, validates them and builds the sink.
// It returns a one-line description for `validate`.
func Build(c config.Component, prefix string, log *slog.Logger, env Env) (pipeline.Sink, string, error) {
	if f := Lookup(c.Type); f != nil {
		return f.build(c, prefix, log, env)
	}
	msg := fmt.Sprintf("unknown sink type %q: use one of %s", c.Type, strings.Join(Types(), ", "))
	if c.Type == "" {
		msg = "missing: every sink needs a type, one of " + strings.Join(Types(), ", ")
	}
	return nil, "", &config.FieldError{Line: c.Line, Key: prefix + ".type", Msg: msg}
}

// Paths lists the local files a sink component writes (none for network
// sinks and unknown types), as configured; errors in the component are
// left to Build.
func Paths(c config.Component) []string {
	if f := Lookup(c.Type); f != nil && f.paths != nil {
		return f.paths(c)
	}
	return nil
}

// keyError places a sink's Validate error at the line of its key
// (FieldError.Key, dotted for nested keys) — or, for a key the file lacks
// ("auth.client_id is needed"), at its nearest parent that is there — and
// names the whole key path under the component's prefix.
func keyError(node *yaml.Node, line int, prefix string, err error) error {
	var fe *config.FieldError
	if !errors.As(err, &fe) || fe.Key == "" {
		return &config.FieldError{Line: line, Key: prefix, Msg: err.Error()}
	}
	if kl := keyLine(node, fe.Key); kl > 0 {
		line = kl
	}
	return &config.FieldError{Line: line, Key: prefix + "." + fe.Key, Msg: fe.Msg}
}

// keyLine is the line of a dotted key in a mapping node, or of the deepest
// part of it that is there (0: none).
func keyLine(n *yaml.Node, key string) int {
	kl := 0
	for _, part := range strings.Split(key, ".") {
		if n == nil || n.Kind != yaml.MappingNode {
			return kl
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				kl, next = n.Content[i].Line, n.Content[i+1]
				break
			}
		}
		if next == nil {
			return kl
		}
		n = next
	}
	return kl
}

type validator[C any] interface {
	*C
	Validate() error
}

// option sets what a Factory says about its sink beyond building it.
type option[C any] func(f *Factory, o *entryOpts[C])

type entryOpts[C any] struct {
	writes func(*C) ([]string, *config.FileMode)
}

// local marks a sink whose output stays on this machine.
func local(f Factory) Factory {
	f.Local = true
	return f
}

// writes names the files a sink writes and its file_mode key (which
// defaults to the top-level file_mode).
func writes[C any](fn func(*C) ([]string, *config.FileMode)) option[C] {
	return func(_ *Factory, o *entryOpts[C]) { o.writes = fn }
}

// decode reads a component's keys over the defaults.
func decode[C any](comp config.Component, prefix string, cfg *C) (*yaml.Node, error) {
	node := comp.Node
	if node == nil && comp.Fields != nil {
		node = &yaml.Node{}
		if err := node.Encode(comp.Fields); err != nil {
			return nil, err
		}
	}
	if node == nil {
		return nil, nil
	}
	return node, config.DecodeStrict(node, cfg, prefix, config.CommonKeys...)
}

// entry adapts a sink package's Config/DefaultConfig/Validate/New to the table.
func entry[C any, PC validator[C], S pipeline.Sink](typ, folder, stability, doc string, def func() C, newFn func(string, C, *slog.Logger) (S, error), describe func(C) string, opts ...option[C]) Factory {
	f := Factory{Type: typ, Folder: folder, Stability: stability, Doc: doc, Defaults: func() any { return def() }}
	var o entryOpts[C]
	for _, opt := range opts {
		opt(&f, &o)
	}
	if o.writes != nil {
		f.paths = func(comp config.Component) []string {
			cfg := def()
			decode(comp, "", &cfg)
			paths, _ := o.writes(&cfg)
			var out []string
			for _, p := range paths {
				if p != "" {
					out = append(out, p)
				}
			}
			return out
		}
	}
	f.build = func(comp config.Component, prefix string, log *slog.Logger, env Env) (pipeline.Sink, string, error) {
		cfg := def()
		if o.writes != nil && env.FileMode != "" {
			_, mode := o.writes(&cfg)
			*mode = env.FileMode
		}
		// Every error at once: the keys and types, then the values of
		// whatever decoded, each at the line of its key.
		var errs config.Errors
		node, err := decode(comp, prefix, &cfg)
		if err != nil {
			errs = append(errs, err)
		}
		if err := PC(&cfg).Validate(); err != nil {
			// one error per bad value, each at the line of its key
			var list config.Errors
			if !errors.As(err, &list) {
				list = config.Errors{err}
			}
			for _, e := range list {
				errs = append(errs, keyError(node, comp.Line, prefix, e))
			}
		}
		if len(errs) > 0 {
			return nil, "", errs
		}
		s, err := newFn(comp.Name, cfg, log)
		if err != nil {
			return nil, "", &config.FieldError{Line: comp.Line, Key: prefix, Msg: err.Error()}
		}
		return s, describe(cfg), nil
	}
	return f
}
