package encoding

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"unsafe"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// cefEncoder writes the official script's CEF line (reference §10.6):
//
//	CEF:0|sophos|sophos central|1.0|<type>|<name>|<severity>|k1=v1 k2=v2 …
//
// after null dropping, the name mapping, flattening of nested dicts (keys
// joined with _), pulling and escaping the header fields (\ and |), the key
// renames, and escaping string values (\ and =). Non-string values print as
// Python str(). The whole line is strip()ped.
//
// With strict set (Options.CEFStrict) newlines and carriage returns are
// also escaped as \n and \r, in values as the CEF specification asks and in
// keys and header fields too, so a record is always one line.
type cefEncoder struct {
	o      *official
	strict bool
	buf    []byte
	// The bytes escape rewrites with no special, with | and with =.
	escPlain, escHeader, escValue escapeSet
	fields                        Fields
}

func newCEFEncoder(o *official, strict bool) *cefEncoder {
	return &cefEncoder{o: o, strict: strict,
		escPlain: newEscapeSet(0, strict), escHeader: newEscapeSet('|', strict), escValue: newEscapeSet('=', strict)}
}

// severityMap is the script's SEVERITY_MAP.
var severityMap = [...]struct {
	name string
	cef  int
}{{"none", 0}, {"low", 1}, {"medium", 5}, {"high", 8}, {"very_high", 10}}

func (e *cefEncoder) Append(dst []byte, r *pipeline.Record) ([]byte, error) {
	if !r.Stream.SIEM() {
		return appendXDRCEF(dst, r, e.strict)
	}
	o := e.o
	if err := o.load(r); err != nil {
		return dst, fmt.Errorf("cef: record %q: %w", r.ID, err)
	}
	return e.encode(dst), nil
}

// encode writes the loaded record dict.
func (e *cefEncoder) encode(dst []byte) []byte {
	o := e.o
	o.updateFields()
	o.flatten()
	start := len(dst)
	dst = append(dst, "CEF:0|sophos|sophos central|1.0|"...)
	dst = e.header(dst, "type")
	dst = append(dst, '|')
	dst = e.header(dst, "name")
	dst = append(dst, '|')
	dst = strconv.AppendInt(dst, int64(e.severity()), 10)
	dst = append(dst, '|')
	e.fields.reset()
	e.fields.Head = len(dst) - start
	o.flat = o.updateCEFKeys(o.flat, &o.flatSeen)
	first := true
	for i := range o.flat {
		ent := &o.flat[i]
		if ent.dead {
			continue
		}
		if !first {
			dst = append(dst, ' ')
		}
		first = false
		pairStart := len(dst) - start
		dst = e.escape(dst, o.key(ent), 0)
		dst = append(dst, '=')
		var v []byte
		special := byte('=') // escaped in a str value, not in the str() of others
		switch o.kind(ent) {
		case 0:
			v = o.arena[ent.va:ent.vb]
		case '"':
			v, e.buf = o.t.strOf(e.buf, ent.n)
		default:
			e.buf = o.p.str(e.buf[:0], ent.n)
			v, special = e.buf, 0
		}
		dst = e.escape(dst, v, special)
		e.fields.Pairs = append(e.fields.Pairs, Pair{pairStart, len(dst) - start, isIDKey(o.key(ent))})
	}
	// The line starts with "CEF:", so only its end can have space to strip.
	dst = trimRightPySpace(dst, start)
	e.fields.clamp(len(dst) - start)
	return dst
}

// LastFields implements FieldEncoder.
func (e *cefEncoder) LastFields() *Fields { return &e.fields }

// header appends the flattened record's field (or NA) with \ and | escaped,
// and removes the field.
func (e *cefEncoder) header(dst []byte, field string) []byte {
	o := e.o
	i := o.findName(o.flat, field)
	if i < 0 {
		return append(dst, "NA"...)
	}
	// The script escapes a str and crashes on anything else; str() it.
	e.buf = o.appendStrVal(e.buf[:0], &o.flat[i])
	o.flat[i].dead = true
	return e.escape(dst, e.buf, '|')
}

// severity pops the severity field and maps it, warning on unknown values.
func (e *cefEncoder) severity() int {
	o := e.o
	i := o.findName(o.flat, "severity")
	if i < 0 {
		o.warn.unmappedSeverity([]byte("NA"))
		return 0
	}
	ent := &o.flat[i]
	ent.dead = true
	if t, ok := o.str(ent); ok {
		for _, s := range severityMap {
			if textIs(t, s.name) {
				return s.cef
			}
		}
	}
	e.buf = o.appendStrVal(e.buf[:0], ent)
	o.warn.unmappedSeverity(e.buf)
	return 0
}

// escape appends s with backslashes and special (| in the header, = in
// string values, 0 for none) escaped by a backslash, and in strict mode
// newlines and carriage returns as \n and \r. Runs of bytes that need
// nothing are copied whole, found 8 bytes at a time.
func (e *cefEncoder) escape(dst, s []byte, special byte) []byte {
	set := &e.escPlain
	switch special {
	case '|':
		set = &e.escHeader
	case '=':
		set = &e.escValue
	}
	if set.n == 0 {
		return append(dst, s...)
	}
	start, i := 0, 0
	base := unsafe.Pointer(unsafe.SliceData(s))
	for {
		// Jump to the next byte of the set: the first marked byte of a
		// word is exact; the last few bytes go through the table. The
		// word is read without a bounds check (i+8 <= len(s)).
		for i+8 <= len(s) {
			if m := set.inWord(binary.LittleEndian.Uint64((*[8]byte)(unsafe.Add(base, i))[:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				goto found
			}
			i += 8
		}
		for i < len(s) && !set.tab[s[i]] {
			i++
		}
		if i == len(s) {
			return append(dst, s[start:]...)
		}
	found:
		c := s[i]
		dst = append(dst, s[start:i]...)
		switch c {
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', c)
		}
		i++
		start = i
	}
}

// escapeSet is the set of bytes escape rewrites.
type escapeSet struct {
	tab  [256]bool
	pats [4]uint64 // each byte of the set repeated 8 times
	n    int
}

// newEscapeSet holds special and backslash (when special is not 0) and, in
// strict mode, newline and carriage return.
func newEscapeSet(special byte, strict bool) escapeSet {
	var s escapeSet
	add := func(c byte) {
		s.tab[c] = true
		s.pats[s.n] = lsb * uint64(c)
		s.n++
	}
	if special != 0 {
		add(special)
		add('\\')
	}
	if strict {
		add('\n')
		add('\r')
	}
	for i := s.n; i < len(s.pats); i++ {
		s.pats[i] = s.pats[0]
	}
	return s
}

// inWord marks (with its top bit) the first byte of w that is in the set,
// and maybe later ones ("has a zero byte" on w XOR each repeated byte: a
// borrow only marks bytes after a true one); 0 when none is. Unused
// patterns repeat the first.
func (s *escapeSet) inWord(w uint64) uint64 {
	a, b := w^s.pats[0], w^s.pats[1]
	m := (a-lsb)&^a | (b-lsb)&^b
	if s.n > 2 { // strict mode's \n and \r
		c, d := w^s.pats[2], w^s.pats[3]
		m |= (c-lsb)&^c | (d-lsb)&^d
	}
	return m & msb
}

// flatten is the script's flatten_json on the record dict: nested dicts
// become keys joined with "_" (an empty dict disappears), everything else,
// lists included, stays one value. A key produced twice keeps its first
// position and its last value, as the script's out dict does.
func (o *official) flatten() {
	o.idx.reset()
	for i := range o.ents {
		ent := &o.ents[i]
		if ent.dead {
			continue
		}
		if o.kind(ent) == '{' {
			ns := len(o.arena)
			o.arena = append(o.arena, o.arena[ent.ka:ent.kb]...)
			o.arena = append(o.arena, '_')
			o.flattenObj(ent.n, ns, len(o.arena))
			continue
		}
		o.flat = o.setIndexedSig(o.flat, &o.flatSeen, ent.ka, ent.kb, ent.sig, *ent)
	}
}

// flattenObj flattens the members of obj under the prefix arena[ns:ne]
// (which ends with "_").
func (o *official) flattenObj(obj int32, ns, ne int) {
	t := &o.t
	start := o.p.dictMembers(obj)
	for j := start; j < len(o.p.stack); j++ {
		m := o.p.stack[j]
		ks := len(o.arena)
		o.arena = append(o.arena, o.arena[ns:ne]...)
		o.arena = t.appendStrText(o.arena, m.key)
		if t.kind(m.val) == '{' {
			o.arena = append(o.arena, '_')
			o.flattenObj(m.val, ks, len(o.arena))
			continue
		}
		o.flat = o.setIndexed(o.flat, &o.flatSeen, int32(ks), int32(len(o.arena)), entry{n: m.val})
	}
	o.p.pop(start)
}
