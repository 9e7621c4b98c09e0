package fields

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/config"
)

// Config is the fields stage's own keys. Paths are dotted keys into the raw
// item (data.endpoint_id); the operations run in this order: rename, set,
// add, drop, each in the order written.
type Config struct {
	// Rename moves a value: {from: to}. An absent from is skipped; an
	// existing to is overwritten.
	Rename Renames `yaml:"rename"`
	// Set writes a value, replacing any existing one.
	Set Values `yaml:"set"`
	// Add writes a value only where the key is absent.
	Add Values `yaml:"add"`
	// Drop removes keys.
	Drop []string `yaml:"drop"`
}

// DefaultConfig changes nothing.
func DefaultConfig() Config { return Config{} }

// Value is one path: value pair. A string value is a template with
// ${stream}, ${tenant} and ${env:NAME} ($${ writes a literal ${); numbers,
// booleans and null stay JSON numbers, booleans and null; a mapping or list
// becomes the JSON object or array.
type Value struct {
	Path string
	Line int
	// Text is the template text of a string value; JSON is the encoded
	// value of any other kind (nil for strings).
	Text string
	JSON []byte
}

// Values keeps the order the mapping was written in (new keys are appended
// to the item in that order).
type Values []Value

// UnmarshalYAML implements yaml.Unmarshaler.
func (vs *Values) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return &config.FieldError{Line: n.Line, Msg: "expected a mapping of path: value"}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		val := Value{Path: k.Value, Line: k.Line}
		if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" {
			val.Text = v.Value
		} else {
			j, err := nodeJSON(v)
			if err != nil {
				return &config.FieldError{Line: v.Line, Msg: err.Error()}
			}
			val.JSON = j
		}
		*vs = append(*vs, val)
	}
	return nil
}

// nodeJSON encodes a non-string YAML value as JSON.
func nodeJSON(v *yaml.Node) ([]byte, error) {
	var x any
	if err := v.Decode(&x); err != nil {
		return nil, err
	}
	if f, ok := x.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
		return nil, fmt.Errorf("%s cannot be written as JSON", v.Value)
	}
	j, err := json.Marshal(x)
	if err != nil {
		return nil, fmt.Errorf("value cannot be written as JSON (mapping keys must be strings): %v", err)
	}
	return j, nil
}

// Rename is one from: to pair.
type Rename struct {
	From, To string
	Line     int
}

// Renames keeps the order the mapping was written in.
type Renames []Rename

// UnmarshalYAML implements yaml.Unmarshaler.
func (rs *Renames) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return &config.FieldError{Line: n.Line, Msg: "expected a mapping of from: to"}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			return &config.FieldError{Line: v.Line, Msg: "the new name must be a path such as host.name"}
		}
		*rs = append(*rs, Rename{From: k.Value, To: v.Value, Line: k.Line})
	}
	return nil
}

// Validate checks paths and templates (environment variables are looked up
// by New).
func (c *Config) Validate() error {
	var errs config.Errors
	bad := func(key string, line int, format string, args ...any) {
		errs = append(errs, &config.FieldError{Key: key, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	checkPath := func(key, p string, line int, write bool) {
		if _, err := splitPath(p); err != nil {
			bad(key, line, "%v", err)
			return
		}
		if p == "id" {
			if write {
				bad(key, line, "id cannot be changed: it is the record's dedupe and idempotency key")
			} else {
				bad(key, line, "id cannot be removed: it is the record's dedupe and idempotency key")
			}
		}
	}
	for _, r := range c.Rename {
		checkPath("rename."+r.From, r.From, r.Line, false)
		checkPath("rename."+r.From, r.To, r.Line, true)
	}
	for _, v := range c.Set {
		checkPath("set."+v.Path, v.Path, v.Line, true)
		if v.JSON == nil {
			if _, err := parseTemplate(v.Text, nil); err != nil {
				bad("set."+v.Path, v.Line, "%v", err)
			}
		}
	}
	for _, v := range c.Add {
		checkPath("add."+v.Path, v.Path, v.Line, true)
		if v.JSON == nil {
			if _, err := parseTemplate(v.Text, nil); err != nil {
				bad("add."+v.Path, v.Line, "%v", err)
			}
		}
	}
	for i, p := range c.Drop {
		checkPath(fmt.Sprintf("drop[%d]", i), p, 0, false)
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// splitPath splits a dotted path, refusing empty keys.
func splitPath(p string) ([]string, error) {
	if strings.TrimSpace(p) == "" {
		return nil, fmt.Errorf("empty path")
	}
	if !utf8.ValidString(p) {
		return nil, fmt.Errorf("path %q is not valid UTF-8", p)
	}
	parts := strings.Split(p, ".")
	for _, s := range parts {
		if s == "" {
			return nil, fmt.Errorf("path %q has an empty key: write key.subkey", p)
		}
	}
	return parts, nil
}

// JSONSchema tells the config schema what Values takes: path: value.
func (*Values) JSONSchema() map[string]any {
	return map[string]any{"type": "object", "propertyNames": map[string]any{"minLength": 1}}
}

// JSONSchema tells the config schema what Renames takes: from: to.
func (*Renames) JSONSchema() map[string]any {
	return map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string", "minLength": 1}}
}
