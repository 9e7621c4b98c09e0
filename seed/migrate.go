package seed

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/config"
)

// seedKeys are the seed's keys; the longest first for the substring match
// (events_txt_file_name must not match txt_file_creation).
var seedKeys = []string{
	"alerts_auto_acknowledge_status", "alerts_auto_acknowledge_level",
	"events_auto_acknowledge_status", "events_auto_acknowledge_level",
	"alerts_json_file_name", "events_json_file_name", "alerts_txt_file_name", "events_txt_file_name",
	"save_file_location", "json_file_creation", "txt_file_creation",
	"client_secret", "client_id", "log_file_name", "log_level", "pull_time", "run",
}

// seedKind is how a seed key's value is carried over.
var seedKind = map[string]string{
	"client_id": "secret", "client_secret": "secret",
	"pull_time": "int", "run": "bool", "txt_file_creation": "bool", "json_file_creation": "bool",
	"alerts_auto_acknowledge_status": "bool", "alerts_auto_acknowledge_level": "level",
	"log_level": "loglevel", "save_file_location": "path", "log_file_name": "path",
	"alerts_txt_file_name": "name", "events_txt_file_name": "name", "alerts_json_file_name": "name", "events_json_file_name": "name",
	"events_auto_acknowledge_status": "unsupported", "events_auto_acknowledge_level": "unsupported",
}

// seedValue is one key's value as read from sophos.conf.
type seedValue struct {
	v    string
	line int
}

// Migrate converts the seed's sophos.conf to the YAML config. It reads
// what seed users really wrote: `key = value` with or without spaces,
// values in "…" or '…', True/False in any case, blank values (the seed's
// defaults), # comments on their own line, CRLF endings. Every key it cannot
// carry over is a warning, not an error, and the result passes `validate`.
// outPath ("" = standard output) decides where relative paths point and
// whether the secret may be written (only into the 0600 file).
func Migrate(path, outPath string) (yml string, warnings []string, secretOmitted bool, err error) {
	m := &migration{path: path, def: config.Defaults(), root: &yaml.Node{Kind: yaml.MappingNode}}
	if err := m.dirs(outPath); err != nil {
		return "", nil, false, err
	}
	if m.vals, err = m.read(); err != nil {
		return "", nil, false, err
	}
	secretOmitted = m.addSophos(outPath)
	m.saveLocation()
	for _, key := range []string{"pull_time", "run", "txt_file_creation", "json_file_creation",
		"alerts_txt_file_name", "events_txt_file_name", "alerts_json_file_name", "events_json_file_name",
		"log_level", "log_file_name", "alerts_auto_acknowledge_status", "alerts_auto_acknowledge_level",
		"events_auto_acknowledge_status", "events_auto_acknowledge_level"} {
		m.carry(key)
	}
	if lv, ok := m.vals["log_file_name"]; (!ok || lv.v == "") && m.saveDir != m.confDir {
		m.add("log_file_name", str(filepath.Join(m.confDir, m.def.LogFileName)), "the seed's log, beside sophos.conf")
	}
	m.add("save_file_location", str(m.saveDir), "where the seed wrote its files")
	m.add("state_dir", str(filepath.Join(m.outDir, "state")), "checkpoints, dead letters and buffers")

	var b strings.Builder
	b.WriteString("# Converted from " + path + " by `sophos-connect migrate`.\n# Sinks, transforms and sources can be added: see examples/ and README.md.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(m.root); err != nil {
		return "", nil, false, err
	}
	enc.Close()
	return b.String(), m.warnings, secretOmitted, nil
}

// migration is one Migrate's state, handed from step to step.
type migration struct {
	path     string
	warnings []string
	vals     map[string]seedValue
	def      config.Config
	root     *yaml.Node // the YAML config being written
	// confDir is where sophos.conf is (the seed's working directory);
	// outDir where the YAML goes.
	confDir, outDir string
	// saveDir and prefix are save_file_location split into a directory
	// and the file name prefix the seed glued on.
	saveDir, prefix string
}

func (m *migration) warn(line int, format string, args ...any) {
	m.warnings = append(m.warnings, fmt.Sprintf("%s:%d: ", m.path, line)+fmt.Sprintf(format, args...))
}

func (m *migration) add(key string, value *yaml.Node, comment string) {
	k := &yaml.Node{Kind: yaml.ScalarNode, Value: key, LineComment: comment}
	m.root.Content = append(m.root.Content, k, value)
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s, Tag: "!!str"} }

// dirs resolves confDir and outDir (outPath "" = standard output: the
// working directory).
func (m *migration) dirs(outPath string) error {
	var err error
	if m.confDir, err = filepath.Abs(filepath.Dir(m.path)); err != nil {
		return err
	}
	m.outDir = "."
	if outPath != "" {
		m.outDir = filepath.Dir(outPath)
	}
	m.outDir, err = filepath.Abs(m.outDir)
	return err
}

// read reads sophos.conf's `key = value` lines as the seed did.
func (m *migration) read() (map[string]seedValue, error) {
	data, err := os.ReadFile(m.path)
	if err != nil {
		return nil, err
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a BOM from Windows editors
	vals := map[string]seedValue{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	line := 0
	for sc.Scan() {
		line++
		if !utf8.Valid(sc.Bytes()) {
			return nil, &InputError{fmt.Errorf("%s:%d: not UTF-8 text: save the file as UTF-8 (an editor may have written another encoding) and run migrate again", m.path, line)}
		}
		m.readLine(vals, line, strings.TrimSpace(sc.Text())) // TrimSpace also drops the \r of CRLF
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", m.path, err)
	}
	return vals, nil
}

// readLine reads one line into vals: keys matched by substring as the seed
// did, the first of repeated keys kept, comments after a value dropped
// (except in a secret, which the seed kept whole).
func (m *migration) readLine(vals map[string]seedValue, line int, text string) {
	if text == "" || strings.HasPrefix(text, "#") || strings.HasPrefix(text, ";") || strings.HasPrefix(text, "[") {
		return
	}
	k, v, ok := strings.Cut(text, "=")
	if !ok {
		m.warn(line, "not a `key = value` line: ignored")
		return
	}
	k, v = strings.TrimSpace(k), strings.TrimSpace(v)
	key := ""
	for _, sk := range seedKeys {
		if strings.Contains(k, sk) {
			key = sk
			break
		}
	}
	if key == "" {
		m.warn(line, "unknown key %q: ignored (the seed has no such key)", k)
		return
	}
	if k != key {
		m.warn(line, "key %q read as %s (the seed matched keys by substring)", k, key)
	}
	if prev, dup := vals[key]; dup {
		m.warn(line, "%s repeats line %d: the first value is kept", key, prev.line)
		return
	}
	if q, rest, ok := quotedHead(v); ok && strings.HasPrefix(rest, "#") {
		// "value" # comment: the quotes say where the value ends.
		m.warn(line, "%s: the text after the closing quote (%q) is taken as a comment and dropped", key, rest)
		v = q
	} else if i := strings.Index(v, "#"); i >= 0 && !isQuoted(v) {
		if seedKind[key] == "secret" {
			m.warn(line, "%s has a '#' in its value: it is kept whole, as the seed read it; if the part from '#' is a comment, remove it from the value", key)
		} else {
			m.warn(line, "%s: the text from '#' (%q) is taken as a comment and dropped", key, strings.TrimSpace(v[i:]))
			v = strings.TrimSpace(v[:i])
		}
	}
	vals[key] = seedValue{v: unquote(v), line: line}
}

// addSophos writes the sophos block. The secret goes only into a file
// (outPath, written 0600); on standard output it is ${SOPHOS_CLIENT_SECRET},
// and addSophos says so (true).
func (m *migration) addSophos(outPath string) (secretOmitted bool) {
	sophos := &yaml.Node{Kind: yaml.MappingNode}
	id := m.vals["client_id"].v
	if id == "" {
		id = "${SOPHOS_CLIENT_ID}"
	}
	secret := m.vals["client_secret"].v
	if secret != "" && outPath == "" {
		secretOmitted = true
	}
	if secret == "" || outPath == "" {
		secret = "${SOPHOS_CLIENT_SECRET}"
	}
	sophos.Content = append(sophos.Content, str("client_id"), str(id), str("client_secret"), str(secret))
	m.add("sophos", sophos, "")
	return secretOmitted
}

// saveLocation: save_file_location was a prefix the seed glued to each file
// name: a directory when it ends with "/", else a directory plus a name
// prefix. Blank meant the seed's working directory: its script directory,
// where sophos.conf lives.
func (m *migration) saveLocation() {
	m.saveDir = m.confDir
	sv, ok := m.vals["save_file_location"]
	if !ok || sv.v == "" {
		return
	}
	loc := sv.v
	if !strings.HasSuffix(loc, "/") && !strings.HasSuffix(loc, `\`) {
		m.prefix = filepath.Base(loc)
		loc = filepath.Dir(loc)
		m.warn(sv.line, "save_file_location %q has no trailing '/': the seed glued it to each file name, so the files stay at %s<name> (the prefix %q goes into the file names)", sv.v, sv.v, m.prefix)
	}
	if !filepath.IsAbs(loc) {
		loc = filepath.Join(m.confDir, loc)
	}
	m.saveDir = filepath.Clean(loc)
}

// carry writes one seed key into the YAML config, by its kind; what it
// cannot carry over is a warning, and the default applies.
func (m *migration) carry(key string) {
	sv, ok := m.vals[key]
	v := sv.v
	kind := seedKind[key]
	if kind == "name" && m.prefix != "" {
		if v == "" {
			v = map[string]string{"alerts_txt_file_name": m.def.AlertsTxtFileName, "events_txt_file_name": m.def.EventsTxtFileName,
				"alerts_json_file_name": m.def.AlertsJSONFileName, "events_json_file_name": m.def.EventsJSONFileName}[key]
		}
		m.add(key, str(m.prefix+v), "")
		return
	}
	if !ok || (v == "" && kind != "unsupported") {
		return // absent, or blank: the seed's default, which is ours too
	}
	switch kind {
	case "unsupported":
		m.warn(sv.line, "%s is not carried over: the seed parsed it but never acted on it", key)
	case "bool":
		switch strings.ToLower(v) {
		case "true":
			m.add(key, &yaml.Node{Kind: yaml.ScalarNode, Value: "true", Tag: "!!bool"}, "")
		case "false":
			m.add(key, &yaml.Node{Kind: yaml.ScalarNode, Value: "false", Tag: "!!bool"}, "")
		default:
			m.warn(sv.line, "%s = %q is not True or False: left out, so the default applies", key, v)
		}
	case "int":
		m.carrySeconds(key, sv)
	case "loglevel":
		if !validSeedLevel(v) {
			m.warn(sv.line, "log_level = %q is not a level (OFF, ERROR, INFO, LOG, LOG+, VERBOSE): left out, so INFO applies", v)
			return
		}
		m.add(key, str(strings.ToUpper(v)), "")
	case "level":
		switch strings.ToLower(v) {
		case "low", "medium", "high":
			m.add(key, str(v), "")
		default:
			m.warn(sv.line, "alerts_auto_acknowledge_level = %q is not low, medium or high: left out, so medium applies", v)
		}
	case "path":
		// log_file_name: the seed wrote it in its working directory,
		// where sophos.conf is; sophos-connect writes a relative name
		// in save_file_location.
		if !filepath.IsAbs(v) && m.saveDir != m.confDir {
			v = filepath.Join(m.confDir, v)
		}
		m.add(key, str(v), "")
	default:
		m.add(key, str(v), "")
	}
}

// carrySeconds writes pull_time: whole seconds as a number, a fraction as
// a duration ("2.5s").
func (m *migration) carrySeconds(key string, sv seedValue) {
	n, err := strconv.ParseFloat(sv.v, 64)
	if err != nil || n < 1 {
		m.warn(sv.line, "pull_time = %q is not a number of seconds (1 or more): left out, so the default (10) applies", sv.v)
		return
	}
	m.add(key, &yaml.Node{Kind: yaml.ScalarNode, Value: strconv.FormatFloat(n, 'f', -1, 64), Tag: "!!int"}, "")
	if n != float64(int64(n)) {
		m.root.Content[len(m.root.Content)-1].Value = fmt.Sprintf("%gs", n)
		m.root.Content[len(m.root.Content)-1].Tag = "!!str"
	}
}

func validSeedLevel(v string) bool {
	for _, l := range config.LogLevels {
		if strings.EqualFold(l, v) {
			return true
		}
	}
	return false
}

// quotedHead splits `"value" rest` into the quoted value (quotes kept) and
// the trimmed rest, when v starts with a quote that closes before its end.
func quotedHead(v string) (quoted, rest string, ok bool) {
	if len(v) < 2 || (v[0] != '"' && v[0] != '\'') {
		return "", "", false
	}
	j := strings.IndexByte(v[1:], v[0])
	if j < 0 || j+2 == len(v) {
		return "", "", false
	}
	return v[:j+2], strings.TrimSpace(v[j+2:]), true
}

func isQuoted(v string) bool {
	return len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0]
}

// unquote strips one pair of matching quotes ("…" or '…').
func unquote(v string) string {
	if isQuoted(v) {
		return v[1 : len(v)-1]
	}
	return v
}
