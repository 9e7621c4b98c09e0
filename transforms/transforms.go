// Package transforms is the explicit table of transform stages (no init()
// registration): filter, fields and dedupe. The pipeline builds each
// configured stage with Build and handles the common keys type, streams and
// name itself.
package transforms

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/transforms/dedupe"
	"github.com/sophos-connect/sophos-connect/transforms/fields"
	"github.com/sophos-connect/sophos-connect/transforms/filter"
)

// Env is what a stage may need from the collector.
type Env struct {
	StateDir string       // the collector's state_dir (dedupe's file)
	Log      *slog.Logger // nil discards
	Name     string       // the stage's name key, or e.g. "transforms[2]"; names dedupe's file
	// DryRun builds stages that describe themselves but open and create no
	// state files (for `validate`).
	DryRun bool
}

// Factory builds one stage type from its YAML mapping.
type Factory struct {
	Type string
	Doc  string
	// Example is a sample configuration entry, for docs and `validate`.
	Example string
	// New decodes node strictly (prefix names it in errors), validates and
	// builds the stage.
	New func(node *yaml.Node, prefix string, env Env) (pipeline.Stage, error)
	// Defaults returns the stage's config struct with its defaults (for the
	// config schema).
	Defaults func() any
}

// CommonKeys are handled by the pipeline, not by the stages.
var CommonKeys = []string{"type", "streams", "name"}

// Table lists every stage type.
var Table = []Factory{
	{
		Type:     "filter",
		Defaults: func() any { return filter.DefaultConfig() },
		Doc:      "keep or drop records: types (exact, prefix::, glob), exclude_types, min_severity, tenants, groups, field {path, equals|matches|regex}, light, when / drop_when conditions",
		Example:  "type: filter\nmin_severity: medium\nlight: true\ndrop_when: 'tenant in (\"lab\")'",
		New: func(node *yaml.Node, prefix string, env Env) (pipeline.Stage, error) {
			c := filter.DefaultConfig()
			if err := decode(node, &c, prefix); err != nil {
				return nil, err
			}
			f, err := filter.New(c)
			return f, locate(err, node, prefix)
		},
	},
	{
		Type:     "fields",
		Defaults: func() any { return fields.DefaultConfig() },
		Doc:      "edit the raw item: rename (from: to), set, add (only if absent), drop, with dotted paths; values may use ${stream}, ${tenant}, ${env:NAME}",
		Example:  "type: fields\nrename: {location: host.name}\nadd: {collector: site-a}\ndrop: [customer_id]",
		New: func(node *yaml.Node, prefix string, env Env) (pipeline.Stage, error) {
			c := fields.DefaultConfig()
			if err := decode(node, &c, prefix); err != nil {
				return nil, err
			}
			f, err := fields.New(c)
			return f, locate(err, node, prefix)
		},
	},
	{
		Type:     "dedupe",
		Defaults: func() any { return dedupe.DefaultConfig() },
		Doc:      "drop repeats of (stream, id) delivered within ttl (default 25h); memory bounded by max_entries; survives restarts in state_dir",
		Example:  "type: dedupe\nttl: 25h\nmax_entries: 2000000",
		New: func(node *yaml.Node, prefix string, env Env) (pipeline.Stage, error) {
			c := dedupe.DefaultConfig()
			if err := decode(node, &c, prefix); err != nil {
				return nil, err
			}
			if err := c.Validate(); err != nil {
				return nil, locate(err, node, prefix)
			}
			name := env.Name
			if name == "" {
				name = prefix
			}
			if env.DryRun {
				d, err := dedupe.NewDryRun(name, c, env.StateDir)
				return d, locate(err, node, prefix)
			}
			d, err := dedupe.New(name, c, env.StateDir, env.Log)
			return d, locate(err, node, prefix)
		},
	},
}

// Types lists the stage type names.
func Types() []string {
	out := make([]string, len(Table))
	for i, f := range Table {
		out[i] = f.Type
	}
	return out
}

// Build builds the stage of type typ from its configuration mapping (node
// may be nil: defaults). Errors are config.FieldError values (or
// config.Errors of them) with the line and the key path under prefix.
func Build(typ string, node *yaml.Node, prefix string, env Env) (pipeline.Stage, error) {
	for _, f := range Table {
		if f.Type == typ {
			s, err := f.New(node, prefix, env)
			if err != nil {
				return nil, err
			}
			return s, nil
		}
	}
	line := 0
	if n := child(node, "type"); n != nil {
		line = n.Line
	}
	return nil, &config.FieldError{Line: line, Key: join(prefix, "type"),
		Msg: fmt.Sprintf("unknown transform type %q: use %s", typ, strings.Join(Types(), ", "))}
}

// Describe returns a one-line description of a built stage for `validate`,
// e.g. filter(min_severity=medium, light).
func Describe(s pipeline.Stage) string {
	if st, ok := s.(fmt.Stringer); ok {
		return st.String()
	}
	return fmt.Sprintf("%T", s)
}

// decode decodes node (nil: nothing to decode) strictly into cfg.
func decode(node *yaml.Node, cfg any, prefix string) error {
	if node == nil {
		return nil
	}
	return config.DecodeStrict(node, cfg, prefix, CommonKeys...)
}

// locate gives errors from Validate and New (which name a key relative to
// the stage) the stage's prefix and, when missing, the key's line.
func locate(err error, node *yaml.Node, prefix string) error {
	if err == nil {
		return nil
	}
	var errs config.Errors
	if errors.As(err, &errs) {
		out := make(config.Errors, len(errs))
		for i, e := range errs {
			out[i] = locate(e, node, prefix)
		}
		return out
	}
	var fe *config.FieldError
	if errors.As(err, &fe) {
		l := *fe
		if l.Line == 0 {
			if n := lookup(node, l.Key); n != nil {
				l.Line = n.Line
			} else if node != nil {
				l.Line = node.Line
			}
		}
		l.Key = join(prefix, l.Key)
		return &l
	}
	line := 0
	if node != nil {
		line = node.Line
	}
	return &config.FieldError{Line: line, Key: prefix, Msg: err.Error()}
}

// lookup finds the node of a key path such as field.path or types[1]; keys
// of mappings whose own keys contain dots (fields' paths) are matched whole
// when the dotted walk fails.
func lookup(node *yaml.Node, path string) *yaml.Node {
	if node == nil || path == "" {
		return nil
	}
	cur := node
	var last *yaml.Node
	rest := path
	for rest != "" {
		name := rest
		idx := -1
		if i := strings.IndexAny(rest, ".["); i >= 0 {
			name = rest[:i]
			rest = rest[i:]
		} else {
			rest = ""
		}
		if name != "" {
			k := childKey(cur, name)
			if k == nil {
				// fields' keys are dotted paths: try the rest whole.
				if k = childKey(cur, name+rest); k != nil {
					return k
				}
				return last
			}
			last, cur = k, child(cur, name)
		}
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return last
			}
			idx, _ = strconv.Atoi(rest[1:end])
			rest = rest[end+1:]
			if cur == nil || cur.Kind != yaml.SequenceNode || idx < 0 || idx >= len(cur.Content) {
				return last
			}
			cur = cur.Content[idx]
			last = cur
		}
		rest = strings.TrimPrefix(rest, ".")
	}
	return last
}

func childKey(n *yaml.Node, name string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == name {
			return n.Content[i]
		}
	}
	return nil
}

func child(n *yaml.Node, name string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == name {
			return n.Content[i+1]
		}
	}
	return nil
}

func join(prefix, key string) string {
	switch {
	case prefix == "":
		return key
	case key == "":
		return prefix
	}
	return prefix + "." + key
}
