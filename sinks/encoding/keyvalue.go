package encoding

import (
	"fmt"
	"unicode/utf8"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// keyvalueEncoder writes the official script's key-value line (reference
// §10.7), after the same steps as the JSON line:
//
//	" ".join([record["rt"]] + ['%s="%s";' % (k, v) for k, v in record.items()]).strip()
//
// Values are Python str() (dicts and lists as repr, True/False/None) and
// nothing is escaped. A record without rt would crash the script; here the
// line then starts with the first pair. With strict set (Options.CEFStrict)
// newlines and carriage returns are written as \n and \r so the record stays
// on one line.
type keyvalueEncoder struct {
	o      *official
	strict bool
	buf    []byte
	fields Fields
}

func (e *keyvalueEncoder) Append(dst []byte, r *pipeline.Record) ([]byte, error) {
	if !r.Stream.SIEM() {
		return appendXDRKeyValue(dst, r, e.strict)
	}
	o := e.o
	if err := o.load(r); err != nil {
		return dst, fmt.Errorf("keyvalue: record %q: %w", r.ID, err)
	}
	o.ents = o.updateCEFKeys(o.ents, &o.entsSeen)
	o.updateFields()
	f := &e.fields
	f.reset()
	b := e.buf[:0]
	if i := o.findName(o.ents, "rt"); i >= 0 {
		b = o.appendStrVal(b, &o.ents[i])
	}
	f.Head = len(b)
	for i := range o.ents {
		ent := &o.ents[i]
		if ent.dead {
			continue
		}
		b = append(b, ' ')
		start := len(b)
		b = append(b, o.key(ent)...)
		b = append(b, '=', '"')
		b = o.appendStrVal(b, ent)
		b = append(b, '"', ';')
		f.Pairs = append(f.Pairs, Pair{start, len(b), isIDKey(o.key(ent))})
	}
	e.buf = b
	t := trimPySpace(b)
	f.shift(cap(b) - cap(t)) // the leading whitespace trimmed
	f.clamp(len(t))
	if e.strict {
		return f.appendNoNewline(dst, t), nil
	}
	return append(dst, t...), nil
}

// LastFields implements FieldEncoder.
func (e *keyvalueEncoder) LastFields() *Fields { return &e.fields }

// trimRightPySpace trims trailing Python whitespace from dst[start:].
func trimRightPySpace(dst []byte, start int) []byte {
	for len(dst) > start {
		r, n := utf8.DecodeLastRune(dst[start:])
		if !pyIsSpace(r) {
			break
		}
		dst = dst[:len(dst)-n]
	}
	return dst
}
