package otlp

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

// Config is the otlp sink's own keys (the pipeline handles name, type,
// streams, when, buffer, batch and retry).
type Config struct {
	// Endpoint is the OTLP/HTTP receiver: a base URL (http://collector:4318;
	// the sink posts to <endpoint>/v1/logs) or a URL with a path, used as is.
	Endpoint string `yaml:"endpoint"`
	// Encoding is the request body: proto (default, application/x-protobuf)
	// or json (application/json, OTLP's JSON mapping).
	Encoding string `yaml:"encoding"`
	// Format is the encoding of each record in the LogRecord's body (default
	// raw: the API item as a JSON string).
	Format string `yaml:"format"`
	// Options are the encoders' options (cef_strict, ...).
	encoding.Options `yaml:",inline"`
	// Compression is gzip (default) or none.
	Compression string `yaml:"compression"`
	// Headers are extra request headers (e.g. an API key); values may be
	// ${VAR} and are never printed.
	Headers map[string]config.Secret `yaml:"headers"`
	// Auth is none (default), basic or bearer.
	Auth Auth `yaml:"auth"`
	// ServiceName is the resource attribute service.name (default
	// sophos-connect).
	ServiceName string `yaml:"service_name"`
	// ResourceAttributes are added to every resource (string values), e.g.
	// deployment.environment: prod.
	ResourceAttributes map[string]string `yaml:"resource_attributes"`
	// MaxBytes bounds one request before compression (default 4MiB).
	MaxBytes config.ByteSize `yaml:"max_bytes"`
	// MaxRecords bounds the records of one request (default 0: only
	// max_bytes). Small requests narrow down which records a
	// partial_success rejected (see README).
	MaxRecords int `yaml:"max_records"`
	// Request is the request block: concurrency (adaptive, the default, or
	// a fixed number of requests in flight).
	Request httpout.RequestConfig `yaml:"request"`
	// TLS is the client TLS block (https endpoints).
	TLS config.TLS `yaml:"tls"`
	// Timeout bounds each request (default 30s).
	Timeout config.Duration `yaml:"timeout"`
}

// Auth authenticates the requests.
type Auth struct {
	// Type is none (default), basic or bearer.
	Type string `yaml:"type"`
	// Username is the basic auth user.
	Username string `yaml:"username"`
	// Password is the basic auth password.
	Password config.Secret `yaml:"password"`
	// Token is the bearer token.
	Token config.Secret `yaml:"token"`
}

// Defaults.
const (
	DefaultMaxBytes    = 4 << 20
	DefaultServiceName = "sophos-connect"
	DefaultTimeout     = 30 * time.Second
	LogsPath           = "/v1/logs"
)

// DefaultConfig returns the defaults: protobuf, format raw, gzip, 4 MiB
// requests, service.name sophos-connect, 30 s timeout.
func DefaultConfig() Config {
	return Config{
		Encoding:    "proto",
		Format:      "raw",
		Compression: "gzip",
		ServiceName: DefaultServiceName,
		MaxBytes:    DefaultMaxBytes,
		Timeout:     config.Duration(DefaultTimeout),
	}
}

// URL is where the requests go: the endpoint plus /v1/logs when it has no
// path of its own.
func (c Config) URL() string {
	u, err := url.Parse(c.Endpoint)
	if err != nil || (u.Path != "" && u.Path != "/") {
		return c.Endpoint
	}
	u.Path = LogsPath
	return u.String()
}

// Validate checks the keys, naming each bad one and the fix.
func (c *Config) Validate() error {
	var errs config.Errors
	bad := func(key, format string, a ...any) {
		errs = append(errs, &config.FieldError{Key: key, Msg: fmt.Sprintf(format, a...)})
	}
	if u, err := url.Parse(c.Endpoint); c.Endpoint == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("endpoint", "%q is not an http(s) URL: the OTLP/HTTP receiver, e.g. http://otel-collector:4318 (the sink adds /v1/logs)", httpout.RedactURL(c.Endpoint))
	} else if u.User != nil {
		bad("endpoint", "must not carry credentials: use auth (basic or bearer) or headers")
	}
	if c.Encoding != "proto" && c.Encoding != "json" {
		bad("encoding", "%q is not proto or json", c.Encoding)
	}
	if !slices.Contains(encoding.Formats, c.Format) {
		bad("format", "%q is not one of %s", c.Format, strings.Join(encoding.Formats, ", "))
	}
	if c.Compression != "gzip" && c.Compression != "none" {
		bad("compression", "%q is not gzip or none", c.Compression)
	}
	for k := range c.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") {
			bad("headers", "%q is not a header name", k)
		}
		if strings.EqualFold(k, "Content-Type") || strings.EqualFold(k, "Content-Encoding") {
			bad("headers", "%s is set by the sink (encoding, compression)", k)
		}
	}
	switch c.Auth.Type {
	case "", "none":
	case "basic":
		if c.Auth.Username == "" {
			bad("auth.username", "missing for auth type basic")
		}
	case "bearer":
		if c.Auth.Token == "" {
			bad("auth.token", "missing for auth type bearer, e.g. token: ${OTLP_TOKEN}")
		}
	default:
		bad("auth.type", "%q is not none, basic or bearer (other schemes: set headers)", c.Auth.Type)
	}
	if c.ServiceName == "" {
		bad("service_name", "must not be empty (default %s)", DefaultServiceName)
	}
	for k := range c.ResourceAttributes {
		if k == "" || k == "service.name" || k == "sophos.tenant.id" {
			bad("resource_attributes", "%q cannot be set here (service.name is service_name; sophos.tenant.id is the record's tenant)", k)
		}
	}
	if c.MaxBytes < 1024 {
		bad("max_bytes", "%d is too small: use at least 1KiB (default 4MiB)", c.MaxBytes)
	}
	if c.MaxRecords < 0 {
		bad("max_records", "must be 0 (no limit) or positive")
	}
	errs = append(errs, httpout.ValidateClient(c.TLS, c.Timeout)...)
	if len(errs) > 0 {
		return errs
	}
	return nil
}
