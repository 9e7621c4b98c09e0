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
	data, err := os.ReadFile(path)
	if err != nil {
		return "", nil, false, err
	}
	confDir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return "", nil, false, err
	}
	outDir := "."
	if outPath != "" {
		outDir = filepath.Dir(outPath)
	}
	if outDir, err = filepath.Abs(outDir); err != nil {
		return "", nil, false, err
	}
	warn := func(line int, format string, args ...any) {
		warnings = append(warnings, fmt.Sprintf("%s:%d: ", path, line)+fmt.Sprintf(format, args...))
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a BOM from Windows editors
	vals := map[string]seedValue{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	line := 0
	for sc.Scan() {
		line++
		if !utf8.Valid(sc.Bytes()) {
			return "", nil, false, &InputError{fmt.Errorf("%s:%d: not UTF-8 text: save the file as UTF-8 (an editor may have written another encoding) and run migrate again", path, line)}
		}
		text := strings.TrimSpace(sc.Text()) // also drops the \r of CRLF
		if text == "" || strings.HasPrefix(text, "#") || strings.HasPrefix(text, ";") || strings.HasPrefix(text, "[") {
			continue
		}
		k, v, ok := strings.Cut(text, "=")
		if !ok {
			warn(line, "not a `key = value` line: ignored")
			continue
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
			warn(line, "unknown key %q: ignored (the seed has no such key)", k)
			continue
		}
		if k != key {
			warn(line, "key %q read as %s (the seed matched keys by substring)", k, key)
		}
		if prev, dup := vals[key]; dup {
			warn(line, "%s repeats line %d: the first value is kept", key, prev.line)
			continue
		}
		kind := seedKind[key]
		if q, rest, ok := quotedHead(v); ok && strings.HasPrefix(rest, "#") {
			// "value" # comment: the quotes say where the value ends.
			warn(line, "%s: the text after the closing quote (%q) is taken as a comment and dropped", key, rest)
			v = q
		} else if i := strings.Index(v, "#"); i >= 0 && !isQuoted(v) {
			if kind == "secret" {
				warn(line, "%s has a '#' in its value: it is kept whole, as the seed read it; if the part from '#' is a comment, remove it from the value", key)
			} else {
				warn(line, "%s: the text from '#' (%q) is taken as a comment and dropped", key, strings.TrimSpace(v[i:]))
				v = strings.TrimSpace(v[:i])
			}
		}
		vals[key] = seedValue{v: unquote(v), line: line}
	}
	if err := sc.Err(); err != nil {
		return "", nil, false, fmt.Errorf("read %s: %w", path, err)
	}

	def := config.Defaults()
	root := &yaml.Node{Kind: yaml.MappingNode}
	add := func(key string, value *yaml.Node, comment string) {
		k := &yaml.Node{Kind: yaml.ScalarNode, Value: key, LineComment: comment}
		root.Content = append(root.Content, k, value)
	}
	str := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s, Tag: "!!str"} }

	sophos := &yaml.Node{Kind: yaml.MappingNode}
	id := vals["client_id"].v
	if id == "" {
		id = "${SOPHOS_CLIENT_ID}"
	}
	secret := vals["client_secret"].v
	if secret != "" && outPath == "" {
		secretOmitted = true
	}
	if secret == "" || outPath == "" {
		secret = "${SOPHOS_CLIENT_SECRET}"
	}
	sophos.Content = append(sophos.Content, str("client_id"), str(id), str("client_secret"), str(secret))
	add("sophos", sophos, "")

	// save_file_location was a prefix the seed glued to each file name: a
	// directory when it ends with "/", else a directory plus a name prefix.
	// Blank meant the seed's working directory: its script directory, where
	// sophos.conf lives.
	prefix := ""
	saveDir := confDir
	if sv, ok := vals["save_file_location"]; ok && sv.v != "" {
		loc := sv.v
		if !strings.HasSuffix(loc, "/") && !strings.HasSuffix(loc, `\`) {
			prefix = filepath.Base(loc)
			loc = filepath.Dir(loc)
			warn(sv.line, "save_file_location %q has no trailing '/': the seed glued it to each file name, so the files stay at %s<name> (the prefix %q goes into the file names)", sv.v, sv.v, prefix)
		}
		if !filepath.IsAbs(loc) {
			loc = filepath.Join(confDir, loc)
		}
		saveDir = filepath.Clean(loc)
	}

	for _, key := range []string{"pull_time", "run", "txt_file_creation", "json_file_creation",
		"alerts_txt_file_name", "events_txt_file_name", "alerts_json_file_name", "events_json_file_name",
		"log_level", "log_file_name", "alerts_auto_acknowledge_status", "alerts_auto_acknowledge_level",
		"events_auto_acknowledge_status", "events_auto_acknowledge_level"} {
		sv, ok := vals[key]
		v := sv.v
		kind := seedKind[key]
		if kind == "name" && prefix != "" {
			if v == "" {
				v = map[string]string{"alerts_txt_file_name": def.AlertsTxtFileName, "events_txt_file_name": def.EventsTxtFileName,
					"alerts_json_file_name": def.AlertsJSONFileName, "events_json_file_name": def.EventsJSONFileName}[key]
			}
			add(key, str(prefix+v), "")
			continue
		}
		if !ok {
			continue
		}
		if v == "" && kind != "unsupported" {
			continue // blank: the seed's default, which is ours too
		}
		switch kind {
		case "unsupported":
			warn(sv.line, "%s is not carried over: the seed parsed it but never acted on it", key)
		case "bool":
			switch strings.ToLower(v) {
			case "true":
				add(key, &yaml.Node{Kind: yaml.ScalarNode, Value: "true", Tag: "!!bool"}, "")
			case "false":
				add(key, &yaml.Node{Kind: yaml.ScalarNode, Value: "false", Tag: "!!bool"}, "")
			default:
				warn(sv.line, "%s = %q is not True or False: left out, so the default applies", key, v)
			}
		case "int":
			n, err := strconv.ParseFloat(v, 64)
			if err != nil || n < 1 {
				warn(sv.line, "pull_time = %q is not a number of seconds (1 or more): left out, so the default (10) applies", v)
				continue
			}
			add(key, &yaml.Node{Kind: yaml.ScalarNode, Value: strconv.FormatFloat(n, 'f', -1, 64), Tag: "!!int"}, "")
			if n != float64(int64(n)) {
				root.Content[len(root.Content)-1].Value = fmt.Sprintf("%gs", n)
				root.Content[len(root.Content)-1].Tag = "!!str"
			}
		case "loglevel":
			if !validSeedLevel(v) {
				warn(sv.line, "log_level = %q is not a level (OFF, ERROR, INFO, LOG, LOG+, VERBOSE): left out, so INFO applies", v)
				continue
			}
			add(key, str(strings.ToUpper(v)), "")
		case "level":
			switch strings.ToLower(v) {
			case "low", "medium", "high":
				add(key, str(v), "")
			default:
				warn(sv.line, "alerts_auto_acknowledge_level = %q is not low, medium or high: left out, so medium applies", v)
			}
		case "path":
			// log_file_name: the seed wrote it in its working directory,
			// where sophos.conf is; sophos-connect writes a relative name
			// in save_file_location.
			if !filepath.IsAbs(v) && saveDir != confDir {
				v = filepath.Join(confDir, v)
			}
			add(key, str(v), "")
		default:
			add(key, str(v), "")
		}
	}
	if lv, ok := vals["log_file_name"]; (!ok || lv.v == "") && saveDir != confDir {
		add("log_file_name", str(filepath.Join(confDir, def.LogFileName)), "the seed's log, beside sophos.conf")
	}
	add("save_file_location", str(saveDir), "where the seed wrote its files")
	add("state_dir", str(filepath.Join(outDir, "state")), "checkpoints, dead letters and buffers")

	var b strings.Builder
	b.WriteString("# Converted from " + path + " by `sophos-connect migrate`.\n# Sinks, transforms and sources can be added: see examples/ and README.md.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return "", nil, false, err
	}
	enc.Close()
	return b.String(), warnings, secretOmitted, nil
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
