package encoding

import (
	"bytes"
	"fmt"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// pyJSONEncoder writes the API item as the seed ("Sophos API Connect")
// wrote it into its JSON file: Python's json.dump defaults applied to what
// json.loads made of the item — separators ", " and ": ", ensure_ascii
// (every character outside space..~, DEL included, as a lower-case \uXXXX
// escape, astral ones as a surrogate pair), key order kept, a repeated key
// at its first position with its last value, numbers as Python prints them
// (1.50 → 1.5, 1e3 → 1000.0). Nothing is added or renamed.
//
// One deliberate difference, for input the API does not send: a float
// beyond the double range is written as the API wrote it (Python would
// write Infinity, which no JSON reader accepts).
type pyJSONEncoder struct {
	t tape
	p py
}

func (e *pyJSONEncoder) Append(dst []byte, r *pipeline.Record) ([]byte, error) {
	if !e.t.parseItem(r.Raw) {
		return dst, fmt.Errorf("python-json: record %q: %w", r.ID, itemError(r.Raw))
	}
	e.p.t = &e.t
	e.p.ascii = true
	return e.p.value(dst, 0, true), nil
}

// appendJSONStrASCII appends string node n as appendJSONStringASCII writes
// its text: a string with neither an escape nor a byte outside ASCII is
// written as it is (raw control characters cannot occur in valid JSON),
// unless it holds DEL.
func (t *tape) appendJSONStrASCII(dst []byte, n int32) []byte {
	nd := &t.nodes[n]
	q := t.raw[nd.s:nd.e]
	if nd.flags == 0 && bytes.IndexByte(q, 0x7f) < 0 {
		return append(dst, q...)
	}
	return appendJSONStringASCII(dst, jsonText(q))
}

// appendJSONStringASCII appends t as Python's json.dumps (ensure_ascii=True)
// writes a str: \" \\ \n \r \t \b \f by name, every other character below
// U+0020 or above U+007E as \u00xx / \uxxxx (lower-case hex), characters
// beyond U+FFFF as a surrogate pair, a lone surrogate as itself.
func appendJSONStringASCII(dst []byte, t text) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(t.b); {
		r, n := t.next(i)
		i += n
		switch {
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\n':
			dst = append(dst, '\\', 'n')
		case r == '\r':
			dst = append(dst, '\\', 'r')
		case r == '\t':
			dst = append(dst, '\\', 't')
		case r == '\b':
			dst = append(dst, '\\', 'b')
		case r == '\f':
			dst = append(dst, '\\', 'f')
		case r >= 0x20 && r < 0x7f:
			dst = append(dst, byte(r))
		case r > 0xffff:
			r -= 0x10000
			dst = appendU4(dst, 0xd800|(r>>10))
			dst = appendU4(dst, 0xdc00|(r&0x3ff))
		default:
			dst = appendU4(dst, r)
		}
	}
	return append(dst, '"')
}

func appendU4(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', lowerHex[r>>12&0xf], lowerHex[r>>8&0xf], lowerHex[r>>4&0xf], lowerHex[r&0xf])
}
