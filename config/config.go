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
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Default locations.
const (
	DefaultAuthURL = "https://id.sophos.com/api/v2/oauth2/token"
	DefaultAPIHost = "https://api.central.sophos.com"
	DefaultFile    = "sophos-connect.yaml"
)

// Config is the whole file.
type Config struct {
	Sophos Sophos `yaml:"sophos"`

	// The seed's keys, same names and defaults.
	PullTime           Duration `yaml:"pull_time"`
	Run                bool     `yaml:"run"`
	SaveFileLocation   string   `yaml:"save_file_location"`
	TxtFileCreation    bool     `yaml:"txt_file_creation"`
	JSONFileCreation   bool     `yaml:"json_file_creation"`
	AlertsTxtFileName  string   `yaml:"alerts_txt_file_name"`
	EventsTxtFileName  string   `yaml:"events_txt_file_name"`
	AlertsJSONFileName string   `yaml:"alerts_json_file_name"`
	EventsJSONFileName string   `yaml:"events_json_file_name"`
	LogLevel           string   `yaml:"log_level"`
	LogFileName        string   `yaml:"log_file_name"`
	// Rotate rotates the seed's txt and JSON files by size or age (default:
	// never; use logrotate instead, see examples/logrotate.conf).
	Rotate                      FileRotate `yaml:"rotate"`
	AlertsAutoAcknowledgeStatus bool       `yaml:"alerts_auto_acknowledge_status"`
	AlertsAutoAcknowledgeLevel  string     `yaml:"alerts_auto_acknowledge_level"`
	// Parsed by the seed but never acted on; accepted so old files load.
	EventsAutoAcknowledgeStatus bool   `yaml:"events_auto_acknowledge_status"`
	EventsAutoAcknowledgeLevel  string `yaml:"events_auto_acknowledge_level"`

	StateDir    string `yaml:"state_dir"`
	MetricsAddr string `yaml:"metrics_addr"`
	// Workers is how many Sophos API requests run at once: auto (the default)
	// adapts it to what the API allows (AIMD, up to max_workers); a number pins it.
	Workers Workers `yaml:"workers"`
	// MaxWorkers bounds automatic workers (default 64).
	MaxWorkers int `yaml:"max_workers"`
	// MaxInflightPages bounds memory: pages pulled but not yet committed
	// (default 0 = 4 × workers, or max_workers with workers: auto).
	MaxInflightPages int `yaml:"max_inflight_pages"`

	Sources    Sources     `yaml:"sources"`
	Transforms []Component `yaml:"transforms"`
	Sinks      []Component `yaml:"sinks"`

	// Cluster turns on distributed mode (keys in cluster/README.md); absent = one collector on its own.
	Cluster *Section `yaml:"cluster"`

	// File is the path the config was read from ("" for built-in defaults).
	File string `yaml:"-"`
	// Dir is the absolute directory of File: relative paths in the file
	// (state_dir, save_file_location, sink paths, TLS files) are resolved
	// against it, not against the working directory.
	Dir string `yaml:"-"`
	// unsetVars are ${VAR}s that were not set, for clearer messages.
	unsetVars map[string]string `yaml:"-"`
	root      *yaml.Node        `yaml:"-"`
}

// FileRotate is the seed's files' rotation, as a file sink's rotate: key.
type FileRotate struct {
	MaxBytes ByteSize `yaml:"max_bytes"` // start a new file before this size (0 = no limit)
	MaxAge   Duration `yaml:"max_age"`   // start a new file after this age (0 = no limit)
	Keep     int      `yaml:"keep"`      // rotated files kept (0 = all)
}

// Sophos holds the credentials and API locations.
type Sophos struct {
	ClientID              string   `yaml:"client_id"`
	ClientSecret          Secret   `yaml:"client_secret"`
	AuthURL               string   `yaml:"auth_url"`
	APIHost               string   `yaml:"api_host"`
	Tenants               []string `yaml:"tenants"`
	CAFile                string   `yaml:"ca_file"`
	FromDateOffsetMinutes int      `yaml:"from_date_offset_minutes"`
	Timeout               Duration `yaml:"timeout"`
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

// Sources enables and tunes the two SIEM streams.
type Sources struct {
	Alerts AlertsSource `yaml:"alerts"`
	Events EventsSource `yaml:"events"`
}

// AlertsSource configures /siem/v1/alerts.
type AlertsSource struct {
	Enabled bool `yaml:"enabled"`
}

// EventsSource configures /siem/v1/events.
type EventsSource struct {
	Enabled      bool     `yaml:"enabled"`
	Light        bool     `yaml:"light"`
	ExcludeTypes []string `yaml:"exclude_types"`
}

// Component is one entry of `transforms:` or `sinks:`. The keys every
// component shares are decoded here; the rest (Node) is decoded strictly by
// the component itself.
type Component struct {
	Name    string       `yaml:"name"`
	Type    string       `yaml:"type"`
	Streams []string     `yaml:"streams"`
	When    string       `yaml:"when"`
	Buffer  BufferConfig `yaml:"buffer"`
	Batch   BatchConfig  `yaml:"batch"`
	Retry   RetryConfig  `yaml:"retry"`

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
	Type     string   `yaml:"type"`      // memory (default) | disk
	MaxBytes ByteSize `yaml:"max_bytes"` // disk: cap (default 1GiB)
	WhenFull string   `yaml:"when_full"` // block (default) | drop_newest
}

// BatchConfig groups records into sink writes.
type BatchConfig struct {
	MaxEvents int      `yaml:"max_events"`
	Timeout   Duration `yaml:"timeout"`
}

// RetryConfig is the backoff for failed writes.
type RetryConfig struct {
	Initial     Duration `yaml:"initial"`
	Max         Duration `yaml:"max"`
	MaxAttempts int      `yaml:"max_attempts"`
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
	if len(errs) > 0 {
		return errs
	}
	*c = Component(p)
	c.Node = n
	c.Line = n.Line
	return nil
}

func decodeNested(n *yaml.Node, v any, key string) error {
	return DecodeStrict(n, v, key)
}

var lineRE = regexp.MustCompile(`^yaml: (unmarshal errors:\n\s*)?line \d+: `)

func stripLine(s string) string { return lineRE.ReplaceAllString(s, "") }

// Defaults returns the configuration with the seed's defaults.
func Defaults() Config {
	return Config{
		Sophos: Sophos{AuthURL: DefaultAuthURL, APIHost: DefaultAPIHost, Timeout: Duration(30 * time.Second)},

		PullTime:                   Duration(10 * time.Second),
		Run:                        true,
		TxtFileCreation:            true,
		JSONFileCreation:           false,
		AlertsTxtFileName:          "sophos_alerts",
		EventsTxtFileName:          "sophos_events",
		AlertsJSONFileName:         "sophos_alerts.json",
		EventsJSONFileName:         "sophos_events.json",
		LogLevel:                   "INFO",
		LogFileName:                "Sophos_log.log",
		AlertsAutoAcknowledgeLevel: "medium",
		EventsAutoAcknowledgeLevel: "medium",

		StateDir:   "./state",
		Workers:    WorkersAuto,
		MaxWorkers: DefaultMaxWorkers,
		Sources: Sources{
			Alerts: AlertsSource{Enabled: true},
			Events: EventsSource{Enabled: true},
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
	return DefaultFile
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
			return nil, prefixFile(name, yamlSyntaxError(err))
		}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		// An empty file is the defaults.
		c.resolvePaths(configDir(name))
		c.applyEnv()
		return &c, prefixFile(name, c.Validate())
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, prefixFile(name, &FieldError{Line: root.Line, Msg: "the file must be a mapping of keys (e.g. `sophos:`, `sinks:`)"})
	}
	c.unsetVars = expandEnv(root)
	c.root = root
	if err := DecodeStrict(root, &c, ""); err != nil {
		return nil, prefixFile(name, err)
	}
	c.resolvePaths(configDir(name))
	c.applyEnv()
	return &c, prefixFile(name, c.Validate())
}

// applyEnv lets SOPHOS_CLIENT_ID / SOPHOS_CLIENT_SECRET override the file.
func (c *Config) applyEnv() {
	if v := os.Getenv("SOPHOS_CLIENT_ID"); v != "" {
		c.Sophos.ClientID = v
	}
	if v := os.Getenv("SOPHOS_CLIENT_SECRET"); v != "" {
		c.Sophos.ClientSecret = Secret(v)
	}
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

// prefixFile turns "line: key: reason" errors into "file:line: key: reason".
func prefixFile(file string, err error) error {
	if err == nil {
		return nil
	}
	var list Errors
	if !errors.As(err, &list) {
		list = Errors{err}
	}
	out := make(Errors, 0, len(list))
	for _, e := range list {
		var nested Errors
		if errors.As(e, &nested) && len(nested) > 0 && fmt.Sprint(nested) != fmt.Sprint(list) {
			out = append(out, prefixFile(file, nested).(Errors)...)
			continue
		}
		var fe *FieldError
		if errors.As(e, &fe) && fe.Line > 0 {
			out = append(out, fmt.Errorf("%s:%s", file, fe.Error()))
		} else {
			out = append(out, fmt.Errorf("%s: %s", file, e.Error()))
		}
	}
	return out
}

// envRE matches ${VAR} and ${VAR:-default}. ${stream}, ${tenant} (record
// placeholders) and ${env:NAME} (the fields stage's own syntax) are not
// environment variables and are left alone.
var envRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandEnv expands variables in every scalar value, in place, and returns
// the variables that were unset (name → the key's line, for messages).
func expandEnv(n *yaml.Node) map[string]string {
	unset := map[string]string{}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
			n.Value = envRE.ReplaceAllStringFunc(n.Value, func(m string) string {
				sub := envRE.FindStringSubmatch(m)
				name := sub[1]
				if name == "stream" || name == "tenant" {
					return m
				}
				if v, ok := os.LookupEnv(name); ok && v != "" {
					return v
				}
				if sub[2] != "" {
					return sub[3]
				}
				unset[name] = fmt.Sprint(n.Line)
				return ""
			})
			// An expanded value is data, not YAML: keep it a string unless
			// the tag was explicit.
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return unset
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
