package splunkhec

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

// Config is the splunk_hec sink's own keys (the pipeline handles name, type,
// streams, when, buffer, batch and retry).
type Config struct {
	// URL is the HEC base URL, e.g. https://splunk:8088 (the sink adds
	// /services/collector/event).
	URL string `yaml:"url"`
	// Token is the HEC token, sent as "Authorization: Splunk <token>".
	Token config.Secret `yaml:"token"`
	// Index is the target index; "" leaves it to the token's default index.
	Index string `yaml:"index"`
	// Sourcetype is the events' sourcetype; ${stream} expands to alert or
	// event. Default sophos:central:${stream}s (sophos:central:alerts and
	// sophos:central:events, the Sophos add-on's names).
	Sourcetype string `yaml:"sourcetype"`
	// Source is the events' source (default sophos-connect).
	Source string `yaml:"source"`
	// Host is the events' host; "" means the record's location (device
	// name), else this machine's host name.
	Host string `yaml:"host"`
	// Format is the event's encoding: raw (default), ecs or official-json
	// as a JSON object; cef, keyvalue or txt as a string.
	Format string `yaml:"format"`
	// Options are the encoders' options (cef_strict, ...).
	encoding.Options `yaml:",inline"`
	// Fields sends the tenant id and stream as indexed fields (default true).
	Fields *bool `yaml:"fields"`
	// Compression is gzip (default) or none.
	Compression string `yaml:"compression"`
	// CompressionLevel is gzip's level, 1 (fastest, the default) to 9
	// (smallest).
	CompressionLevel int `yaml:"compression_level"`
	// Request is the request block: concurrency (adaptive, the default, or
	// a fixed number of requests in flight).
	Request httpout.RequestConfig `yaml:"request"`
	// MaxBytes bounds one request body before compression (default 1MiB).
	MaxBytes config.ByteSize `yaml:"max_bytes"`
	// Ack turns on indexer acknowledgement: a record counts as delivered
	// only once Splunk says it is indexed (the token must have it enabled).
	Ack bool `yaml:"ack"`
	// AckTimeout is how long to wait for an acknowledgement before sending
	// the records again (default 5m).
	AckTimeout config.Duration `yaml:"ack_timeout"`
	// AckPollInterval is the longest pause between acknowledgement queries
	// (default 1s; the first come after 100ms, 200ms, … up to it).
	AckPollInterval config.Duration `yaml:"ack_poll_interval"`
	// TLS is the client TLS block (ca_file for a private CA, ...).
	TLS config.TLS `yaml:"tls"`
	// Timeout bounds each HTTP request (default 30s).
	Timeout config.Duration `yaml:"timeout"`
}

// Defaults.
const (
	DefaultSourcetype = "sophos:central:${stream}s"
	DefaultSource     = "sophos-connect"
	DefaultMaxBytes   = 1 << 20
	DefaultAckTimeout = 5 * time.Minute
	DefaultAckPoll    = time.Second
	DefaultTimeout    = 30 * time.Second
)

// DefaultConfig returns the defaults: sourcetype sophos:central:${stream}s,
// source sophos-connect, format raw, indexed fields on, gzip (level 1), 1 MiB
// requests (adaptive concurrency), no ack (ack_timeout 5m, polled every 1s), 30 s timeout.
func DefaultConfig() Config {
	on := true
	return Config{
		Sourcetype:       DefaultSourcetype,
		Source:           DefaultSource,
		Format:           "raw",
		Fields:           &on,
		Compression:      "gzip",
		CompressionLevel: httpout.DefaultCompressionLevel,
		MaxBytes:         DefaultMaxBytes,
		AckTimeout:       config.Duration(DefaultAckTimeout),
		AckPollInterval:  config.Duration(DefaultAckPoll),
		Timeout:          config.Duration(DefaultTimeout),
	}
}

// Validate checks the keys, naming each bad one and the fix.
func (c *Config) Validate() error {
	var errs config.Errors
	bad := func(key, format string, a ...any) {
		errs = append(errs, &config.FieldError{Key: key, Msg: fmt.Sprintf(format, a...)})
	}
	if c.URL == "" {
		bad("url", "missing: the HEC address, e.g. https://splunk.example:8088")
	} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("url", "%q is not an http(s) URL: write it like https://splunk.example:8088", httpout.RedactURL(c.URL))
	} else if u.User != nil {
		bad("url", "must not carry credentials: put the HEC token in token")
	}
	if c.Token == "" {
		bad("token", "missing: the HEC token (Settings → Data inputs → HTTP Event Collector), e.g. token: ${SPLUNK_HEC_TOKEN}")
	}
	if !slices.Contains(encoding.Formats, c.Format) {
		bad("format", "%q is not one of %s", c.Format, strings.Join(encoding.Formats, ", "))
	}
	if c.Compression != "gzip" && c.Compression != "none" {
		bad("compression", "%q is not gzip or none", c.Compression)
	}
	if fe := httpout.ValidateCompressionLevel(c.CompressionLevel); fe != nil {
		errs = append(errs, fe)
	}
	if c.MaxBytes < 1024 {
		bad("max_bytes", "%d is too small: use at least 1KiB (default 1MiB)", c.MaxBytes)
	}
	if c.Ack && c.AckTimeout < config.Duration(100*time.Millisecond) {
		bad("ack_timeout", "%s is too short: use at least 100ms (default 5m)", c.AckTimeout)
	}
	if c.Ack && (c.AckPollInterval <= 0 || c.AckPollInterval > c.AckTimeout) {
		bad("ack_poll_interval", "must be positive and at most ack_timeout (default 1s)")
	}
	errs = append(errs, httpout.ValidateClient(c.TLS, c.Timeout)...)
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// objectFormats encode a JSON object; the others a line of text.
var objectFormats = []string{"raw", "ecs", "official-json"}
