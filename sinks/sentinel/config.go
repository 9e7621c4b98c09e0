package sentinel

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
)

// Config is the sentinel sink's own keys (the pipeline handles name, type,
// streams, when, buffer, batch and retry).
type Config struct {
	// TenantID is the Microsoft Entra tenant (directory) id of the app.
	TenantID string `yaml:"tenant_id"`
	// ClientID is the app registration's application (client) id.
	ClientID string `yaml:"client_id"`
	// ClientSecret is the app's client secret value.
	ClientSecret config.Secret `yaml:"client_secret"`
	// Endpoint is the logs ingestion URL of the DCR (kind Direct) or of a
	// data collection endpoint, e.g. https://my-dce.westeurope-1.ingest.monitor.azure.com.
	Endpoint string `yaml:"endpoint"`
	// DCRImmutableID is the data collection rule's immutable id (dcr-…).
	DCRImmutableID string `yaml:"dcr_immutable_id"`
	// Stream is the DCR input stream (default Custom-SophosCentral_CL).
	Stream string `yaml:"stream"`
	// Format is the row shape: sentinel (default, the columns of
	// examples/sentinel-dcr.json), asim_alert (ASIM Alert Event rows, the
	// columns of examples/sentinel-dcr-asim.json, read by the parser
	// ASimAlertEventSophosCentral), or raw, ecs, official-json, ocsf for a
	// DCR of your own.
	Format string `yaml:"format"`
	// Compression is gzip (default) or none.
	Compression string `yaml:"compression"`
	// CompressionLevel is gzip's level, 1 (fastest, the default) to 9
	// (smallest).
	CompressionLevel int `yaml:"compression_level"`
	// Request is the request block: concurrency (adaptive, the default, or
	// a fixed number of calls in flight).
	Request httpout.RequestConfig `yaml:"request"`
	// MaxBytes bounds one call's uncompressed body (default 1000000; the
	// API takes at most 1 MiB).
	MaxBytes config.ByteSize `yaml:"max_bytes"`
	// AuthorityHost is Entra ID's login host (default
	// https://login.microsoftonline.com; sovereign clouds differ).
	AuthorityHost string `yaml:"authority_host"`
	// Scope is the token scope (default https://monitor.azure.com//.default).
	Scope string `yaml:"scope"`
	// TLS is the client TLS block (for a proxy's CA, ...).
	TLS config.TLS `yaml:"tls"`
	// Timeout bounds each HTTP request (default 30s).
	Timeout config.Duration `yaml:"timeout"`
}

// Defaults.
const (
	DefaultStream        = "Custom-SophosCentral_CL"
	DefaultMaxBytes      = 1_000_000
	APILimit             = 1 << 20
	DefaultAuthorityHost = "https://login.microsoftonline.com"
	DefaultScope         = "https://monitor.azure.com//.default"
	DefaultTimeout       = 30 * time.Second
	APIVersion           = "2023-01-01"
)

// Formats are the row shapes.
var Formats = []string{"sentinel", "asim_alert", "raw", "ecs", "official-json", "ocsf"}

// DefaultConfig returns the defaults: stream Custom-SophosCentral_CL, format
// sentinel, gzip, 1,000,000-byte calls, Entra ID's public cloud, scope
// https://monitor.azure.com//.default, 30 s timeout.
func DefaultConfig() Config {
	return Config{
		Stream:           DefaultStream,
		Format:           "sentinel",
		Compression:      "gzip",
		CompressionLevel: httpout.DefaultCompressionLevel,
		MaxBytes:         DefaultMaxBytes,
		AuthorityHost:    DefaultAuthorityHost,
		Scope:            DefaultScope,
		Timeout:          config.Duration(DefaultTimeout),
	}
}

var (
	guidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	dcrRe  = regexp.MustCompile(`^dcr-[0-9a-fA-F]{32}$`)
)

// Validate checks the keys, naming each bad one and the fix.
func (c *Config) Validate() error {
	var errs config.Errors
	bad := func(key, format string, a ...any) {
		errs = append(errs, &config.FieldError{Key: key, Msg: fmt.Sprintf(format, a...)})
	}
	if !guidRe.MatchString(c.TenantID) {
		bad("tenant_id", "%q is not a tenant id: the Directory (tenant) ID of the app registration, a GUID", c.TenantID)
	}
	if !guidRe.MatchString(c.ClientID) {
		bad("client_id", "%q is not a client id: the Application (client) ID of the app registration, a GUID", c.ClientID)
	}
	if c.ClientSecret == "" {
		bad("client_secret", "missing: the client secret's Value (not its ID), e.g. client_secret: ${AZURE_CLIENT_SECRET}")
	}
	if c.Endpoint == "" {
		bad("endpoint", "missing: the DCR's (or DCE's) logs ingestion endpoint, e.g. https://my-dce.westeurope-1.ingest.monitor.azure.com")
	} else if u, err := url.Parse(c.Endpoint); err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		bad("endpoint", "%q is not an https base URL: the logs ingestion endpoint without a path or query (the sink adds /dataCollectionRules/…?api-version=…)", httpout.RedactURL(c.Endpoint))
	} else if u.User != nil {
		bad("endpoint", "must not carry credentials: the API authenticates with client_id and client_secret")
	}
	if !dcrRe.MatchString(c.DCRImmutableID) {
		bad("dcr_immutable_id", "%q is not a DCR immutable id (dcr- and 32 hex digits, shown in the DCR's JSON view)", c.DCRImmutableID)
	}
	if !strings.HasPrefix(c.Stream, "Custom-") && !strings.HasPrefix(c.Stream, "Microsoft-") {
		bad("stream", "%q is not a DCR stream name: custom streams are Custom-<name>, e.g. Custom-SophosCentral_CL", c.Stream)
	}
	if !slices.Contains(Formats, c.Format) {
		bad("format", "%q is not one of %s", c.Format, strings.Join(Formats, ", "))
	}
	if c.Compression != "gzip" && c.Compression != "none" {
		bad("compression", "%q is not gzip or none", c.Compression)
	}
	if fe := httpout.ValidateCompressionLevel(c.CompressionLevel); fe != nil {
		errs = append(errs, fe)
	}
	if c.MaxBytes < 1024 || c.MaxBytes > APILimit {
		bad("max_bytes", "%d is out of range: 1KiB to 1MiB (the API's limit per call; default 1000000)", c.MaxBytes)
	}
	if u, err := url.Parse(c.AuthorityHost); err != nil || u.Scheme != "https" || u.Host == "" {
		bad("authority_host", "%q is not an https URL (default %s)", httpout.RedactURL(c.AuthorityHost), DefaultAuthorityHost)
	} else if u.User != nil {
		bad("authority_host", "must not carry credentials: the token request sends client_id and client_secret")
	}
	if c.Scope == "" {
		bad("scope", "missing (default %s)", DefaultScope)
	}
	errs = append(errs, httpout.ValidateClient(c.TLS, c.Timeout)...)
	if len(errs) > 0 {
		return errs
	}
	return nil
}
