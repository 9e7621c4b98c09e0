package encoding

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// jsonw writes a JSON object member by member into b, placing the commas:
// the OCSF and ASIM encoders build their documents with it in one pass,
// without maps or reflection.
type jsonw struct {
	b     []byte
	comma bool   // the next member needs a comma
	stack []bool // comma state of the enclosing containers
}

func (w *jsonw) reset(dst []byte) {
	w.b, w.comma, w.stack = dst, false, w.stack[:0]
}

// key writes the member name (a plain ASCII name, written as is). The
// buffer is a local while it grows: through w every append would load and
// store its header again (this is the writers' most frequent call).
func (w *jsonw) key(k string) {
	b := w.b
	if w.comma {
		b = append(b, ',', '"')
	} else {
		b = append(b, '"')
	}
	b = append(b, k...)
	w.b = append(b, '"', ':')
	w.comma = true
}

// open starts a nested object member (k "" inside an array: an element).
func (w *jsonw) open(k string) { w.push(k, '{') }

// openArray starts an array member.
func (w *jsonw) openArray(k string) { w.push(k, '[') }

func (w *jsonw) push(k string, c byte) {
	if k != "" {
		w.key(k)
	} else if w.comma {
		w.b = append(w.b, ',')
	}
	w.stack = append(w.stack, true)
	w.b = append(w.b, c)
	w.comma = false
}

// close ends the innermost object or array.
func (w *jsonw) close(c byte) {
	w.b = append(w.b, c)
	w.stack = w.stack[:len(w.stack)-1]
	w.comma = true
}

// raw writes a member whose value is JSON text already.
func (w *jsonw) raw(k string, v []byte) {
	w.key(k)
	w.b = append(w.b, v...)
}

// rawLit is raw for a literal.
func (w *jsonw) rawLit(k, v string) {
	w.key(k)
	w.b = append(w.b, v...)
}

// str writes a string member, escaping s.
func (w *jsonw) str(k, s string) {
	w.key(k)
	w.b = appendQuoted(w.b, s)
}

// strAt is str for s that may be string node n's own text (a record
// field): then its JSON text is copied, not scanned again.
func (w *jsonw) strAt(k string, t *tape, n int32, s string) {
	if q := t.quotedOf(n, s); q != nil {
		w.raw(k, q)
		return
	}
	w.str(k, s)
}

// lit writes a string member whose value is a constant that needs no
// escaping (printable ASCII without " and \).
func (w *jsonw) lit(k, v string) {
	w.key(k)
	b := append(w.b, '"')
	b = append(b, v...)
	w.b = append(b, '"')
}

// strb is str for bytes (not retained).
func (w *jsonw) strb(k string, s []byte) {
	w.str(k, unsafe.String(unsafe.SliceData(s), len(s)))
}

// elemStr writes an array element string.
func (w *jsonw) elemStr(s string) {
	if w.comma {
		w.b = append(w.b, ',')
	}
	w.b = appendQuoted(w.b, s)
	w.comma = true
}

// elemRaw writes an array element that is JSON text already.
func (w *jsonw) elemRaw(v []byte) {
	if w.comma {
		w.b = append(w.b, ',')
	}
	w.b = append(w.b, v...)
	w.comma = true
}

// AppendQuoted is appendQuoted for the sinks that write JSON of their own
// (sentinel's rows): s as a JSON string, escaped as rawjson.AppendString
// escapes it, its plain runs found 8 bytes at a time.
func AppendQuoted(dst []byte, s string) []byte { return appendQuoted(dst, s) }

// AppendQuotedBytes is AppendQuoted of b's text (google_secops' v2
// log_text), without copying it into a string.
func AppendQuotedBytes(dst, b []byte) []byte { return appendQuoted(dst, unsafeString(b)) }

// appendQuoted is rawjson.AppendString (encoding/json's escaping without
// HTML escaping): runs of bytes written as they are (printable ASCII but "
// and \) are found 8 bytes at a time and copied whole, and valid UTF-8 is
// copied a character at a time; TestAppendQuotedMatchesRawjson holds the
// two together.
func appendQuoted(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for {
		i := plainPrefix(s)
		dst = append(dst, s[:i]...)
		if i == len(s) {
			return append(dst, '"')
		}
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			s = s[i+1:]
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		s = s[i+size:]
	}
}

// plainPrefix is the length of s's leading run of printable ASCII other
// than " and \. notPlainBits marks its first other byte exactly.
func plainPrefix(s string) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[i:]), 8))
		if m := notPlainBits(w); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	if i < len(s) && len(s) >= 8 {
		// The last word, overlapping the clean bytes before i (which mark
		// nothing: only a special byte starts a borrow).
		j := len(s) - 8
		w := binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[j:]), 8))
		if m := notPlainBits(w) >> (8 * (i - j)); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		return len(s)
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			break
		}
	}
	return i
}

// notPlainBits is specialBits(w) | w&msb, a byte >= 0x80 marked by its own
// top bit, in fewer steps: specialBits' tests before their common "and not
// w" (a byte >= 0x80 marks itself either way).
func notPlainBits(w uint64) uint64 {
	quote, bslash := w^(lsb*'"'), w^(lsb*'\\')
	return ((quote - lsb) | (bslash - lsb) | (w - lsb*0x20) | w) & msb
}

// int writes an integer member.
func (w *jsonw) int(k string, v int64) {
	w.key(k)
	w.b = strconv.AppendInt(w.b, v, 10)
}

// strView returns string node n's decoded text, nil when n is absent or
// not a string. Text without escapes is a view of the item; decoded text
// is appended to *arena (reset per record by the caller), so every view
// stays valid until then.
func (t *tape) strView(arena *[]byte, n int32) []byte {
	if n == 0 || t.nodes[n].kind != '"' {
		return nil
	}
	nd := &t.nodes[n]
	inner := t.raw[nd.s+1 : nd.e-1 : nd.e-1]
	if nd.flags == 0 || nd.flags == strHigh && utf8.Valid(inner) {
		return inner
	}
	start := len(*arena)
	ok := false
	if nd.flags == strEsc {
		*arena, ok = appendUnescaped(*arena, inner)
	}
	if !ok {
		*arena = appendStr(*arena, jsonText(t.raw[nd.s:nd.e]))
	}
	return (*arena)[start:len(*arena):len(*arena)]
}

// appendCompact appends node n's JSON text without the space between
// tokens (the item may be pretty-printed; a line format needs one line).
// Strings and numbers are copied as they are.
func (t *tape) appendCompact(dst []byte, n int32) []byte {
	nd := &t.nodes[n]
	switch nd.kind {
	case '{':
		dst = append(dst, '{')
		raw, nodes := t.raw, t.nodes
		for k, end := n+1, nd.next; k < end; k = nodes[k+1].next {
			if k != n+1 {
				dst = append(dst, ',')
			}
			kn, vn := &nodes[k], &nodes[k+1]
			dst = append(dst, raw[kn.s:kn.e]...)
			dst = append(dst, ':')
			if vn.kind == '{' || vn.kind == '[' {
				dst = t.appendCompact(dst, k+1)
			} else { // a leaf is its text: no call
				dst = append(dst, raw[vn.s:vn.e]...)
			}
		}
		return append(dst, '}')
	case '[':
		dst = append(dst, '[')
		for v := n + 1; v < nd.next; v = t.nodes[v].next {
			if v != n+1 {
				dst = append(dst, ',')
			}
			dst = t.appendCompact(dst, v)
		}
		return append(dst, ']')
	}
	return append(dst, t.raw[nd.s:nd.e]...)
}
