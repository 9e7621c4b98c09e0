// Package kafka is the Kafka sink: every record becomes one message, keyed by
// the record id (consumers dedupe on it), with stream, tenant, type and id
// headers, produced synchronously so that a record counts as delivered only
// once the brokers acknowledged it under required_acks.
package kafka

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/internal/kafkaconn"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
)

// Config is the sink's own keys (the pipeline handles name, type, streams,
// when, buffer, batch and retry).
type Config struct {
	// Brokers are the bootstrap brokers, host:port.
	Brokers []string `yaml:"brokers"`
	// Topic is a template: ${stream} and ${tenant} are expanded per record.
	Topic string `yaml:"topic"`
	// Key names the message key: id (default), tenant, type, stream, a dotted
	// path into the raw API item (data.endpoint_id), or "" for no key.
	Key string `yaml:"key"`
	// Format is the shared encoder of the message value (default raw).
	Format string `yaml:"format"`
	// Options are the encoders' options (cef_strict, ...).
	encoding.Options `yaml:",inline"`
	// Compression is none, gzip, snappy, lz4 or zstd.
	Compression string `yaml:"compression"`
	// RequiredAcks is none, one or all.
	RequiredAcks string `yaml:"required_acks"`
	// MaxInFlight bounds the produce requests one Write has outstanding.
	MaxInFlight int `yaml:"max_in_flight"`
	// BatchBytes bounds one partition's record batch in a produce request;
	// keep it under the brokers' message.max.bytes.
	BatchBytes config.ByteSize `yaml:"batch_bytes"`
	// WriteTimeout bounds one produce request, acknowledgement included.
	WriteTimeout config.Duration `yaml:"write_timeout"`
	// TopicMissingTimeout is how long records for a topic that does not exist are retried before they are dead-lettered (default 5m; 0 = at once).
	TopicMissingTimeout config.Duration `yaml:"topic_missing_timeout"`
	// TLS, when present (even empty), connects with TLS.
	TLS *config.TLS `yaml:"tls"`
	// SASL authenticates the connections when Mechanism is set.
	SASL SASL `yaml:"sasl"`
	// ClientID is sent to the brokers (quotas, broker logs).
	ClientID string `yaml:"client_id"`
}

// SASL is the authentication block, the same as the cluster block's
// (internal/kafkaconn).
type SASL = kafkaconn.SASL

// Defaults, also documented in DefaultConfig.
const (
	defaultBatchBytes   = 1000000 // under Kafka's default message.max.bytes (1048588)
	defaultWriteTimeout = 10 * time.Second
	defaultMaxInFlight  = 5
	// defaultTopicMissingTimeout leaves time to create a new tenant's topic
	// before its records are dead-lettered.
	defaultTopicMissingTimeout = 5 * time.Minute
)

// DefaultConfig is the SPEC's example: key id, raw values, snappy,
// acknowledged by all in-sync replicas.
func DefaultConfig() Config {
	return Config{
		Key:          "id",
		Format:       "raw",
		Compression:  "snappy",
		RequiredAcks: "all",
		MaxInFlight:  defaultMaxInFlight,
		BatchBytes:   defaultBatchBytes,
		WriteTimeout: config.Duration(defaultWriteTimeout),
		ClientID:     "sophos-connect",

		TopicMissingTimeout: config.Duration(defaultTopicMissingTimeout),
	}
}

// Compressions and Acks list the accepted values.
var (
	Compressions = []string{"none", "gzip", "snappy", "lz4", "zstd"}
	Acks         = []string{"none", "one", "all"}
)

// Validate checks every key and names the fix.
func (c *Config) Validate() error {
	var errs config.Errors
	add := func(key, format string, a ...any) {
		errs = append(errs, &config.FieldError{Key: key, Msg: fmt.Sprintf(format, a...)})
	}
	if len(c.Brokers) == 0 {
		add("brokers", "missing: list the bootstrap brokers as host:port, e.g. [127.0.0.1:9092]")
	}
	for i, b := range c.Brokers {
		host, port, err := net.SplitHostPort(b)
		if err != nil || host == "" {
			add(fmt.Sprintf("brokers[%d]", i), "%q is not host:port (e.g. kafka1.example:9092)", b)
			continue
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			add(fmt.Sprintf("brokers[%d]", i), "%q: port must be a number between 1 and 65535", b)
		}
	}
	if msg := checkTopic(c.Topic); msg != "" {
		add("topic", "%s", msg)
	}
	if _, err := parseKey(c.Key); err != nil {
		add("key", "%v", err)
	}
	if _, err := encoding.New(c.Format, c.Options); err != nil {
		add("format", "%v", err)
	}
	if _, ok := compressionOf(c.Compression); !ok {
		add("compression", "%q: use one of %s", c.Compression, strings.Join(Compressions, ", "))
	}
	if _, ok := acksOf(c.RequiredAcks); !ok {
		add("required_acks", "%q: use one of %s", c.RequiredAcks, strings.Join(Acks, ", "))
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > 64 {
		add("max_in_flight", "%d: must be between 1 and 64", c.MaxInFlight)
	}
	if c.BatchBytes < 1024 || c.BatchBytes > 64<<20 {
		add("batch_bytes", "%d: must be between 1KiB and 64MiB (and under the brokers' message.max.bytes, 1MB by default)", c.BatchBytes)
	}
	if c.WriteTimeout.D() < 100*time.Millisecond {
		add("write_timeout", "%s: must be at least 100ms", c.WriteTimeout)
	}
	if c.TopicMissingTimeout < 0 {
		add("topic_missing_timeout", "%s: must not be negative (0 dead-letters at once, default 5m)", c.TopicMissingTimeout)
	}
	if c.TLS != nil {
		if fe := c.TLS.Problem(); fe != nil {
			add("tls."+fe.Key, "%s", fe.Msg)
		}
	}
	for _, p := range c.SASL.Problems() {
		add("sasl."+p[0], "%s", p[1])
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// checkTopic returns why t cannot name Kafka topics, or "". The placeholders
// expand to "alert"/"event" and tenant ids (UUIDs), both legal.
func checkTopic(t string) string {
	if t == "" {
		return "missing: name the topic, e.g. sophos-${stream}"
	}
	lit := strings.NewReplacer("${stream}", "event", "${tenant}", "x").Replace(t)
	if len(lit) > 249 {
		return fmt.Sprintf("%q is longer than Kafka's 249 characters", t)
	}
	if lit == "." || lit == ".." {
		return fmt.Sprintf("%q is not a legal topic name", t)
	}
	for _, r := range lit {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Sprintf("%q: a topic may only contain letters, digits, '.', '_' and '-' (placeholders: ${stream}, ${tenant})", t)
		}
	}
	return ""
}

// LogValue keeps the password out of structured logs (slog would otherwise
// marshal the struct, secret included).
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Any("brokers", c.Brokers), slog.String("topic", c.Topic), slog.String("key", c.Key),
		slog.String("format", c.Format), slog.String("compression", c.Compression),
		slog.String("required_acks", c.RequiredAcks), slog.Int("max_in_flight", c.MaxInFlight),
		slog.Int64("batch_bytes", int64(c.BatchBytes)), slog.String("write_timeout", c.WriteTimeout.String()),
		slog.String("topic_missing_timeout", c.TopicMissingTimeout.String()),
		slog.Bool("tls", c.TLS != nil), slog.String("sasl", c.SASL.String()), slog.String("client_id", c.ClientID))
}

// topicTemplate parses the validated topic.
func (c *Config) topicTemplate() pipeline.Template { return pipeline.ParseTemplate(c.Topic) }
