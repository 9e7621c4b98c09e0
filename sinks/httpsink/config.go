package httpsink

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
)

// Config is the http sink's own keys (the pipeline handles name, type,
// streams, when, buffer, batch and retry).
type Config struct {
	// URL is where records are sent (http or https).
	URL string `yaml:"url"`
	// Method is POST (default) or PUT.
	Method string `yaml:"method"`
	// Headers are extra request headers; values may be ${VAR} and are never
	// printed.
	Headers map[string]config.Secret `yaml:"headers"`
	// Auth authenticates the requests (default none).
	Auth Auth `yaml:"auth"`
	// Body is ndjson (default: one record per line), json_array (one JSON
	// array per request) or single (one request per record).
	Body string `yaml:"body"`
	// Format is the record's encoding (default raw); json_array needs a JSON
	// format (raw, ecs, official-json).
	Format string `yaml:"format"`
	// Options are the encoders' options (cef_strict, ...).
	encoding.Options `yaml:",inline"`
	// Compression is none (default) or gzip (Content-Encoding: gzip).
	Compression string `yaml:"compression"`
	// CompressionLevel is gzip's level, 1 (fastest, the default) to 9
	// (smallest).
	CompressionLevel int `yaml:"compression_level"`
	// Request is the request block: concurrency (adaptive, the default, or
	// a fixed number of requests in flight).
	Request httpout.RequestConfig `yaml:"request"`
	// MaxBytes bounds one request body before compression (default 1MiB).
	MaxBytes config.ByteSize `yaml:"max_bytes"`
	// RetryOn lists statuses (429) or classes (5xx) that are retried
	// (default 408, 429, 5xx).
	RetryOn []string `yaml:"retry_on"`
	// RejectOn lists statuses or classes that send the records to the
	// dead-letter file (default 4xx, after retry_on).
	RejectOn []string `yaml:"reject_on"`
	// SplitOn lists refusals that blame a record rather than the request:
	// the request is split until the record is alone, and only it is
	// rejected (default 400, 413, 422).
	SplitOn []string `yaml:"split_on"`
	// TLS is the client TLS block.
	TLS config.TLS `yaml:"tls"`
	// Timeout bounds each request (default 30s).
	Timeout config.Duration `yaml:"timeout"`
}

// Auth is the authentication block.
type Auth struct {
	// Type is none (default), basic, bearer or oauth2 (client credentials).
	Type string `yaml:"type"`
	// Username is the basic auth user.
	Username string `yaml:"username"`
	// Password is the basic auth password.
	Password config.Secret `yaml:"password"`
	// Token is the bearer token.
	Token config.Secret `yaml:"token"`
	// TokenURL is the OAuth2 token endpoint (oauth2).
	TokenURL string `yaml:"token_url"`
	// ClientID is the OAuth2 client id (oauth2).
	ClientID string `yaml:"client_id"`
	// ClientSecret is the OAuth2 client secret (oauth2).
	ClientSecret config.Secret `yaml:"client_secret"`
	// Scopes are the OAuth2 scopes requested (oauth2; default none).
	Scopes []string `yaml:"scopes"`
}

// DefaultConfig returns the defaults: POST, ndjson, format raw, no
// compression, 1 MiB requests, retry on 408/429/5xx, reject other 4xx,
// split on 400/413/422, 30 s timeout.
func DefaultConfig() Config {
	return Config{
		Method:           http.MethodPost,
		Body:             "ndjson",
		Format:           "raw",
		Compression:      "none",
		CompressionLevel: httpout.DefaultCompressionLevel,
		MaxBytes:         1 << 20,
		RetryOn:          []string{"408", "429", "5xx"},
		RejectOn:         []string{"4xx"},
		SplitOn:          []string{"400", "413", "422"},
		Timeout:          config.Duration(30 * time.Second),
	}
}

var objectFormats = []string{"raw", "ecs", "official-json"}

// Validate checks the keys, naming each bad one and the fix.
func (c *Config) Validate() error {
	var errs config.Errors
	bad := func(key, format string, a ...any) {
		errs = append(errs, &config.FieldError{Key: key, Msg: fmt.Sprintf(format, a...)})
	}
	if u, err := url.Parse(c.URL); c.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("url", "%q is not an http(s) URL, e.g. https://siem.example/ingest", httpout.RedactURL(c.URL))
	} else if u.User != nil {
		bad("url", "must not carry credentials: use auth (basic, bearer or oauth2)")
	}
	if c.Method != http.MethodPost && c.Method != http.MethodPut {
		bad("method", "%q is not POST or PUT", c.Method)
	}
	for k := range c.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") {
			bad("headers", "%q is not a header name", k)
		}
	}
	switch c.Body {
	case "ndjson", "single":
	case "json_array":
		if !slices.Contains(objectFormats, c.Format) {
			bad("format", "%q is not JSON: body json_array needs raw, ecs or official-json", c.Format)
		}
	default:
		bad("body", "%q is not ndjson, json_array or single", c.Body)
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
	for key, list := range map[string][]string{"retry_on": c.RetryOn, "reject_on": c.RejectOn, "split_on": c.SplitOn} {
		for _, s := range list {
			if _, err := parseStatus(s); err != nil {
				bad(key, "%v", err)
			}
		}
	}
	a := c.Auth
	switch a.Type {
	case "", "none":
	case "basic":
		if a.Username == "" {
			bad("auth.username", "missing for auth type basic")
		}
	case "bearer":
		if a.Token == "" {
			bad("auth.token", "missing for auth type bearer, e.g. token: ${SIEM_TOKEN}")
		}
	case "oauth2":
		if u, err := url.Parse(a.TokenURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("auth.token_url", "%q is not an http(s) URL: the authorization server's token endpoint", httpout.RedactURL(a.TokenURL))
		} else if u.User != nil {
			bad("auth.token_url", "must not carry credentials: use auth.client_id and auth.client_secret")
		}
		if a.ClientID == "" || a.ClientSecret == "" {
			bad("auth.client_id", "client_id and client_secret are needed for auth type oauth2")
		}
	default:
		bad("auth.type", "%q is not none, basic, bearer or oauth2", a.Type)
	}
	errs = append(errs, httpout.ValidateClient(c.TLS, c.Timeout)...)
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// statusMatch is one entry of retry_on/reject_on/split_on: an exact status,
// or a class (4xx) when exact is 0.
type statusMatch struct{ exact, class int }

func parseStatus(s string) (statusMatch, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if len(s) == 3 && strings.HasSuffix(s, "xx") && s[0] >= '1' && s[0] <= '5' {
		return statusMatch{class: int(s[0] - '0')}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 100 || n > 599 {
		return statusMatch{}, fmt.Errorf("%q is not an HTTP status (429) or class (5xx)", s)
	}
	return statusMatch{exact: n}, nil
}
