package googlesecops

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
)

// Config is the google_secops sink's own keys (the pipeline handles name,
// type, streams, when, buffer, batch and retry).
type Config struct {
	// API is v1alpha (default: the Chronicle API's logs.import) or v2 (the
	// older Ingestion API's unstructuredlogentries:batchCreate).
	API string `yaml:"api"`
	// Project is the Google Cloud project (id or number) the SecOps
	// instance is bound to; v1alpha only.
	Project string `yaml:"project"`
	// Region is the instance's region: us (default), eu (europe), or a
	// Google Cloud location such as europe-west2 or asia-southeast1.
	Region string `yaml:"region"`
	// CustomerID is the SecOps instance's customer id (a UUID, SIEM
	// Settings → Profile).
	CustomerID string `yaml:"customer_id"`
	// LogType is the SecOps log type (default SOPHOS_CENTRAL, which has a
	// maintained default parser for the raw Sophos Central JSON).
	LogType string `yaml:"log_type"`
	// Format is each entry's encoding (default raw: the API item as JSON,
	// what the SOPHOS_CENTRAL parser reads).
	Format string `yaml:"format"`
	// Options are the encoders' options (cef_strict, ...).
	encoding.Options `yaml:",inline"`
	// Credentials is the service account's JSON key (usually through
	// credentials_file: the key file downloaded from Google Cloud).
	Credentials config.Secret `yaml:"credentials"`
	// Endpoint overrides the regional base URL (https), e.g. a private
	// service connect address.
	Endpoint string `yaml:"endpoint"`
	// TokenURL is Google's OAuth 2.0 token endpoint (default
	// https://oauth2.googleapis.com/token); the key file's token_uri is
	// not followed, so the signed assertion goes only here.
	TokenURL string `yaml:"token_url"`
	// MaxBytes bounds one request's body (default 1000000; at most 1 MiB
	// for v2, 4 MiB for v1alpha).
	MaxBytes config.ByteSize `yaml:"max_bytes"`
	// Request is the request block: concurrency (adaptive, the default, or
	// a fixed number of requests in flight).
	Request httpout.RequestConfig `yaml:"request"`
	// TLS is the client TLS block (for a proxy's CA, ...).
	TLS config.TLS `yaml:"tls"`
	// Timeout bounds each request (default 30s).
	Timeout config.Duration `yaml:"timeout"`
}

// Defaults and limits.
const (
	DefaultLogType  = "SOPHOS_CENTRAL"
	DefaultRegion   = "us"
	DefaultMaxBytes = 1_000_000
	// V2Limit is the Ingestion API's batch limit (1 MB).
	V2Limit = 1 << 20
	// ImportLimit is the request size this sink allows for logs.import.
	ImportLimit     = 4 << 20
	DefaultTokenURL = "https://oauth2.googleapis.com/token"
	DefaultTimeout  = 30 * time.Second
	// ScopeChronicle is the OAuth scope of the Chronicle API (v1alpha).
	ScopeChronicle = "https://www.googleapis.com/auth/cloud-platform"
	// ScopeIngestion is the OAuth scope of the Ingestion API (v2).
	ScopeIngestion = "https://www.googleapis.com/auth/malachite-ingestion"
)

// DefaultConfig returns the defaults: logs.import (v1alpha), region us, log
// type SOPHOS_CENTRAL, format raw, 1,000,000-byte requests, Google's token
// endpoint, 30 s timeout.
func DefaultConfig() Config {
	return Config{
		API:      "v1alpha",
		Region:   DefaultRegion,
		LogType:  DefaultLogType,
		Format:   "raw",
		TokenURL: DefaultTokenURL,
		MaxBytes: DefaultMaxBytes,
		Timeout:  config.Duration(DefaultTimeout),
	}
}

// Regions are the SecOps regions: the multi-regions us and eu (europe) and
// the single-region locations, as the Chronicle API and the Ingestion API
// name them.
var Regions = []string{"us", "eu", "europe", "asia",
	"africa-south1", "asia-northeast1", "asia-south1", "asia-southeast1", "asia-southeast2", "australia-southeast1",
	"europe-central2", "europe-west12", "europe-west2", "europe-west3", "europe-west6", "europe-west9",
	"me-central1", "me-central2", "me-west1", "northamerica-northeast2", "southamerica-east1"}

// location is the region as the Chronicle API's path names it (europe →
// eu, asia → asia-southeast1).
func (c Config) location() string {
	switch c.Region {
	case "europe":
		return "eu"
	case "asia":
		return "asia-southeast1"
	}
	return c.Region
}

// BaseURL is where the requests go: endpoint, else the region's documented
// host — chronicle.<location>.rep.googleapis.com for v1alpha;
// malachiteingestion-pa.googleapis.com (us), europe-… (eu),
// <location>-… for v2.
func (c Config) BaseURL() string {
	if c.Endpoint != "" {
		return strings.TrimRight(c.Endpoint, "/")
	}
	loc := c.location()
	if c.API == "v2" {
		switch loc {
		case "us":
			return "https://malachiteingestion-pa.googleapis.com"
		case "eu":
			return "https://europe-malachiteingestion-pa.googleapis.com"
		}
		return "https://" + loc + "-malachiteingestion-pa.googleapis.com"
	}
	return "https://chronicle." + loc + ".rep.googleapis.com"
}

// URL is the ingestion method's full URL.
func (c Config) URL() string {
	if c.API == "v2" {
		return c.BaseURL() + "/v2/unstructuredlogentries:batchCreate"
	}
	return c.BaseURL() + "/v1alpha/" + c.LogTypePath() + "/logs:import"
}

// LogTypePath is the v1alpha log type resource:
// projects/{project}/locations/{location}/instances/{customer_id}/logTypes/{log_type}.
func (c Config) LogTypePath() string {
	return "projects/" + url.PathEscape(c.Project) + "/locations/" + url.PathEscape(c.location()) +
		"/instances/" + url.PathEscape(c.CustomerID) + "/logTypes/" + url.PathEscape(c.LogType)
}

// Scope is the OAuth scope the API wants.
func (c Config) Scope() string {
	if c.API == "v2" {
		return ScopeIngestion
	}
	return ScopeChronicle
}

var (
	uuidRe    = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	projectRe = regexp.MustCompile(`^([a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20})$`)
	logTypeRe = regexp.MustCompile(`^[A-Z0-9_]{1,64}$`)
)

// serviceAccount is the part of a service account JSON key the sink reads.
type serviceAccount struct {
	Type         string `json:"type"`
	ClientEmail  string `json:"client_email"`
	PrivateKey   string `json:"private_key"`
	PrivateKeyID string `json:"private_key_id"`
}

// parseKey checks the JSON key without echoing it.
func parseKey(b []byte) (serviceAccount, error) {
	var sa serviceAccount
	if err := json.Unmarshal(b, &sa); err != nil {
		return sa, fmt.Errorf("is not a JSON key file (%d bytes that do not parse as JSON): download the service account's key as JSON (IAM → Service accounts → Keys → Add key → JSON)", len(b))
	}
	if sa.Type != "service_account" {
		return sa, fmt.Errorf("is a %q credential, not a service account key: the sink signs in as a service account (type service_account)", sa.Type)
	}
	if sa.ClientEmail == "" || !strings.Contains(sa.PrivateKey, "PRIVATE KEY") {
		return sa, fmt.Errorf("lacks client_email or private_key: use the key file exactly as Google Cloud issued it")
	}
	return sa, nil
}

// Validate checks the keys, naming each bad one and the fix.
func (c *Config) Validate() error {
	var errs config.Errors
	bad := func(key, format string, a ...any) {
		errs = append(errs, &config.FieldError{Key: key, Msg: fmt.Sprintf(format, a...)})
	}
	switch c.API {
	case "v1alpha":
		if !projectRe.MatchString(c.Project) {
			bad("project", "%q is not a Google Cloud project id or number: the project bound to the SecOps instance (SIEM Settings → Profile), needed by api v1alpha", c.Project)
		}
	case "v2":
		if c.Project != "" {
			bad("project", "is for api v1alpha; the v2 Ingestion API names only the customer_id")
		}
	default:
		bad("api", "%q is not v1alpha (logs.import, default) or v2 (unstructuredlogentries:batchCreate)", c.API)
	}
	if !slices.Contains(Regions, c.Region) {
		bad("region", "%q is not a SecOps region: one of %s", c.Region, strings.Join(Regions, ", "))
	}
	if !uuidRe.MatchString(c.CustomerID) {
		bad("customer_id", "%q is not a customer id: the instance's Customer ID (a UUID) from SIEM Settings → Profile", c.CustomerID)
	}
	if !logTypeRe.MatchString(c.LogType) {
		bad("log_type", "%q is not a SecOps log type (upper case, digits and _, e.g. %s)", c.LogType, DefaultLogType)
	}
	if !slices.Contains(encoding.Formats, c.Format) {
		bad("format", "%q is not one of %s", c.Format, strings.Join(encoding.Formats, ", "))
	}
	if c.Credentials == "" {
		bad("credentials", "missing: the service account's JSON key, e.g. credentials_file: /etc/sophos-connect/secops-sa.json")
	} else if _, err := parseKey([]byte(c.Credentials.Value())); err != nil {
		bad("credentials", "%v", err)
	}
	if c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			bad("endpoint", "%q is not an https base URL without a path (leave it out to use the region's host)", httpout.RedactURL(c.Endpoint))
		} else if u.User != nil {
			bad("endpoint", "must not carry credentials: the sink signs in with the service account")
		}
	}
	if u, err := url.Parse(c.TokenURL); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		bad("token_url", "%q is not an https URL (default %s)", httpout.RedactURL(c.TokenURL), DefaultTokenURL)
	}
	limit := config.ByteSize(ImportLimit)
	if c.API == "v2" {
		limit = V2Limit
	}
	if c.MaxBytes < 1024 || c.MaxBytes > limit {
		bad("max_bytes", "%d is out of range: 1024 to %d bytes for api %s (default 1000000)", c.MaxBytes, limit, c.API)
	}
	if err := c.TLS.Validate(); err != nil {
		bad("tls", "%v", err)
	}
	if c.Timeout <= 0 {
		bad("timeout", "must be positive, e.g. 30s")
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}
