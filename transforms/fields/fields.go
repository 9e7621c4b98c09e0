// Package fields is the transform stage that edits the raw item: rename,
// set, add (only where absent) and drop, with dotted paths. It edits the
// JSON text in place of decoding it (key order and untouched bytes are
// kept; new keys go at the end of their object) and re-derives the record's
// typed fields when a key they come from changed.
package fields

import (
	"fmt"
	"strings"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

type op struct {
	kind  byte // 'r' rename, 's' set, 'a' add, 'd' drop
	path  []string
	to    []string  // rename target
	json  []byte    // fixed value
	tmpl  *template // per-record string value
	typed uint16    // typed-key bits of the top-level keys the op touches
}

// Fields is the stage. It is safe for concurrent use.
type Fields struct {
	cfg Config
	ops []op
}

// New validates c and resolves ${env:NAME} from the environment.
func New(c Config) (*Fields, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	f := &Fields{cfg: c}
	for _, r := range c.Rename {
		from, _ := splitPath(r.From)
		to, _ := splitPath(r.To)
		f.ops = append(f.ops, op{kind: 'r', path: from, to: to, typed: typedBits[from[0]] | typedBits[to[0]]})
	}
	values := func(kind byte, key string, vs Values) error {
		for _, v := range vs {
			p, _ := splitPath(v.Path)
			o := op{kind: kind, path: p, json: v.JSON, typed: typedBits[p[0]]}
			if v.JSON == nil {
				t, err := parseTemplate(v.Text, osLookup)
				if err != nil {
					return &config.FieldError{Key: key + "." + v.Path, Line: v.Line, Msg: err.Error()}
				}
				if t.fixed != nil {
					o.json = t.fixed
				} else {
					o.tmpl = t
				}
			}
			f.ops = append(f.ops, o)
		}
		return nil
	}
	if err := values('s', "set", c.Set); err != nil {
		return nil, err
	}
	if err := values('a', "add", c.Add); err != nil {
		return nil, err
	}
	for _, d := range c.Drop {
		p, _ := splitPath(d)
		f.ops = append(f.ops, op{kind: 'd', path: p, typed: typedBits[p[0]]})
	}
	return f, nil
}

// Process applies the edits to r.Raw (a new buffer: the old one is never
// written) and re-reads the typed fields when one of their keys changed. An
// item that is not a JSON object, or a path through a non-object value, is
// an error: the pipeline dead-letters the record with it.
func (f *Fields) Process(r *pipeline.Record, out []*pipeline.Record) ([]*pipeline.Record, error) {
	d := docs.Get().(*doc)
	defer d.release()
	raw, changed, retype, err := f.apply(d, r.Raw, r)
	if err != nil {
		return out, fmt.Errorf("fields: %w", err)
	}
	if !changed {
		return append(out, r), nil
	}
	if retype != 0 {
		nr := *r
		if err := d.retype(&nr, retype); err != nil {
			return out, fmt.Errorf("fields: after the edits: %w", err)
		}
		*r = nr
	}
	r.Raw = raw
	return append(out, r), nil
}

// apply runs every op on raw for r: one walk of the top level, edits on
// the members, one copy out (none when nothing changed).
func (f *Fields) apply(d *doc, raw []byte, r *pipeline.Record) (out []byte, changed bool, retype uint16, err error) {
	if err := d.parse(raw); err != nil {
		return raw, false, 0, err
	}
	any := false
	for i := range f.ops {
		o := &f.ops[i]
		var changed bool
		switch o.kind {
		case 'r':
			var val []byte
			if val, err = d.remove(o.path); err == nil && val != nil {
				_, err = d.set(o.to, val, false)
				changed = err == nil
			}
		case 's', 'a':
			val := o.json
			if o.tmpl != nil {
				val = o.tmpl.appendJSON(nil, r) // kept by the doc: a fresh buffer
			}
			changed, err = d.set(o.path, val, o.kind == 'a')
		case 'd':
			var val []byte
			val, err = d.remove(o.path)
			changed = val != nil
		}
		if err != nil {
			return raw, false, 0, fmt.Errorf("%s %s: %w", opName(o.kind), joinPath(o.path), err)
		}
		any = any || changed
		if changed {
			retype |= o.typed
		}
	}
	if !any {
		return raw, false, 0, nil
	}
	return d.bytes(), true, retype, nil
}

func opName(k byte) string {
	switch k {
	case 'r':
		return "rename"
	case 's':
		return "set"
	case 'a':
		return "add"
	}
	return "drop"
}

// String describes the stage for `validate`, e.g.
// fields(rename: location→host.name, add: collector, drop: [customer_id]).
func (f *Fields) String() string {
	var parts []string
	if len(f.cfg.Rename) > 0 {
		var rs []string
		for _, r := range f.cfg.Rename {
			rs = append(rs, r.From+"→"+r.To)
		}
		parts = append(parts, "rename: "+strings.Join(rs, ", "))
	}
	keys := func(name string, vs Values) {
		if len(vs) > 0 {
			var ks []string
			for _, v := range vs {
				ks = append(ks, v.Path)
			}
			parts = append(parts, name+": "+strings.Join(ks, ", "))
		}
	}
	keys("set", f.cfg.Set)
	keys("add", f.cfg.Add)
	if len(f.cfg.Drop) > 0 {
		parts = append(parts, "drop: ["+strings.Join(f.cfg.Drop, ", ")+"]")
	}
	if len(parts) == 0 {
		return "fields(no changes)"
	}
	return "fields(" + strings.Join(parts, "; ") + ")"
}
