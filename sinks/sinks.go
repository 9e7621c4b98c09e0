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
	"github.com/sophos-connect/sophos-connect/sinks/file"
	"github.com/sophos-connect/sophos-connect/sinks/httpsink"
	"github.com/sophos-connect/sophos-connect/sinks/kafka"
	"github.com/sophos-connect/sophos-connect/sinks/opensearch"
	"github.com/sophos-connect/sophos-connect/sinks/otlp"
	"github.com/sophos-connect/sophos-connect/sinks/sentinel"
	"github.com/sophos-connect/sophos-connect/sinks/splunkhec"
	"github.com/sophos-connect/sophos-connect/sinks/stdout"
	"github.com/sophos-connect/sophos-connect/sinks/syslog"
)

// Factory builds one sink type.
type Factory struct {
	Type string
	Doc  string
	// Defaults returns the sink's config struct with its defaults (for the
	// config schema).
	Defaults func() any
	build    func(c config.Component, prefix string, log *slog.Logger) (pipeline.Sink, string, error)
}

// Table lists every sink type.
var Table = []Factory{
	entry("txt", "a line file: one record per line (the seed's bracketed lines by default; any line format)",
		file.DefaultTxtConfig, file.NewTxt, func(c file.TxtConfig) string { return fmt.Sprintf("path=%s format=%s%s", c.Path, c.Format, c.Rotate) }),
	entry("json", "a JSON file: the seed's array file (layout: array) or NDJSON (layout: lines)",
		file.DefaultJSONConfig, file.NewJSON, func(c file.JSONConfig) string {
			def := "as received"
			if c.Layout == "lines" {
				def = "raw"
			}
			return fmt.Sprintf("path=%s layout=%s format=%s%s", c.Path, c.Layout, orDefault(c.Format, def), c.Rotate)
		}),
	entry("stdout", "standard output, one line per record",
		stdout.DefaultConfig, stdout.New, func(c stdout.Config) string { return "format=" + c.Format }),
	entry("syslog", "syslog over udp, tcp, tcp+tls, relp (acknowledged), relp+tls or a unix socket (RFC 3164 or 5424)",
		syslog.DefaultConfig, syslog.New, func(c syslog.Config) string { return c.Describe() }),
	entry("kafka", "Kafka topics (segmentio/kafka-go), keyed by record id",
		kafka.DefaultConfig, kafka.New, func(c kafka.Config) string {
			return fmt.Sprintf("brokers=%s topic=%s key=%s format=%s acks=%s compression=%s topic_missing_timeout=%s", strings.Join(c.Brokers, ","), c.Topic, c.Key, c.Format, c.RequiredAcks, c.Compression, c.TopicMissingTimeout)
		}),
	entry("elasticsearch", "Elasticsearch _bulk, idempotent by _id (go-elasticsearch v8)",
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
			return fmt.Sprintf("addresses=%s index=%s op_type=%s format=%s id_mode=%s", addr, c.Index, c.OpType, c.Format, c.IDMode)
		}),
	entry("opensearch", "OpenSearch _bulk (Wazuh indexer, Graylog, Amazon OpenSearch), idempotent by _id (opensearch-go)",
		opensearch.DefaultConfig, opensearch.New, func(c opensearch.Config) string {
			var hosts []string
			for _, a := range c.Addresses {
				if u, err := url.Parse(a); err == nil && u.User != nil {
					u.User = nil
					a = u.String()
				}
				hosts = append(hosts, a)
			}
			return fmt.Sprintf("addresses=%s index=%s op_type=%s format=%s", strings.Join(hosts, ","), c.Index, c.OpType, c.Format)
		}),
	entry("splunk_hec", "Splunk HTTP Event Collector, with optional indexer acknowledgement",
		splunkhec.DefaultConfig, splunkhec.New, func(c splunkhec.Config) string {
			return fmt.Sprintf("url=%s index=%s sourcetype=%s source=%s format=%s compression=%s max_bytes=%d ack=%v ack_timeout=%s",
				c.URL, orDefault(c.Index, "(token default)"), c.Sourcetype, c.Source, c.Format, c.Compression, c.MaxBytes, c.Ack, c.AckTimeout)
		}),
	entry("sentinel", "Microsoft Sentinel through the Azure Monitor Logs Ingestion API (a DCR stream)",
		sentinel.DefaultConfig, sentinel.New, func(c sentinel.Config) string {
			return fmt.Sprintf("endpoint=%s dcr=%s stream=%s format=%s compression=%s max_bytes=%d tenant_id=%s client_id=%s",
				c.Endpoint, c.DCRImmutableID, c.Stream, c.Format, c.Compression, c.MaxBytes, c.TenantID, c.ClientID)
		}),
	entry("otlp", "OpenTelemetry logs over OTLP/HTTP (protobuf or JSON): the Collector, Grafana Alloy, Datadog, Honeycomb, …",
		otlp.DefaultConfig, otlp.New, func(c otlp.Config) string {
			var hdrs []string
			for k := range c.Headers {
				hdrs = append(hdrs, k)
			}
			sort.Strings(hdrs)
			return fmt.Sprintf("url=%s encoding=%s format=%s compression=%s auth=%s headers=%s service_name=%s max_bytes=%d max_records=%d",
				redactURL(c.URL()), c.Encoding, c.Format, c.Compression, orDefault(c.Auth.Type, "none"), orDefault(strings.Join(hdrs, ","), "-"), c.ServiceName, c.MaxBytes, c.MaxRecords)
		}),
	entry("http", "any HTTP(S) receiver: NDJSON, JSON array or one request per record; basic, bearer or OAuth2 auth",
		httpsink.DefaultConfig, httpsink.New, func(c httpsink.Config) string {
			var hdrs []string
			for k := range c.Headers {
				hdrs = append(hdrs, k)
			}
			sort.Strings(hdrs)
			return fmt.Sprintf("url=%s method=%s body=%s format=%s compression=%s max_bytes=%d auth=%s headers=%s retry_on=%s reject_on=%s split_on=%s",
				redactURL(c.URL), c.Method, c.Body, c.Format, c.Compression, c.MaxBytes, orDefault(c.Auth.Type, "none"), orDefault(strings.Join(hdrs, ","), "-"),
				strings.Join(c.RetryOn, ","), strings.Join(c.RejectOn, ","), strings.Join(c.SplitOn, ","))
		}),
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

// Build decodes the component's keys, validates them and builds the sink.
// It returns a one-line description for `validate`.
func Build(c config.Component, prefix string, log *slog.Logger) (pipeline.Sink, string, error) {
	for _, f := range Table {
		if f.Type == c.Type {
			return f.build(c, prefix, log)
		}
	}
	return nil, "", &config.FieldError{Line: c.Line, Key: prefix + ".type", Msg: fmt.Sprintf("unknown sink type %q: use one of %s", c.Type, strings.Join(Types(), ", "))}
}

// keyError places a component's Validate error ("key: reason" or
// "key.sub: reason") at the line of that key when the node has it, else at
// the component's line.
func keyError(node *yaml.Node, line int, prefix string, err error) error {
	msg := err.Error()
	k, rest, ok := strings.Cut(msg, ": ")
	if ok && node != nil && !strings.ContainsAny(k, " \t") {
		n := node
		kl := 0
		for _, part := range strings.Split(k, ".") {
			if n == nil || n.Kind != yaml.MappingNode {
				kl = 0
				break
			}
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part {
					kl, next = n.Content[i].Line, n.Content[i+1]
					break
				}
			}
			if next == nil {
				kl = 0
				break
			}
			n = next
		}
		if kl > 0 {
			return &config.FieldError{Line: kl, Key: prefix + "." + k, Msg: rest}
		}
	}
	return &config.FieldError{Line: line, Key: prefix, Msg: msg}
}

type validator[C any] interface {
	*C
	Validate() error
}

// entry adapts a sink package's Config/DefaultConfig/Validate/New to the table.
func entry[C any, PC validator[C], S pipeline.Sink](typ, doc string, def func() C, newFn func(string, C, *slog.Logger) (S, error), describe func(C) string) Factory {
	return Factory{Type: typ, Doc: doc, Defaults: func() any { return def() }, build: func(comp config.Component, prefix string, log *slog.Logger) (pipeline.Sink, string, error) {
		cfg := def()
		node := comp.Node
		if node == nil && comp.Fields != nil {
			node = &yaml.Node{}
			if err := node.Encode(comp.Fields); err != nil {
				return nil, "", err
			}
		}
		// Every error at once: the keys and types, then the values of
		// whatever decoded, each at the line of its key.
		var errs config.Errors
		if node != nil {
			if err := config.DecodeStrict(node, &cfg, prefix, config.CommonKeys...); err != nil {
				errs = append(errs, err)
			}
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
	}}
}
