// Package config reads the sophos-connect YAML file: the seed's keys with
// their defaults, the Sophos credentials, sources, transform stages and sinks.
// Decoding is strict — an unknown key, a wrong type or a bad value is an
// error naming the file, the line and the key — and ${VAR} / ${VAR:-default}
// are expanded from the environment.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/internal/redact"
)

// Default locations.
const (
	DefaultAuthURL = "https://id.sophos.com/api/v2/oauth2/token"
	DefaultAPIHost = "https://api.central.sophos.com"
	DefaultFile    = "sophos-connect.yaml"
)

// Config is the whole file.
type Config struct {
	// Sophos is the Sophos Central API credential and where to reach it.
	Sophos Sophos `yaml:"sophos"`

	// The seed's keys follow, with the seed's names and defaults.

	// PullTime is the pause between passes, in seconds or as a duration (default 10).
	PullTime Duration `yaml:"pull_time"`
	// Run is re-read every pass: false makes a running collector finish the pass and exit (default true).
	Run bool `yaml:"run"`
	// SaveFileLocation is the directory of the seed's txt/json files and log file (default: beside the config file).
	SaveFileLocation string `yaml:"save_file_location"`
	// TxtFileCreation writes the seed's txt files, one line per record (default true).
	TxtFileCreation bool `yaml:"txt_file_creation"`
	// JSONFileCreation writes the seed's JSON array files (default false).
	JSONFileCreation bool `yaml:"json_file_creation"`
	// AlertsTxtFileName is the seed's alerts txt file in save_file_location (default sophos_alerts).
	AlertsTxtFileName string `yaml:"alerts_txt_file_name"`
	// EventsTxtFileName is the seed's events txt file in save_file_location (default sophos_events).
	EventsTxtFileName string `yaml:"events_txt_file_name"`
	// AlertsJSONFileName is the seed's alerts JSON file in save_file_location (default sophos_alerts.json).
	AlertsJSONFileName string `yaml:"alerts_json_file_name"`
	// EventsJSONFileName is the seed's events JSON file in save_file_location (default sophos_events.json).
	EventsJSONFileName string `yaml:"events_json_file_name"`
	// DetectionsTxtFileName is the detections txt file in save_file_location, in the seed's bracketed layout (default sophos_detections).
	DetectionsTxtFileName string `yaml:"detections_txt_file_name"`
	// CasesTxtFileName is the cases txt file in save_file_location, in the seed's bracketed layout (default sophos_cases).
	CasesTxtFileName string `yaml:"cases_txt_file_name"`
	// DetectionsJSONFileName is the detections JSON array file in save_file_location (default sophos_detections.json).
	DetectionsJSONFileName string `yaml:"detections_json_file_name"`
	// CasesJSONFileName is the cases JSON array file in save_file_location (default sophos_cases.json).
	CasesJSONFileName string `yaml:"cases_json_file_name"`
	// LogLevel is OFF, ERROR, INFO (alias LOG), LOG+ (each pull) or VERBOSE (each record and request); default INFO.
	LogLevel string `yaml:"log_level" enum:"OFF,ERROR,INFO,LOG,LOG+,VERBOSE"`
	// LogFormat is seed (the seed's "[System Log dd/mm/YYYY HH:MM:SS] …" lines, the default) or json (one JSON object per line: time in RFC 3339 UTC, level, msg and attributes such as tenant, sink, stream; -log-format overrides it).
	LogFormat string `yaml:"log_format" enum:"seed,json"`
	// LogFileName is the seed's log file, in save_file_location unless absolute (default Sophos_log.log).
	LogFileName string `yaml:"log_file_name"`
	// Rotate rotates the seed's txt and JSON files by size or age (default:
	// never; use logrotate instead, see examples/logrotate.conf).
	Rotate FileRotate `yaml:"rotate"`
	// AlertsAutoAcknowledgeStatus acknowledges delivered alerts in Sophos Central, for good (default false).
	AlertsAutoAcknowledgeStatus bool `yaml:"alerts_auto_acknowledge_status"`
	// AlertsAutoAcknowledgeLevel acknowledges only alerts at or below this severity: low, medium or high (default medium).
	AlertsAutoAcknowledgeLevel string `yaml:"alerts_auto_acknowledge_level" enum:"low,medium,high"`
	// EventsAutoAcknowledgeStatus was parsed by the seed but never acted on; accepted so old files load.
	EventsAutoAcknowledgeStatus bool `yaml:"events_auto_acknowledge_status"`
	// EventsAutoAcknowledgeLevel was parsed by the seed but never acted on; accepted so old files load.
	EventsAutoAcknowledgeLevel string `yaml:"events_auto_acknowledge_level"`

	// StateDir holds the checkpoints, the dead-letter file and disk buffers; locked by one collector at a time (default ./state, beside the config file).
	StateDir string `yaml:"state_dir"`
	// MetricsAddr serves the status page, /status.json, /metrics, /healthz and /readyz, e.g. 127.0.0.1:9464 (default off).
	MetricsAddr string `yaml:"metrics_addr"`
	// MetricsAuth protects every route of metrics_addr but /healthz and /readyz with HTTP Basic or a bearer token read from a file (default none: keep metrics_addr on loopback).
	MetricsAuth MetricsAuth `yaml:"metrics_auth"`
	// Workers is how many Sophos API requests run at once: auto (the default)
	// adapts it to what the API allows (AIMD, up to max_workers); a number pins it.
	Workers Workers `yaml:"workers"`
	// MaxWorkers bounds automatic workers (default 64).
	MaxWorkers int `yaml:"max_workers"`
	// MaxInflightPages bounds memory: pages pulled but not yet committed
	// (default 0 = 4 × workers, or max_workers with workers: auto).
	MaxInflightPages int `yaml:"max_inflight_pages"`
	// FileMode is the permission of new output files and the log file (the seed's txt/json files and every txt/json sink without its own file_mode), octal (default 0640).
	FileMode FileMode `yaml:"file_mode"`
	// DeadLetter tunes state_dir/dead-letter.ndjson.
	DeadLetter DeadLetterConfig `yaml:"dead_letter"`
	// GapRecords sends a record of type sophos-connect:gap to every sink when a span of a stream fell out of the API's 24 h window, so the SIEM shows the hole (default true).
	GapRecords bool `yaml:"gap_records"`
	// Reconcile turns on a periodic reconciliation against Sophos Central (what `sophos-connect reconcile` does) while the collector runs.
	Reconcile ReconcileConfig `yaml:"reconcile"`

	// Sources enables and tunes the alerts and events streams.
	Sources Sources `yaml:"sources"`
	// Transforms are the ordered stages every record passes (filter, fields, dedupe).
	Transforms []Component `yaml:"transforms"`
	// Sinks are the destinations; each record goes to every sink whose streams and when it matches.
	Sinks []Component `yaml:"sinks"`

	// Cluster turns on distributed mode (keys in cluster/README.md); absent = one collector on its own.
	Cluster *Section `yaml:"cluster"`

	// File is the path the config was read from ("" for built-in defaults).
	File string `yaml:"-"`
	// Dir is the absolute directory of File: relative paths in the file
	// (state_dir, save_file_location, sink paths, TLS files) are resolved
	// against it, not against the working directory.
	Dir string `yaml:"-"`
	// SecretSources says where each secret came from (validate prints it).
	SecretSources []SecretSource `yaml:"-"`
	// SecretFiles are the *_file files read (a reload compares them too).
	SecretFiles []string `yaml:"-"`
	// unsetVars are ${VAR}s that were not set, for clearer messages.
	unsetVars map[string]string `yaml:"-"`
	root      *yaml.Node        `yaml:"-"`
}

// DeadLetterConfig tunes the dead-letter file.
type DeadLetterConfig struct {
	// MaxBytes rotates dead-letter.ndjson to dead-letter-<UTC time>.ndjson at this size; rotated files are kept (default 100MiB, 0 = never rotate).
	MaxBytes ByteSize `yaml:"max_bytes"`
}

// ReconcileConfig is the periodic reconciliation.
type ReconcileConfig struct {
	// Every is how often to reconcile, e.g. 1h (default 0: never; the reconcile command works either way).
	Every Duration `yaml:"every"`
	// Since is the window each reconciliation checks, at most 24h (default 24h).
	Since Duration `yaml:"since"`
}

// FileRotate is the seed's files' rotation, as a file sink's rotate: key.
type FileRotate struct {
	MaxBytes ByteSize `yaml:"max_bytes"` // start a new file before this size (0 = no limit)
	MaxAge   Duration `yaml:"max_age"`   // start a new file after this age (0 = no limit)
	Keep     int      `yaml:"keep"`      // rotated files kept (0 = all)
}

// Sophos holds the credentials and API locations.
type Sophos struct {
	// ClientID is the API credential's client id ($SOPHOS_CLIENT_ID overrides it).
	ClientID string `yaml:"client_id"`
	// ClientSecret is the API credential's secret ($SOPHOS_CLIENT_SECRET overrides it; never printed).
	ClientSecret Secret `yaml:"client_secret"`
	// AuthURL is the token endpoint (default https://id.sophos.com/api/v2/oauth2/token).
	AuthURL string `yaml:"auth_url"`
	// APIHost is the global API host for whoami and the tenant list (default https://api.central.sophos.com).
	APIHost string `yaml:"api_host"`
	// Tenants limits partner or organization credentials to these tenant ids or names (default: every tenant).
	Tenants []string `yaml:"tenants"`
	// CAFile adds a CA bundle for the Sophos API's TLS (a proxy that inspects TLS).
	CAFile string `yaml:"ca_file"`
	// TrustedHosts adds host patterns ("gw.example.com", "*.example.com"; "http://host:port" for plain http) that hosts named by API responses may match to receive the bearer token (default: *.sophos.com and api_host's own host).
	TrustedHosts []string `yaml:"trusted_hosts"`
	// FromDateOffsetMinutes asks the SIEM API to serve only items older than this many minutes, so items that become visible late (behind the cursor's watermark) are not skipped (default 5; the official script's 0 loses them).
	FromDateOffsetMinutes int `yaml:"from_date_offset_minutes"`
	// Timeout bounds one API request (default 30s).
	Timeout Duration `yaml:"timeout"`
	// MaxPageBytes bounds one API response body after decompression (default 32MiB; 1MiB to 1GiB): a larger one fails that request with an error.
	MaxPageBytes ByteSize `yaml:"max_page_bytes"`
	// Streams chooses the streams to pull: alerts, events, detections, cases (default: the sources whose enabled is true, i.e. alerts and events). When set it decides alone.
	Streams []string `yaml:"streams"`
}

// MetricsAuth is the status server's authentication.
type MetricsAuth struct {
	// Type is basic or bearer (default none).
	Type string `yaml:"type"`
	// Username is the Basic user name.
	Username string `yaml:"username"`
	// PasswordFile holds the Basic password (read at start; a trailing newline is dropped).
	PasswordFile string `yaml:"password_file"`
	// TokenFile holds the bearer token (read at start; a trailing newline is dropped).
	TokenFile string `yaml:"token_file"`
}

// Secret is a string that never prints: fmt, logs and `validate` show
// "[redacted]".
type Secret string

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString hides the value from %#v too.
func (s Secret) GoString() string { return s.String() }

// MarshalYAML keeps secrets out of printed configs.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalJSON keeps secrets out of JSON output.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// LogValue keeps secrets out of structured logs.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Value is the secret itself, for the one place that sends it.
func (s Secret) Value() string { return string(s) }

// UnmarshalYAML registers the value with the redactor the moment it is
// read, so no output can show it, whichever component holds it.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	var v string
	if err := n.Decode(&v); err != nil {
		return err
	}
	*s = Secret(v)
	redact.Add(v)
	return nil
}

// registerURLSecrets hands the credentials written inside URLs (userinfo,
// query values such as a HEC ?token=) to the redactor: every scalar that
// looks like a URL or a user:pass@host address.
func registerURLSecrets(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode {
		if strings.Contains(n.Value, "://") || strings.Contains(n.Value, "@") {
			redact.AddURL(n.Value)
		}
		return
	}
	for _, c := range n.Content {
		registerURLSecrets(c)
	}
}

// Sources enables and tunes the streams: the two SIEM streams and the XDR
// detections and cases.
type Sources struct {
	// Alerts is the /siem/v1/alerts stream.
	Alerts AlertsSource `yaml:"alerts"`
	// Events is the /siem/v1/events stream.
	Events EventsSource `yaml:"events"`
	// Detections is the XDR detections stream (the asynchronous detections query).
	Detections DetectionsSource `yaml:"detections"`
	// Cases is the XDR/MDR cases stream (/cases/v1/cases).
	Cases CasesSource `yaml:"cases"`
}

// DetectionsSource configures the detections stream.
type DetectionsSource struct {
	// Enabled pulls this stream (default false; sophos.streams or -x turn it on too).
	Enabled bool `yaml:"enabled"`
	// Overlap re-reads this much before the last window's end, for detections that arrive late; repeats are dropped by id (default 10m).
	Overlap Duration `yaml:"overlap"`
	// MaxWindow is the longest window one query asks for; a longer gap is split into windows of this size (default 6h).
	MaxWindow Duration `yaml:"max_window"`
	// Lookback is where a tenant without a checkpoint starts, back from now (default 24h; -since overrides it).
	Lookback Duration `yaml:"lookback"`
	// PageSize is the results page size, 1 to 2000 (default 1000).
	PageSize int `yaml:"page_size"`
	// PollTimeout bounds the wait for one query run to finish before it is re-issued (default 5m).
	PollTimeout Duration `yaml:"poll_timeout"`
}

// CasesSource configures the cases stream.
type CasesSource struct {
	// Enabled pulls this stream (default false; sophos.streams or -x turn it on too).
	Enabled bool `yaml:"enabled"`
	// Window is how far back createdAfter reaches; every poll re-reads it and forwards a case only when its (id, updatedAt) is new (default 720h, 30 days).
	Window Duration `yaml:"window"`
	// PageSize is the first page size asked for, lowered on a 400 (default 50; the API's cap is not documented).
	PageSize int `yaml:"page_size"`
	// Detections attaches each forwarded case's detections (with their MITRE mapping) as a "detections" list (one more request per forwarded case; default false).
	Detections bool `yaml:"detections"`
	// MaxRemembered bounds the (id, updatedAt) memory per tenant, kept in the checkpoint apart from any dedupe stage (default 10000, 16 bytes each; beyond it the oldest-created cases are forgotten and re-sent when read again).
	MaxRemembered int `yaml:"max_remembered"`
}

// EnabledStreams is the streams to pull, by their plural names in the
// canonical order: sophos.streams when set, else the sources' enabled flags.
func (c *Config) EnabledStreams() []string {
	want := map[string]bool{}
	if c.Sophos.Streams != nil {
		for _, s := range c.Sophos.Streams {
			switch strings.ToLower(strings.TrimSpace(s)) {
			case "alert", "alerts":
				want["alerts"] = true
			case "event", "events":
				want["events"] = true
			case "detection", "detections":
				want["detections"] = true
			case "case", "cases":
				want["cases"] = true
			}
		}
	} else {
		want["alerts"] = c.Sources.Alerts.Enabled
		want["events"] = c.Sources.Events.Enabled
		want["detections"] = c.Sources.Detections.Enabled
		want["cases"] = c.Sources.Cases.Enabled
	}
	var out []string
	for _, s := range []string{"alerts", "events", "detections", "cases"} {
		if want[s] {
			out = append(out, s)
		}
	}
	return out
}

// validateXDR checks the detections and cases keys.
func (s Sources) validateXDR(fe func(string, ...string) *FieldError) Errors {
	var errs Errors
	d, cs := s.Detections, s.Cases
	if d.Overlap.D() > 24*time.Hour {
		errs = append(errs, fe("must be at most 24h (default 10m)", "sources", "detections", "overlap"))
	}
	if d.MaxWindow.D() < time.Minute || d.MaxWindow.D() > 24*time.Hour {
		errs = append(errs, fe("must be 1m to 24h (default 6h)", "sources", "detections", "max_window"))
	} else if d.Overlap.D() >= d.MaxWindow.D() {
		errs = append(errs, fe(fmt.Sprintf("overlap %s must be shorter than max_window %s, or windows would never advance", d.Overlap, d.MaxWindow), "sources", "detections", "overlap"))
	}
	if d.Lookback.D() < time.Minute || d.Lookback.D() > 90*24*time.Hour {
		errs = append(errs, fe("must be 1m to 2160h (90 days; default 24h)", "sources", "detections", "lookback"))
	}
	if d.PageSize < 1 || d.PageSize > 2000 {
		errs = append(errs, fe("must be 1 to 2000 (default 1000)", "sources", "detections", "page_size"))
	}
	if d.PollTimeout.D() < time.Second || d.PollTimeout.D() > time.Hour {
		errs = append(errs, fe("must be 1s to 1h (default 5m)", "sources", "detections", "poll_timeout"))
	}
	if cs.Window.D() < time.Hour || cs.Window.D() > 366*24*time.Hour {
		errs = append(errs, fe("must be 1h to 8784h (default 720h, 30 days)", "sources", "cases", "window"))
	}
	if cs.PageSize < 1 || cs.PageSize > 5000 {
		errs = append(errs, fe("must be 1 to 5000 (default 50; lowered automatically on a 400)", "sources", "cases", "page_size"))
	}
	if cs.MaxRemembered < 100 || cs.MaxRemembered > 1_000_000 {
		errs = append(errs, fe("must be 100 to 1000000 (default 10000 per tenant, about 16 bytes each in the checkpoint)", "sources", "cases", "max_remembered"))
	}
	return errs
}

// AlertsSource configures /siem/v1/alerts.
type AlertsSource struct {
	// Enabled pulls this stream (default true; -a and -e choose on the command line).
	Enabled bool `yaml:"enabled"`
}

// EventsSource configures /siem/v1/events.
type EventsSource struct {
	// Enabled pulls this stream (default true; -a and -e choose on the command line).
	Enabled bool `yaml:"enabled"`
	// Light leaves out the official script's nine noisy event types, server side (default false).
	Light bool `yaml:"light"`
	// ExcludeTypes are event types the API leaves out (its exclude_types parameter).
	ExcludeTypes []string `yaml:"exclude_types"`
}

// Component is one entry of `transforms:` or `sinks:`. The keys every
// component shares are decoded here; the rest (Node) is decoded strictly by
// the component itself.
type Component struct {
	// Name identifies the entry in logs, metrics, the status page and the dead-letter file (default: its type and position).
	Name string `yaml:"name"`
	// Type selects the kind of stage or sink.
	Type string `yaml:"type"`
	// Streams limits the entry to alerts, events or both (default both).
	Streams []string `yaml:"streams"`
	// When routes only the records matching this condition to the sink (the filter language, e.g. severity >= medium).
	When string `yaml:"when"`
	// Buffer is where the sink's undelivered records wait: memory (back-pressure) or disk.
	Buffer BufferConfig `yaml:"buffer"`
	// Batch groups records into one write.
	Batch BatchConfig `yaml:"batch"`
	// Retry is the backoff between failed writes.
	Retry RetryConfig `yaml:"retry"`

	Node *yaml.Node `yaml:"-"` // the whole mapping, for the component's own keys
	Line int        `yaml:"-"`
	// Seed marks the file sinks made from the seed's keys.
	Seed bool `yaml:"-"`
	// Fields are extra component keys set in code (the seed's file sinks).
	Fields map[string]any `yaml:"-"`
}

// CommonKeys are the keys Component decodes itself: components skip them.
var CommonKeys = []string{"name", "type", "streams", "when", "buffer", "batch", "retry"}

// TransformCommonKeys are the keys of a transform entry the pipeline handles.
var TransformCommonKeys = []string{"name", "type", "streams"}

// BufferConfig selects where a sink's undelivered records wait.
type BufferConfig struct {
	Type     string   `yaml:"type" enum:"memory,disk"`            // memory (default) | disk
	MaxBytes ByteSize `yaml:"max_bytes"`                          // disk: cap (default 1GiB)
	WhenFull string   `yaml:"when_full" enum:"block,drop_newest"` // block (default) | drop_newest
	// Adopt names a sink that was renamed or removed: its disk buffer's
	// records are moved into this one at start instead of being abandoned.
	Adopt string `yaml:"adopt"`
}

// BatchConfig groups records into sink writes.
type BatchConfig struct {
	// MaxEvents is the most records in one write (default 1000, one SIEM page).
	MaxEvents int `yaml:"max_events"`
	// Timeout waits this long for a partial batch to fill (default 0: write what is there).
	Timeout Duration `yaml:"timeout"`
}

// RetryConfig is the backoff for failed writes.
type RetryConfig struct {
	// Initial is the first pause after a failed write, doubled each time (default 1s).
	Initial Duration `yaml:"initial"`
	// Max caps the pause (default 1m).
	Max Duration `yaml:"max"`
	// MaxAttempts dead-letters records after this many failed writes (default 0: retry until delivered).
	MaxAttempts int `yaml:"max_attempts"`
}

// UnmarshalYAML keeps the node and decodes the shared keys leniently: the
// component decodes the whole node strictly later.
func (c *Component) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return &FieldError{Line: n.Line, Msg: "expected a mapping with at least `type:`"}
	}
	type plain Component
	var p plain
	var errs Errors
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var err error
		switch k.Value {
		case "name":
			err = v.Decode(&p.Name)
		case "type":
			err = v.Decode(&p.Type)
		case "streams":
			err = v.Decode(&p.Streams)
		case "when":
			err = v.Decode(&p.When)
		case "buffer":
			err = decodeNested(v, &p.Buffer, "buffer")
		case "batch":
			err = decodeNested(v, &p.Batch, "batch")
		case "retry":
			err = decodeNested(v, &p.Retry, "retry")
		}
		if err != nil {
			var list Errors
			var fe *FieldError
			if errors.As(err, &list) {
				errs = append(errs, list...)
			} else if errors.As(err, &fe) {
				errs = append(errs, fe)
			} else {
				errs = append(errs, &FieldError{Line: v.Line, Key: k.Value, Msg: friendlyType(stripLine(err.Error()))})
			}
		}
	}
	// Keep what decoded even with errors: a bad batch value must not make
	// the sink look typeless and nameless in the errors that follow.
	*c = Component(p)
	c.Node = n
	c.Line = n.Line
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func decodeNested(n *yaml.Node, v any, key string) error {
	return DecodeStrict(n, v, key)
}

var lineRE = regexp.MustCompile(`^yaml: (unmarshal errors:\n\s*)?line \d+: `)

func stripLine(s string) string { return lineRE.ReplaceAllString(s, "") }

// DefaultFromDateOffsetMinutes is the SIEM API's serving delay the collector
// asks for. Items can become visible with a created_at a little in the past
// (behind a caught-up cursor's watermark); with 0, as the official script
// sends, those are never served. Five minutes covers the emulator's late
// arrivals (up to 2 min) with room, at the price of records arriving five
// minutes later (README: Late arrivals).
const DefaultFromDateOffsetMinutes = 5

// Defaults returns the configuration with the seed's defaults.
func Defaults() Config {
	return Config{
		Sophos: Sophos{AuthURL: DefaultAuthURL, APIHost: DefaultAPIHost, Timeout: Duration(30 * time.Second), FromDateOffsetMinutes: DefaultFromDateOffsetMinutes},

		PullTime:                   Duration(10 * time.Second),
		Run:                        true,
		TxtFileCreation:            true,
		JSONFileCreation:           false,
		AlertsTxtFileName:          "sophos_alerts",
		EventsTxtFileName:          "sophos_events",
		AlertsJSONFileName:         "sophos_alerts.json",
		EventsJSONFileName:         "sophos_events.json",
		DetectionsTxtFileName:      "sophos_detections",
		CasesTxtFileName:           "sophos_cases",
		DetectionsJSONFileName:     "sophos_detections.json",
		CasesJSONFileName:          "sophos_cases.json",
		LogLevel:                   "INFO",
		LogFormat:                  "seed",
		LogFileName:                "Sophos_log.log",
		AlertsAutoAcknowledgeLevel: "medium",
		EventsAutoAcknowledgeLevel: "medium",

		StateDir:   "./state",
		Workers:    WorkersAuto,
		MaxWorkers: DefaultMaxWorkers,
		DeadLetter: DeadLetterConfig{MaxBytes: 100 << 20},
		GapRecords: true,
		Sources: Sources{
			Alerts: AlertsSource{Enabled: true},
			Events: EventsSource{Enabled: true},
			Detections: DetectionsSource{Overlap: Duration(10 * time.Minute), MaxWindow: Duration(6 * time.Hour),
				Lookback: Duration(24 * time.Hour), PageSize: 1000, PollTimeout: Duration(5 * time.Minute)},
			Cases: CasesSource{Window: Duration(30 * 24 * time.Hour), PageSize: 50, MaxRemembered: 10000},
		},
	}
}

// Path resolves the config file: the flag, else $SOPHOS_CONNECT_CONFIG,
// else ./sophos-connect.yaml.
func Path(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if p := os.Getenv("SOPHOS_CONNECT_CONFIG"); p != "" {
		return p
	}
	return defaultPath()
}

// Load reads, expands and checks a config file. Every error is reported as
// "file:line: key: reason", all of them at once.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config file %s not found: create one (see examples/ or run `sophos-connect migrate sophos.conf` to convert the seed's file) or pass -c FILE", path)
		}
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, b)
}

// Parse is Load on bytes; name is used in messages.
func Parse(name string, data []byte) (*Config, error) {
	c := Defaults()
	c.File = name
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if err.Error() == "EOF" {
			doc = yaml.Node{}
		} else {
			return nil, PrefixFile(name, tabHint(yamlSyntaxError(err), data))
		}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		// An empty file is the defaults.
		c.resolvePaths(configDir(name))
		c.applyEnv()
		return &c, PrefixFile(name, c.Validate())
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, PrefixFile(name, &FieldError{Line: root.Line, Msg: "the file must be a mapping of keys (e.g. `sophos:`, `sinks:`)"})
	}
	origins := secretOrigins(root)
	if errs := expandEnv(root); len(errs) > 0 {
		return nil, PrefixFile(name, errs)
	}
	registerURLSecrets(root)
	c.root = root
	// Every error of the file at once: the keys and types, then the values
	// of whatever decoded. The config is returned with the errors so the
	// caller can check its components too (validate and run list them all).
	files, fromFiles, errs := readSecretFiles(root, configDir(name))
	c.SecretFiles, c.SecretSources = files, append(origins, fromFiles...)
	if err := DecodeStrict(root, &c, ""); err != nil {
		errs = append(errs, flatten(err)...)
	}
	c.resolvePaths(configDir(name))
	c.applyEnv()
	if err := c.Validate(); err != nil {
		errs = append(errs, flatten(err)...)
	}
	if len(errs) == 0 {
		return &c, nil
	}
	SortByLine(errs)
	return &c, PrefixFile(name, dedupErrors(errs))
}

func flatten(err error) Errors {
	var list Errors
	if asErrors(err, &list) {
		var out Errors
		for _, e := range list {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return Errors{err}
}

// dedupErrors drops an error reported twice (a type error is also a value
// the validation sees as missing).
func dedupErrors(errs Errors) Errors {
	seen := map[string]bool{}
	var out Errors
	for _, e := range errs {
		if s := e.Error(); !seen[s] {
			seen[s] = true
			out = append(out, e)
		}
	}
	return out
}

// SortByLine orders errors by the line of the key they name (stable; those
// without a line last).
func SortByLine(errs Errors) {
	line := func(e error) int {
		var fe *FieldError
		if asFieldError(e, &fe) && fe.Line > 0 {
			return fe.Line
		}
		return 1 << 30
	}
	sort.SliceStable(errs, func(i, j int) bool { return line(errs[i]) < line(errs[j]) })
}

// applyEnv lets SOPHOS_CLIENT_ID / SOPHOS_CLIENT_SECRET override the file.
func (c *Config) applyEnv() {
	if v := os.Getenv("SOPHOS_CLIENT_ID"); v != "" {
		c.Sophos.ClientID = v
	}
	if v := os.Getenv("SOPHOS_CLIENT_SECRET"); v != "" {
		c.Sophos.ClientSecret = Secret(v)
		redact.Add(v)
		src := SecretSource{Key: "sophos.client_secret", From: "environment variable SOPHOS_CLIENT_SECRET (overrides the file)"}
		for i, s := range c.SecretSources {
			if s.Key == src.Key {
				src.Line = s.Line
				c.SecretSources = append(c.SecretSources[:i], c.SecretSources[i+1:]...)
				break
			}
		}
		c.SecretSources = append(c.SecretSources, src)
	}
}

// tabHint names the cause when a syntax error's line is indented with a tab
// (YAML allows only spaces there, and yaml.v3 says only "found character
// that cannot start any token").
func tabHint(err error, data []byte) error {
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Line <= 0 {
		return err
	}
	lines := strings.Split(string(data), "\n")
	for _, n := range []int{fe.Line, fe.Line + 1} { // yaml.v3 may count from 0 here
		if n-1 >= len(lines) {
			continue
		}
		l := lines[n-1]
		indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if strings.Contains(indent, "\t") {
			fe.Line = n
			fe.Msg = "a tab in the indentation: YAML indents with spaces only (replace the tab with spaces) — " + fe.Msg
			return fe
		}
	}
	return err
}

func yamlSyntaxError(err error) error {
	m := strings.TrimPrefix(err.Error(), "yaml: ")
	if strings.HasPrefix(m, "line ") {
		rest := strings.TrimPrefix(m, "line ")
		if i := strings.Index(rest, ":"); i > 0 {
			var line int
			fmt.Sscanf(rest[:i], "%d", &line)
			return &FieldError{Line: line, Msg: "YAML syntax: " + strings.TrimSpace(rest[i+1:])}
		}
	}
	return &FieldError{Msg: "YAML syntax: " + m}
}

// PrefixFile puts the file name before every error of err, however deeply
// the lists nest: "file:line: key: msg", or "file: key: msg" without a line.
func PrefixFile(file string, err error) error {
	if err == nil {
		return nil
	}
	var out Errors
	var add func(err error)
	add = func(err error) {
		var list Errors
		if errors.As(err, &list) {
			for _, e := range list {
				add(e)
			}
			return
		}
		var fe *FieldError
		if errors.As(err, &fe) && fe.Line > 0 {
			out = append(out, fmt.Errorf("%s:%s", file, fe.Error()))
		} else {
			out = append(out, fmt.Errorf("%s: %s", file, err.Error()))
		}
	}
	add(err)
	return out
}

// envRE matches ${VAR} and ${VAR:-default}. ${stream}, ${tenant} (record
// placeholders) and ${env:NAME} (the fields stage's own syntax) are not
// environment variables and are left alone.
var envRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandEnv expands variables in every scalar value, in place. A ${VAR}
// that is unset and has no :-default is an error naming it and its line (an
// empty value would silently turn ${DATA}/sophos into /sophos), and so is
// ${…} in a key. ${VAR:-default} takes the default when VAR is unset or
// empty; a VAR set to "" without a default expands to "".
func expandEnv(n *yaml.Node) Errors {
	var errs Errors
	var walk func(n *yaml.Node, key string)
	walk = func(n *yaml.Node, key string) {
		join := func(k string) string {
			if key == "" {
				return k
			}
			return key + "." + k
		}
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				if strings.Contains(k.Value, "${") {
					errs = append(errs, &FieldError{Line: k.Line, Key: join(k.Value), Msg: "${…} is not allowed in a key: only values are expanded"})
				}
				walk(n.Content[i+1], join(k.Value))
			}
			return
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", key, i))
			}
			return
		}
		if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
			n.Value = envRE.ReplaceAllStringFunc(n.Value, func(m string) string {
				sub := envRE.FindStringSubmatch(m)
				name := sub[1]
				if name == "stream" || name == "tenant" {
					return m
				}
				v, ok := os.LookupEnv(name)
				switch {
				case ok && v != "":
					return v
				case sub[2] != "":
					return sub[3]
				case ok:
					return ""
				}
				errs = append(errs, &FieldError{Line: n.Line, Key: key, Msg: fmt.Sprintf("${%s} is not set: export %s, or give a default with ${%s:-value}", name, name, name)})
				return ""
			})
			// An expanded value is data, not YAML: keep it a string unless
			// the tag was explicit.
			return
		}
		for _, c := range n.Content {
			walk(c, key)
		}
	}
	walk(n, "")
	return errs
}

// InsecureTLS lists every "insecure_skip_verify: true" in the file as
// "key (line N)", for a WARN at start and a line in `validate`.
func (c *Config) InsecureTLS() []string {
	var out []string
	var walk func(n *yaml.Node, key string)
	walk = func(n *yaml.Node, key string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				path := k.Value
				if key != "" {
					path = key + "." + k.Value
				}
				if k.Value == "insecure_skip_verify" && v.Kind == yaml.ScalarNode {
					if b, err := strconv.ParseBool(v.Value); err == nil && b {
						out = append(out, fmt.Sprintf("%s (line %d)", path, k.Line))
					}
				}
				walk(v, path)
			}
		case yaml.SequenceNode:
			for i, e := range n.Content {
				walk(e, fmt.Sprintf("%s[%d]", key, i))
			}
		}
	}
	if c.root != nil {
		walk(c.root, "")
	}
	return out
}

// lineOf returns the line of the dotted key path in the file (0 if unknown).
func (c *Config) lineOf(path ...string) int {
	n := c.root
	line := 0
	for _, k := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return line
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				line = n.Content[i].Line
				next = n.Content[i+1]
				break
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

func (c *Config) fieldErr(msg string, path ...string) *FieldError {
	return &FieldError{Line: c.lineOf(path...), Key: strings.Join(path, "."), Msg: msg}
}

// ResolvePath makes a relative path relative to the config file's
// directory; absolute paths are kept.
func (c *Config) ResolvePath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}
