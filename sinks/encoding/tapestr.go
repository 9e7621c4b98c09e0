package encoding

import (
	"bytes"
	"encoding/binary"
	"unicode/utf8"
	"unsafe"
)

// The string writers below copy a string node's text as it is whenever
// that gives exactly the bytes the decode-and-re-encode path (pystring.go)
// would write; the node's flags make the common case (no escape, ASCII)
// a plain copy without a scan.

// appendJSONStr appends string node n as appendJSONString writes its text
// (Python's json.dumps(ensure_ascii=False), the ECS form too).
func (t *tape) appendJSONStr(dst []byte, n int32) []byte {
	nd := &t.nodes[n]
	q := t.raw[nd.s:nd.e]
	if nd.flags == 0 || jsonVerbatim(q[1:len(q)-1], nd.flags) {
		return append(dst, q...)
	}
	return appendJSONString(dst, jsonText(q))
}

// jsonVerbatim reports whether appendJSONString writes the JSON string body
// inner (with the given flags) back unchanged: the text is valid UTF-8 and
// its only escapes are the ones appendJSONString itself writes (\" \\ \b \f
// \n \r \t; it turns \/ into / and resolves \u). Raw control characters
// cannot occur in validated JSON; DEL and non-ASCII are written as they are.
func jsonVerbatim(inner []byte, flags byte) bool {
	if flags&strEsc != 0 {
		for i := bytes.IndexByte(inner, '\\'); i >= 0; {
			if c := inner[i+1]; c == '/' || c == 'u' {
				return false
			}
			j := bytes.IndexByte(inner[i+2:], '\\')
			if j < 0 {
				break
			}
			i += 2 + j
		}
	}
	return flags&strHigh == 0 || utf8.Valid(inner)
}

// jsonVerbatimText is jsonVerbatim for a body without known flags. It
// skips 8 bytes at a time while they hold neither a backslash nor a byte
// >= 0x80: such a prefix is ASCII and not inside an escape, so the rest
// alone decides.
func jsonVerbatimText(inner []byte) bool {
	i := 0
	for ; i+8 <= len(inner); i += 8 {
		w := binary.LittleEndian.Uint64(inner[i:])
		bs := w ^ (lsb * '\\')
		if (w|(bs-lsb)&^bs)&msb != 0 {
			break
		}
	}
	rest := inner[i:]
	return jsonVerbatim(rest, stringFlags(rest))
}

// stringFlags computes a string body's flags where no node has them.
func stringFlags(inner []byte) byte {
	var f byte
	for _, c := range inner {
		if c == '\\' {
			f |= strEsc
		} else if c >= utf8.RuneSelf {
			f |= strHigh
		}
	}
	return f
}

// appendStrText appends string node n's decoded text (Python's str).
func (t *tape) appendStrText(dst []byte, n int32) []byte {
	nd := &t.nodes[n]
	inner := t.raw[nd.s+1 : nd.e-1]
	if nd.flags == 0 || nd.flags == strHigh && utf8.Valid(inner) {
		return append(dst, inner...)
	}
	if nd.flags == strEsc {
		if d, ok := appendUnescaped(dst, inner); ok {
			return d
		}
	}
	return appendStr(dst, jsonText(t.raw[nd.s:nd.e]))
}

// unescaped is the byte each one-letter JSON escape stands for (0: \u,
// or not an escape).
var unescaped = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// appendUnescaped is appendStr for the body of a validated ASCII JSON
// string (flags strEsc) whose escapes are all one-letter ones: the runs
// between backslashes are copied whole. false (dst unchanged) when a \u
// escape needs the general decoder.
func appendUnescaped(dst, s []byte) ([]byte, bool) {
	mark := len(dst)
	for {
		i := bytes.IndexByte(s, '\\')
		if i < 0 {
			return append(dst, s...), true
		}
		c := unescaped[s[i+1]] // validated: an escape has its letter
		if c == 0 {
			return dst[:mark], false
		}
		dst = append(dst, s[:i]...)
		dst = append(dst, c)
		s = s[i+2:]
	}
}

// appendReprStr appends Python's repr() of string node n. Text without
// escapes and non-ASCII is printable ASCII without a double quote, so only
// an apostrophe (which makes repr pick double quotes) or DEL changes it.
func (t *tape) appendReprStr(dst []byte, n int32) []byte {
	nd := &t.nodes[n]
	q := t.raw[nd.s:nd.e]
	if inner := q[1 : len(q)-1]; nd.flags == 0 && bytes.IndexByte(inner, 0x7f) < 0 {
		quote := byte('\'')
		if bytes.IndexByte(inner, '\'') >= 0 {
			quote = '"'
		}
		dst = append(dst, quote)
		dst = append(dst, inner...)
		return append(dst, quote)
	}
	return appendRepr(dst, jsonText(q))
}

// strOf returns string node n's text to print: the text itself when it
// needs no decoding, else its decoded form in buf (returned for reuse).
func (t *tape) strOf(buf []byte, n int32) ([]byte, []byte) {
	nd := &t.nodes[n]
	inner := t.raw[nd.s+1 : nd.e-1]
	if nd.flags == 0 || nd.flags == strHigh && utf8.Valid(inner) {
		return inner, buf
	}
	if nd.flags == strEsc {
		if d, ok := appendUnescaped(buf[:0], inner); ok {
			return d, d
		}
	}
	buf = appendStr(buf[:0], jsonText(t.raw[nd.s:nd.e]))
	return buf, buf
}

// quotedOf returns string node n's JSON text when s is that text itself
// (the same memory: DecodeRecord keeps a string without escapes as a view
// of the item) and it needs no escaping (no escapes, ASCII: appendQuoted
// would write it unchanged); nil otherwise, and the caller quotes s.
func (t *tape) quotedOf(n int32, s string) []byte {
	if n == 0 || len(s) == 0 {
		return nil
	}
	nd := &t.nodes[n]
	if nd.kind != '"' || nd.flags != 0 || int(nd.e-nd.s-2) != len(s) || unsafe.StringData(s) != &t.raw[nd.s+1] {
		return nil
	}
	return t.raw[nd.s:nd.e:nd.e]
}
