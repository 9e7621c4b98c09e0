package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as a Go duration ("30s", "1m30s") or
// as a bare number of seconds (the seed's pull_time = 10).
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return &FieldError{Line: n.Line, Msg: fmt.Sprintf("invalid duration %q: use a number of seconds or a Go duration such as 30s, 5m, 25h (at most 8760h)", n.Value)}
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the Go duration form.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// MaxDuration bounds every duration in the file: longer is a typo (and
// would overflow timers).
const MaxDuration = 365 * 24 * time.Hour

// MaxByteSize bounds every size in the file (16 TiB).
const MaxByteSize = 16 << 40

// ParseDuration accepts "30s"-style durations and bare seconds ("10", "2.5"),
// from 0 to MaxDuration.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f < 0 {
			return 0, fmt.Errorf("negative duration")
		}
		if f > MaxDuration.Seconds() {
			return 0, fmt.Errorf("longer than %s", MaxDuration)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration")
	}
	if d > MaxDuration {
		return 0, fmt.Errorf("longer than %s", MaxDuration)
	}
	return d, nil
}

// ByteSize is a size in bytes written as a number or with a unit
// (KB, MB, GB = powers of 1000; KiB, MiB, GiB = powers of 1024).
type ByteSize int64

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return &FieldError{Line: n.Line, Msg: fmt.Sprintf("invalid size %q: use bytes or a unit such as 512KiB, 100MiB, 1GiB (at most 16TiB)", n.Value)}
	}
	*b = ByteSize(v)
	return nil
}

// MarshalYAML writes the size in bytes.
func (b ByteSize) MarshalYAML() (any, error) { return int64(b), nil }

// ParseByteSize parses "1048576", "100MiB", "1GB", "512 KiB".
func ParseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
	}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			mult = u.mult
			s = strings.TrimSpace(strings.TrimSuffix(s, u.suffix))
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f*float64(mult) > MaxByteSize {
		return 0, fmt.Errorf("invalid size")
	}
	return int64(f * float64(mult)), nil
}

// FileMode is a permission mode written in octal ("0640", "640").
type FileMode string

// DefaultFileMode is the mode of output files and the log: owner read/write,
// group read (a SIEM agent's group), nothing for others.
const DefaultFileMode = "0640"

// OrDefault is the value as written, or DefaultFileMode when empty.
func (m FileMode) OrDefault() string {
	if m == "" {
		return DefaultFileMode
	}
	return string(m)
}

// Mode parses the value ("" is DefaultFileMode).
func (m FileMode) Mode() (os.FileMode, error) {
	s := strings.TrimSpace(string(m))
	if s == "" {
		s = DefaultFileMode
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o777 {
		return 0, fmt.Errorf("file_mode %q: use an octal permission such as 0640 or 0600 (at most 0777)", string(m))
	}
	return os.FileMode(v), nil
}

// TLS is the client TLS block shared by every network component.
type TLS struct {
	// CAFile is a PEM bundle of CAs to trust besides the system's.
	CAFile string `yaml:"ca_file"`
	// CertFile is the client certificate (PEM), with key_file, for mutual TLS.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the client certificate's private key (PEM).
	KeyFile string `yaml:"key_file"`
	// ServerName is the name to verify the server's certificate against (default: the address's host).
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify turns certificate verification off (never in production; warned at start and by validate).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Validate checks that the files named exist, parse, and go together.
func (t TLS) Validate() error {
	if fe := t.Problem(); fe != nil {
		return fe
	}
	return nil
}

// Problem is Validate's finding with the key it is about (ca_file,
// cert_file, key_file), for a caller to put under its own prefix
// ("sinks[2].tls.ca_file") so the error keeps its line at any depth. The
// files are read and parsed as the run reads them: a CA bundle without a
// certificate, or a key that does not match its certificate, fails here
// rather than at the first connection.
func (t TLS) Problem() *FieldError {
	if (t.CertFile == "") != (t.KeyFile == "") {
		key := "cert_file"
		if t.KeyFile == "" {
			key = "key_file"
		}
		return &FieldError{Key: key, Msg: "cert_file and key_file must be given together"}
	}
	for _, f := range []struct{ key, path string }{{"ca_file", t.CAFile}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.ReadFile(f.path); err != nil {
			return &FieldError{Key: f.key, Msg: fmt.Sprintf("cannot read %s: %v", f.path, errors.Unwrap(err))}
		}
	}
	if t.CAFile != "" {
		pem, _ := os.ReadFile(t.CAFile)
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return &FieldError{Key: "ca_file", Msg: fmt.Sprintf("%s holds no PEM certificate (a CA bundle is one or more -----BEGIN CERTIFICATE----- blocks)", t.CAFile)}
		}
	}
	if t.CertFile != "" {
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			return &FieldError{Key: "cert_file", Msg: fmt.Sprintf("%s with %s: %v", t.CertFile, t.KeyFile, err)}
		}
	}
	return nil
}

// Config builds a *tls.Config: system roots plus ca_file, the client
// certificate when given, verification on unless insecure_skip_verify.
func (t TLS) Config() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca_file %s: no PEM certificates found", t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls cert_file/key_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// FieldError is a configuration error at a line of the YAML file. Load
// prefixes the file name, giving "file:line: key: reason".
type FieldError struct {
	Line int
	Key  string
	Msg  string
}

func (e *FieldError) Error() string {
	s := ""
	if e.Line > 0 {
		s = strconv.Itoa(e.Line) + ": "
	}
	if e.Key != "" {
		s += e.Key + ": "
	}
	return s + e.Msg
}

// Errors is a list of configuration errors, reported together.
type Errors []error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// DecodeStrict decodes the mapping node n into v (a pointer to a struct
// with yaml tags), refusing keys the struct does not declare. Keys listed in
// skip are ignored (they belong to an enclosing component). Errors carry the
// line and the key path, prefixed with prefix (e.g. "sinks[0]").
func DecodeStrict(n *yaml.Node, v any, prefix string, skip ...string) error {
	var errs Errors
	checkKnown(n, reflect.TypeOf(v), prefix, skip, &errs)
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("config: DecodeStrict needs a pointer, got %T", v)
	}
	decodeEach(n, rv.Elem(), prefix, skip, &errs)
	if len(errs) > 0 {
		return errs
	}
	return nil
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// decodeEach decodes n into v key by key and element by element, so that
// one bad value does not hide the errors of the others (yaml.v3 stops at
// the first error a custom type returns). Unknown keys are left to
// checkKnown.
func decodeEach(n *yaml.Node, v reflect.Value, prefix string, skip []string, errs *Errors) {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	t := v.Type()
	custom := reflect.PointerTo(t).Implements(unmarshalerType)
	switch {
	case !custom && t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode && !hasInline(t):
		fields := fieldIndex(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			idx, ok := fields[k.Value]
			if !ok || contains(skip, k.Value) {
				continue
			}
			decodeEach(val, v.Field(idx), joinKey(prefix, k.Value), nil, errs)
		}
		return
	case !custom && t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, c := range n.Content {
			decodeEach(c, s.Index(i), fmt.Sprintf("%s[%d]", prefix, i), nil, errs)
		}
		v.Set(s)
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		e := decodeError(err, n, prefix)
		var list Errors
		if !asErrors(e, &list) {
			list = Errors{e}
		}
		for _, x := range list {
			var fe *FieldError
			if asFieldError(x, &fe) && fe.Key == "" {
				fe.Key = prefix // the value node has no key of its own
			}
			*errs = append(*errs, x)
		}
	}
}

// fieldIndex maps yaml key names to field indexes (structs without inline
// fields).
func fieldIndex(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = i
	}
	return out
}

func hasInline(t reflect.Type) bool {
	for i := 0; i < t.NumField(); i++ {
		if _, opts, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); strings.Contains(opts, "inline") {
			return true
		}
	}
	return false
}

// decodeError turns yaml.v3's "line N: cannot unmarshal ..." messages into
// FieldErrors.
func decodeError(err error, n *yaml.Node, prefix string) error {
	var te *yaml.TypeError
	var fe *FieldError
	var list Errors
	switch {
	case asErrors(err, &list):
		// A custom unmarshaler names keys from its own node: put them
		// under prefix (batch.max_events -> sinks[0].batch.max_events).
		out := make(Errors, len(list))
		for i, e := range list {
			out[i] = decodeError(e, n, prefix)
		}
		return out
	case asTypeError(err, &te):
		var errs Errors
		for _, m := range te.Errors {
			line := 0
			if strings.HasPrefix(m, "line ") {
				rest := strings.TrimPrefix(m, "line ")
				if i := strings.Index(rest, ":"); i > 0 {
					line, _ = strconv.Atoi(rest[:i])
					m = strings.TrimSpace(rest[i+1:])
				}
			}
			key := keyAtLine(n, line, prefix)
			if line == n.Line && (strings.Contains(m, "!!seq into") || strings.Contains(m, "!!map into")) {
				key = prefix // the value itself is the wrong kind, not one inside it
			}
			errs = append(errs, &FieldError{Line: line, Key: key, Msg: friendlyType(m)})
		}
		return errs
	case asFieldError(err, &fe):
		if fe.Key == "" {
			fe.Key = keyAtLine(n, fe.Line, prefix)
		} else {
			fe.Key = joinKey(prefix, fe.Key)
		}
		return fe
	}
	return &FieldError{Line: n.Line, Key: prefix, Msg: err.Error()}
}

var unmarshalRE = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")

// friendlyType rewrites yaml.v3's "cannot unmarshal !!str `abc` into int"
// as "expected a whole number, got the string "abc"".
func friendlyType(m string) string {
	p := unmarshalRE.FindStringSubmatch(m)
	if p == nil {
		return m
	}
	got := map[string]string{"str": "the string", "int": "the number", "float": "the number", "bool": "the boolean",
		"seq": "a list", "map": "a mapping", "null": "nothing", "timestamp": "the time"}[p[1]]
	if got == "" {
		got = p[1]
	}
	if p[2] != "" {
		got += fmt.Sprintf(" %q", p[2])
	}
	want := p[3]
	switch {
	case strings.HasPrefix(want, "[]"):
		want = "a list"
	case strings.HasPrefix(want, "map["):
		want = "a mapping of keys"
	case strings.HasPrefix(want, "int") || strings.HasPrefix(want, "uint"):
		want = "a whole number"
	case strings.HasPrefix(want, "float"):
		want = "a number"
	case want == "bool":
		want = "true or false"
	case want == "string":
		want = "a single value (a string)"
	default:
		want = "a value of type " + want
	}
	return "expected " + want + ", got " + got
}

// keyAtLine finds the dotted key path of the mapping entry on line.
func keyAtLine(n *yaml.Node, line int, prefix string) string {
	var walk func(n *yaml.Node, path string) string
	walk = func(n *yaml.Node, path string) string {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				if p := walk(c, path); p != "" {
					return p
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := joinKey(path, k.Value)
				if k.Line == line || (v.Kind == yaml.ScalarNode && v.Line == line) {
					return p
				}
				if q := walk(v, p); q != "" {
					return q
				}
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				if c.Kind == yaml.ScalarNode && c.Line == line {
					return p
				}
				if q := walk(c, p); q != "" {
					return q
				}
			}
		}
		return ""
	}
	return walk(n, prefix)
}

func joinKey(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// checkKnown reports mapping keys that t (a struct, maybe behind pointers)
// does not declare, recursing into nested structs, slices and maps of structs.
func checkKnown(n *yaml.Node, t reflect.Type, path string, skip []string, errs *Errors) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n == nil || t == nil {
		return
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if reflect.PointerTo(t).Implements(reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()) {
		return // custom types check themselves
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // the decoder reports the type error
		}
		fields := structFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if contains(skip, k.Value) {
				continue
			}
			ft, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, &FieldError{Line: k.Line, Key: joinKey(path, k.Value), Msg: "unknown key" + suggest(k.Value, fields)})
				continue
			}
			checkKnown(v, ft, joinKey(path, k.Value), nil, errs)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, c := range n.Content {
			checkKnown(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), nil, errs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkKnown(n.Content[i+1], t.Elem(), joinKey(path, n.Content[i].Value), nil, errs)
		}
	}
}

func structFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range structFields(ft) {
					out[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func suggest(key string, fields map[string]reflect.Type) string {
	best := Closest(key, slices.Sorted(maps.Keys(fields)))
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	// A key written one level too high: client_id beside sophos:.
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		t := fields[name]
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || hasInline(t) {
			continue
		}
		if _, ok := fieldIndex(t)[key]; ok {
			return fmt.Sprintf(" (it belongs under %s: write %s.%s)", name, name, key)
		}
	}
	return ""
}

// Closest is the candidate nearest to word within two edits (the first of
// equally near ones), or "": the "did you mean" of an unknown key, command
// or action.
func Closest(word string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := EditDistance(word, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// EditDistance is the Levenshtein distance of a and b, for "did you mean"
// suggestions.
func EditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Workers is `workers`: "auto" (WorkersAuto) or a number of requests.
type Workers int

// WorkersAuto is `workers: auto`: adaptive concurrency.
const WorkersAuto Workers = 0

// DefaultMaxWorkers is the default `max_workers`.
const DefaultMaxWorkers = 64

// Auto reports whether concurrency adapts.
func (w Workers) Auto() bool { return w == WorkersAuto }

func (w Workers) String() string {
	if w.Auto() {
		return "auto"
	}
	return strconv.Itoa(int(w))
}

// UnmarshalYAML accepts auto or a whole number.
func (w *Workers) UnmarshalYAML(n *yaml.Node) error {
	v := strings.TrimSpace(n.Value)
	if n.Kind == yaml.ScalarNode && strings.EqualFold(v, "auto") {
		*w = WorkersAuto
		return nil
	}
	i, err := strconv.Atoi(v)
	if err != nil || n.Kind != yaml.ScalarNode || i < 1 {
		return &FieldError{Line: n.Line, Msg: fmt.Sprintf("%q: use auto (adapt to what the API allows) or a number of requests at once, 1 or more", n.Value)}
	}
	*w = Workers(i)
	return nil
}

// MarshalYAML writes auto or the number.
func (w Workers) MarshalYAML() (any, error) {
	if w.Auto() {
		return "auto", nil
	}
	return int(w), nil
}

// JSONSchema tells the config schema what workers takes: auto or a number.
func (*Workers) JSONSchema() map[string]any {
	return map[string]any{"anyOf": []any{
		map[string]any{"const": "auto"},
		map[string]any{"type": "integer", "minimum": 1},
		map[string]any{"type": "string", "pattern": `^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$`},
	}, "default": "auto"}
}

// JSONSchema tells the config schema what file_mode takes: octal digits,
// quoted ("0640") or not (YAML reads 0640 as a number).
func (*FileMode) JSONSchema() map[string]any {
	return map[string]any{"anyOf": []any{
		map[string]any{"type": "string", "pattern": `^0?[0-7]{3}$`},
		map[string]any{"type": "integer", "minimum": 0, "maximum": 0o777},
	}}
}
