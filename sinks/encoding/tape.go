package encoding

import (
	"encoding/binary"
	"unsafe"

	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// tape is an item parsed in one pass: every JSON value becomes a node, in
// document order, that knows where its text is and where its subtree ends.
// The encoders then walk members and elements, and skip whole subtrees,
// without scanning the text again; the old way walked a nested object once
// per level it was nested in. The parse validates exactly what
// rawjson.EachMember does, so an item is accepted or rejected as before.
//
// Layout: an object's node is followed by its members, each a key node and
// then the value's subtree; an array's node by its elements. node.next is
// the index just past the subtree, so
//
//	for k := n + 1; k < t.nodes[n].next; k = t.nodes[k+1].next { key k, value k+1 }
//	for v := n + 1; v < t.nodes[n].next; v = t.nodes[v].next    { element v }
//
// Node 0 is the parsed value itself (the item), never a member's value.
type tape struct {
	raw   []byte
	nodes []node
}

// node is one JSON value: raw[s:e] is its text (strings with their quotes).
type node struct {
	s, e  int32
	next  int32
	kind  byte // the text's first byte: '"', '{', '[', 't', 'f', 'n', or '0' for numbers
	flags byte // strings only: strEsc, strHigh
}

const (
	strEsc  = 1 << iota // the string has a backslash escape
	strHigh             // the string has a byte >= 0x80 (maybe invalid UTF-8)
)

// maxTapeDepth is rawjson's nesting limit: a container nested this deep is
// a syntax error there, so it is one here.
const maxTapeDepth = 512

// parseItem parses raw as one JSON object with only space around it, the
// input every encoder accepts; false means rawjson would reject it too
// (itemError then gives the exact error).
func (t *tape) parseItem(raw []byte) bool {
	t.raw = raw
	t.nodes = t.nodes[:0]
	if len(raw) > 1<<31-1 {
		return false
	}
	i := rawjson.SkipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	end, ok := t.value(i, 0)
	return ok && rawjson.SkipSpace(raw, end) == len(raw)
}

// parseValue parses raw as one JSON value of any kind with only space
// around it.
func (t *tape) parseValue(raw []byte) bool {
	t.raw = raw
	t.nodes = t.nodes[:0]
	if len(raw) > 1<<31-1 {
		return false
	}
	end, ok := t.value(0, 0)
	return ok && rawjson.SkipSpace(raw, end) == len(raw)
}

// itemError is the error the encoders returned for an item that parseItem
// rejects: rawjson's, with its offset and reason.
func itemError(raw []byte) error {
	if err := eachMember(raw, func(k, v []byte) {}); err != nil {
		return err
	}
	return rawjson.ErrSyntax // not reached: both parsers accept the same input
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

// value parses the value at raw[i:] (leading space allowed) at nesting
// depth depth, appending its nodes; it returns the end offset.
func (t *tape) value(i, depth int) (int, bool) {
	raw := t.raw
	for i < len(raw) && isJSONSpace(raw[i]) {
		i++
	}
	if i >= len(raw) {
		return i, false
	}
	idx := len(t.nodes)
	t.nodes = append(t.nodes, node{s: int32(i)})
	c := raw[i]
	var ok bool
	switch {
	case c == '"':
		var flags byte
		i, flags, ok = scanString(raw, i)
		t.nodes[idx].flags = flags
	case c == '{':
		i, ok = t.object(i, depth)
	case c == '[':
		i, ok = t.array(i, depth)
	case c == 't':
		i, ok = literal(raw, i, "true")
	case c == 'f':
		i, ok = literal(raw, i, "false")
	case c == 'n':
		i, ok = literal(raw, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		i, ok = number(raw, i)
		c = '0'
	}
	if !ok {
		return i, false
	}
	n := &t.nodes[idx]
	n.e, n.next, n.kind = int32(i), int32(len(t.nodes)), c
	return i, true
}

func (t *tape) object(i, depth int) (int, bool) {
	raw := t.raw
	if depth >= maxTapeDepth {
		return i, false
	}
	i++
	for i < len(raw) && isJSONSpace(raw[i]) {
		i++
	}
	if i < len(raw) && raw[i] == '}' {
		return i + 1, true
	}
	for {
		for i < len(raw) && isJSONSpace(raw[i]) {
			i++
		}
		if i >= len(raw) || raw[i] != '"' {
			return i, false
		}
		ks := i
		end, flags, ok := scanString(raw, i)
		if !ok {
			return i, false
		}
		t.nodes = append(t.nodes, node{s: int32(ks), e: int32(end), next: int32(len(t.nodes) + 1), kind: '"', flags: flags})
		i = end
		for i < len(raw) && isJSONSpace(raw[i]) {
			i++
		}
		if i >= len(raw) || raw[i] != ':' {
			return i, false
		}
		if i, ok = t.value(i+1, depth+1); !ok {
			return i, false
		}
		for i < len(raw) && isJSONSpace(raw[i]) {
			i++
		}
		if i >= len(raw) {
			return i, false
		}
		if raw[i] == '}' {
			return i + 1, true
		}
		if raw[i] != ',' {
			return i, false
		}
		i++
	}
}

func (t *tape) array(i, depth int) (int, bool) {
	raw := t.raw
	if depth >= maxTapeDepth {
		return i, false
	}
	i++
	for i < len(raw) && isJSONSpace(raw[i]) {
		i++
	}
	if i < len(raw) && raw[i] == ']' {
		return i + 1, true
	}
	for {
		var ok bool
		if i, ok = t.value(i, depth+1); !ok {
			return i, false
		}
		for i < len(raw) && isJSONSpace(raw[i]) {
			i++
		}
		if i >= len(raw) {
			return i, false
		}
		if raw[i] == ']' {
			return i + 1, true
		}
		if raw[i] != ',' {
			return i, false
		}
		i++
	}
}

func literal(raw []byte, i int, lit string) (int, bool) {
	if len(raw)-i < len(lit) || string(raw[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

func number(raw []byte, i int) (int, bool) {
	if raw[i] == '-' {
		i++
	}
	if i < len(raw) && raw[i] == '0' {
		i++
	} else {
		d := i
		for i < len(raw) && raw[i] >= '0' && raw[i] <= '9' {
			i++
		}
		if i == d {
			return i, false
		}
	}
	if i < len(raw) && raw[i] == '.' {
		i++
		d := i
		for i < len(raw) && raw[i] >= '0' && raw[i] <= '9' {
			i++
		}
		if i == d {
			return i, false
		}
	}
	if i < len(raw) && (raw[i] == 'e' || raw[i] == 'E') {
		i++
		if i < len(raw) && (raw[i] == '+' || raw[i] == '-') {
			i++
		}
		d := i
		for i < len(raw) && raw[i] >= '0' && raw[i] <= '9' {
			i++
		}
		if i == d {
			return i, false
		}
	}
	return i, true
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// hasSpecial reports whether any byte of w is '"', '\\' or below 0x20
// (rawjson's test; the borrow tricks are exact for "any byte").
func hasSpecial(w uint64) bool {
	quote := w ^ (lsb * '"')
	bslash := w ^ (lsb * '\\')
	return ((quote-lsb)&^quote|(bslash-lsb)&^bslash|(w-lsb*0x20)&^w)&msb != 0
}

// scanString validates the string at raw[i] (raw[i] == '"') as rawjson
// does and returns its end offset and flags.
func scanString(raw []byte, i int) (int, byte, bool) {
	var flags byte
	var high uint64
	i++
	for i < len(raw) {
		for i+8 <= len(raw) {
			w := binary.LittleEndian.Uint64(raw[i:])
			if hasSpecial(w) {
				break
			}
			high |= w
			i += 8
		}
		if i >= len(raw) {
			break
		}
		c := raw[i]
		switch {
		case c == '"':
			if high&msb != 0 {
				flags |= strHigh
			}
			return i + 1, flags, true
		case c == '\\':
			if i+1 >= len(raw) {
				return i, 0, false
			}
			flags |= strEsc
			switch raw[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(raw)-i < 6 || !isHex4(raw[i+2:i+6]) {
					return i, 0, false
				}
				i += 6
			default:
				return i, 0, false
			}
		case c < 0x20:
			return i, 0, false
		default:
			if c >= 0x80 {
				flags |= strHigh
			}
			i++
		}
	}
	return i, 0, false
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// text returns node n's JSON text.
func (t *tape) text(n int32) []byte {
	nd := &t.nodes[n]
	return t.raw[nd.s:nd.e:nd.e]
}

// inner returns string node n's text without its quotes.
func (t *tape) inner(n int32) []byte {
	nd := &t.nodes[n]
	return t.raw[nd.s+1 : nd.e-1 : nd.e-1]
}

// kind returns node n's kind; node 0 stands for "no value" where a value
// index is optional, so callers check n != 0 first.
func (t *tape) kind(n int32) byte { return t.nodes[n].kind }

// keyName returns key node n's text between the quotes, as written
// (escapes unresolved), as a string sharing the item's memory.
func (t *tape) keyName(n int32) string {
	b := t.inner(n)
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// keyIs is rawjson.KeyEquals for key node n: the text as written, or for a
// key with escapes its decoded text, equals name.
func (t *tape) keyIs(n int32, name string) bool {
	if t.nodes[n].flags&strEsc == 0 {
		return t.keyName(n) == name
	}
	return rawjson.KeyEquals(t.text(n), name)
}

// lastMember returns the value node of the last member of object node obj
// whose key is name (rawjson.KeyEquals), or 0 when obj is 0, not an
// object, or has no such key.
func (t *tape) lastMember(obj int32, name string) int32 {
	if obj == 0 || t.nodes[obj].kind != '{' {
		return 0
	}
	var found int32
	for k, end := obj+1, t.nodes[obj].next; k < end; k = t.nodes[k+1].next {
		if t.keyIs(k, name) {
			found = k + 1
		}
	}
	return found
}

// valueText returns node n's text, nil for n == 0 (absent).
func (t *tape) valueText(n int32) []byte {
	if n == 0 {
		return nil
	}
	return t.text(n)
}

// members returns the range of object node obj's first key node and its
// end, for the loop
//
//	for k, end := t.members(obj); k < end; k = t.nodes[k+1].next { key k, value k+1 }
//
// An absent (0) or non-object node gives an empty range.
func (t *tape) members(obj int32) (int32, int32) {
	if obj == 0 || t.nodes[obj].kind != '{' {
		return 0, 0
	}
	return obj + 1, t.nodes[obj].next
}

// itemMembers is members for the item itself (node 0).
func (t *tape) itemMembers() (int32, int32) { return 1, t.nodes[0].next }
