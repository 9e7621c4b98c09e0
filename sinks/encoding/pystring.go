package encoding

import (
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// This file decodes string text the way Python sees it after json.loads and
// writes it back the ways the official script and the seed print strings:
// json.dumps(ensure_ascii=False), repr() and plain str().

// surrogate marks a lone UTF-16 surrogate decoded from a \uD8xx escape.
// Python keeps such a code point in its str; Go strings cannot hold it.
func isSurrogate(r rune) bool { return r >= 0xD800 && r <= 0xDFFF }

// text is string content to print: either the body of a JSON string literal
// as the API sent it (escapes unresolved, quotes stripped) or plain UTF-8.
type text struct {
	b    []byte
	json bool
}

func jsonText(quoted []byte) text { return text{b: quoted[1 : len(quoted)-1], json: true} }
func plainText(b []byte) text     { return text{b: b} }

// next decodes the character at t.b[i:]: JSON escapes resolved, a lone
// surrogate returned as its code point, invalid UTF-8 as utf8.RuneError
// (one byte).
func (t text) next(i int) (rune, int) {
	c := t.b[i]
	if c < utf8.RuneSelf {
		if c != '\\' || !t.json {
			return rune(c), 1
		}
		return jsonEscape(t.b[i:])
	}
	return utf8.DecodeRune(t.b[i:])
}

// jsonEscape decodes the escape at the start of s (s[0] == '\\'). The input
// was validated by rawjson, so only well-formed escapes occur.
func jsonEscape(s []byte) (rune, int) {
	if len(s) < 2 {
		return utf8.RuneError, len(s)
	}
	switch s[1] {
	case 'b':
		return '\b', 2
	case 'f':
		return '\f', 2
	case 'n':
		return '\n', 2
	case 'r':
		return '\r', 2
	case 't':
		return '\t', 2
	case 'u':
		r, ok := hex4(s[2:])
		if !ok {
			return utf8.RuneError, len(s)
		}
		if utf16.IsSurrogate(r) && r < 0xDC00 && len(s) >= 12 && s[6] == '\\' && s[7] == 'u' {
			if r2, ok := hex4(s[8:]); ok && r2 >= 0xDC00 && r2 <= 0xDFFF {
				return utf16.DecodeRune(r, r2), 12
			}
		}
		return r, 6
	default: // " \ /
		return rune(s[1]), 2
	}
}

func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// plainASCII reports whether b has only printable ASCII other than quotes and
// backslashes: such text prints the same in every form.
func plainASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x7f || c == '\\' || c == '"' || c == '\'' {
			return false
		}
	}
	return true
}

// appendUTF8 appends r, writing U+FFFD for a lone surrogate (Python would
// fail to encode it to UTF-8 at all).
func appendUTF8(dst []byte, r rune) []byte {
	if isSurrogate(r) {
		r = utf8.RuneError
	}
	return utf8.AppendRune(dst, r)
}

// appendStr appends the decoded text (Python's str of a str). Runs of
// ASCII without escapes are copied whole; escapes and non-ASCII go through
// next, so invalid UTF-8 and lone surrogates become U+FFFD.
func appendStr(dst []byte, t text) []byte {
	if !t.json || plainASCII(t.b) {
		if t.json || utf8.Valid(t.b) {
			return append(dst, t.b...)
		}
	}
	b := t.b
	for i := 0; i < len(b); {
		j := i
		for j < len(b) && b[j] < utf8.RuneSelf && (b[j] != '\\' || !t.json) {
			j++
		}
		dst = append(dst, b[i:j]...)
		if j == len(b) {
			break
		}
		r, n := t.next(j)
		dst = appendUTF8(dst, r)
		i = j + n
	}
	return dst
}

const lowerHex = "0123456789abcdef"

// namedEscape is the letter after the backslash for the characters both of
// Python's json.dumps modes escape by name (0: none).
var namedEscape = [0x80]byte{'"': '"', '\\': '\\', '\n': 'n', '\r': 'r', '\t': 't', '\b': 'b', '\f': 'f'}

// appendJSONString appends t as Python's json.dumps(ensure_ascii=False)
// writes a str: only ", \ and control characters below U+0020 are escaped
// (\n \r \t \b \f by name, the rest as \u00xx); /, <, >, &, DEL and
// U+2028/U+2029 are written as they are.
func appendJSONString(dst []byte, t text) []byte {
	dst = append(dst, '"')
	b := t.b
	for i := 0; i < len(b); {
		// a run written as it is: printable ASCII and DEL but " and \
		j := i
		for j < len(b) && b[j] >= 0x20 && b[j] < utf8.RuneSelf && b[j] != '"' && b[j] != '\\' {
			j++
		}
		dst = append(dst, b[i:j]...)
		if i = j; i == len(b) {
			break
		}
		r, n := t.next(i)
		i += n
		switch {
		case r < 0x80 && namedEscape[r] != 0:
			dst = append(dst, '\\', namedEscape[r])
		case r < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', lowerHex[r>>4], lowerHex[r&0xf])
		default:
			dst = appendUTF8(dst, r)
		}
	}
	return append(dst, '"')
}

// appendRepr appends Python's repr() of a str: single quotes unless the text
// has ' and no ", backslash escapes for \\, \n, \r, \t and the quote, \xhh
// for other control characters and DEL, printable non-ASCII as is and
// \xhh / \uhhhh / \Uhhhhhhhh for the rest. Runs of printable ASCII are
// copied whole.
func appendRepr(dst []byte, t text) []byte {
	if plainASCII(t.b) {
		dst = append(dst, '\'')
		dst = append(dst, t.b...)
		return append(dst, '\'')
	}
	// Which quotes the decoded text holds: only an ASCII byte or an escape
	// can be one (every byte of a multi-byte character is >= 0x80).
	squote, dquote := false, false
	for i := 0; i < len(t.b); {
		c := t.b[i]
		if c == '\\' && t.json {
			r, n := jsonEscape(t.b[i:])
			squote = squote || r == '\''
			dquote = dquote || r == '"'
			i += n
			continue
		}
		squote = squote || c == '\''
		dquote = dquote || c == '"'
		i++
	}
	quote := byte('\'')
	if squote && !dquote {
		quote = '"'
	}
	dst = append(dst, quote)
	for i := 0; i < len(t.b); {
		j := i
		for j < len(t.b) {
			if c := t.b[j]; c < 0x20 || c >= 0x7f || c == quote || c == '\\' {
				break
			}
			j++
		}
		dst = append(dst, t.b[i:j]...)
		if j == len(t.b) {
			break
		}
		r, n := t.next(j)
		i = j + n
		switch {
		case r == rune(quote) || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\t':
			dst = append(dst, '\\', 't')
		case r == '\n':
			dst = append(dst, '\\', 'n')
		case r == '\r':
			dst = append(dst, '\\', 'r')
		case r < 0x20 || r == 0x7f:
			dst = append(dst, '\\', 'x', lowerHex[r>>4], lowerHex[r&0xf])
		case r < 0x7f:
			dst = append(dst, byte(r))
		case pyPrintable(r):
			dst = utf8.AppendRune(dst, r)
		case r < 0x100:
			dst = append(dst, '\\', 'x', lowerHex[r>>4], lowerHex[r&0xf])
		case r < 0x10000:
			dst = append(dst, '\\', 'u', lowerHex[r>>12&0xf], lowerHex[r>>8&0xf], lowerHex[r>>4&0xf], lowerHex[r&0xf])
		default:
			dst = append(dst, '\\', 'U', '0', '0', lowerHex[r>>20&0xf], lowerHex[r>>16&0xf],
				lowerHex[r>>12&0xf], lowerHex[r>>8&0xf], lowerHex[r>>4&0xf], lowerHex[r&0xf])
		}
	}
	return append(dst, quote)
}

// pyPrintable is Python's str.isprintable for one non-ASCII character:
// false for categories Cc, Cf, Cs, Co, Cn (unassigned), Zl, Zp and Zs.
// Go's tables (Unicode 15.0) stand in for Python's; they differ only on
// characters assigned between the two versions.
func pyPrintable(r rune) bool {
	if isSurrogate(r) {
		return false
	}
	if unicode.In(r, unicode.C, unicode.Z) {
		return false
	}
	return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S)
}

// pyIsSpace is Python's str.isspace for one character: Unicode White_Space
// plus the information separators U+001C..U+001F.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f
}
