package rawjson

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// The scanning primitives below are shared by every parser of item text
// (this package's, the page decode's and the encoders' tape): they skip
// white space and string text 8 bytes at a time.

// What ScanStringFlags found in a string's body.
const (
	Escaped  = 1 << iota // a backslash escape
	NonASCII             // a byte >= 0x80 (maybe invalid UTF-8)
)

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// isSpace is JSON's white space as a table: one load per byte instead of
// four compares.
var isSpace = [256]bool{' ': true, '\n': true, '\r': true, '\t': true}

// SkipSpace returns the index of the first non-space byte at or after i.
// After a newline it skips the indentation 8 bytes at a time (items are
// often pretty-printed). Most calls find no space at all: a byte above ' '
// ends the loop with one compare, before the table.
func SkipSpace(data []byte, i int) int {
	for i < len(data) && data[i] <= ' ' && isSpace[data[i]] {
		i++
		if i+8 <= len(data) && data[i-1] == '\n' {
			i = skipIndent(data, i)
		}
	}
	return i
}

// skipIndent skips the spaces at data[i:] (i+8 <= len(data)) 8 at a time:
// the run ends at the first non-zero byte of a word XOR eight spaces.
func skipIndent(data []byte, i int) int {
	for ; i+8 <= len(data); i += 8 {
		if x := binary.LittleEndian.Uint64(data[i:]) ^ (lsb * ' '); x != 0 {
			return i + bits.TrailingZeros64(x)>>3
		}
	}
	return i
}

// SpecialBits marks (with its top bit) the first byte of w that is '"',
// '\\' or below 0x20, and maybe later ones; 0 when w has none. These are
// the "has zero byte" / "has less than" tricks: exact for the lowest such
// byte, a borrow can only mark bytes after it. Each test's usual "and not
// the byte itself" is applied once: w XOR '"' (or '\\') has w's top bit.
func SpecialBits(w uint64) uint64 {
	quote := w ^ (lsb * '"')
	bslash := w ^ (lsb * '\\')
	return ((quote - lsb) | (bslash - lsb) | (w - lsb*0x20)) &^ w & msb
}

// ScanStringFlags validates the JSON string at data[i] (data[i] == '"')
// and returns its end offset and flags (Escaped, NonASCII). It jumps from
// special byte ('"', '\\' or a control character) to special byte, 8 bytes
// at a time: one unpredictable branch per string, not one per byte of its
// last word. When the string is invalid, ok is false and end is the offset
// of the offending byte: the backslash of a bad escape, a control
// character, or len(data) when the string is not closed.
func ScanStringFlags(data []byte, i int) (end int, flags byte, ok bool) {
	var high uint64 // the plain bytes ORed: bit 7 set means one is >= 0x80
	base := unsafe.Pointer(unsafe.SliceData(data))
	i++
	for {
		for i+8 <= len(data) {
			// The word at i, without a bounds check (i+8 <= len(data)).
			w := binary.LittleEndian.Uint64((*[8]byte)(unsafe.Add(base, i))[:])
			if m := SpecialBits(w); m != 0 {
				// m^(m-1) keeps the bytes before the special one (whose
				// own top bit is 0): the plain bytes of this word.
				high |= w & (m ^ (m - 1))
				i += bits.TrailingZeros64(m) >> 3
				goto special
			}
			high |= w
			i += 8
		}
		for ; i < len(data); i++ {
			c := data[i]
			if c == '"' || c == '\\' || c < 0x20 {
				goto special
			}
			high |= uint64(c)
		}
		return i, 0, false
	special:
		switch data[i] {
		case '"':
			if high&msb != 0 {
				flags |= NonASCII
			}
			return i + 1, flags, true
		case '\\':
			if i+1 >= len(data) {
				return i, 0, false
			}
			flags |= Escaped
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(data)-i < 6 || !isHex4(data[i+2:i+6]) {
					return i, 0, false
				}
				i += 6
			default:
				return i, 0, false
			}
		default: // a control character
			return i, 0, false
		}
	}
}

// ScanString returns the end offset of the JSON string starting at data[i]
// ('"') and whether it is plain: no escapes and only ASCII, so its text is
// exactly the bytes between the quotes (see PlainView).
func ScanString(data []byte, i int) (end int, plain bool, err error) {
	end, flags, ok := ScanStringFlags(data, i)
	if !ok {
		return i, false, stringErr(data, i, end)
	}
	return end, flags == 0, nil
}

// stringErr says why ScanStringFlags refused the string at data[start]:
// bad is the offending byte's offset.
func stringErr(data []byte, start, bad int) error {
	switch {
	case bad >= len(data):
		return syntaxErr(start, "unterminated string")
	case data[bad] != '\\':
		return syntaxErr(bad, "control character in string")
	case bad+1 >= len(data):
		return syntaxErr(bad, "unterminated escape")
	case data[bad+1] == 'u':
		return syntaxErr(bad, "invalid \\u escape")
	}
	return syntaxErr(bad, "invalid escape")
}
