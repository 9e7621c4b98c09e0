package encoding

import (
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
	open  []int32 // parse scratch: the open containers
}

// node is one JSON value: raw[s:e] is its text (strings with their quotes).
type node struct {
	s, e  int32
	next  int32
	kind  byte // the text's first byte: '"', '{', '[', 't', 'f', 'n', or '0' for numbers
	flags byte // strings only: strEsc, strHigh
}

const (
	strEsc  = rawjson.Escaped  // the string has a backslash escape
	strHigh = rawjson.NonASCII // the string has a byte >= 0x80 (maybe invalid UTF-8)
)

// maxTapeDepth is rawjson's nesting limit: a container nested this deep is
// a syntax error there, so it is one here.
const maxTapeDepth = 512

// parseItem parses raw as one JSON object with only space around it, the
// input every encoder accepts; false means rawjson would reject it too
// (itemError then gives the exact error). Offsets are int32: an item of
// 2 GiB or more is rejected (no API page comes near).
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
	end, ok := t.value(i)
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

// value parses the value at raw[i:] (leading space allowed) and returns
// its end offset. It is one loop over an explicit stack of open containers
// (their node indices), not a recursion: the nodes slice then stays in a
// local variable, which is what makes the appends cheap. The grammar and
// the nesting limit are rawjson's: a container with maxTapeDepth open
// containers around it is rejected.
func (t *tape) value(i int) (int, bool) {
	raw := t.raw
	nodes := t.nodes
	open := t.open[:0]
	defer func() { t.nodes, t.open = nodes, open }()
	var (
		top   int32
		c     byte
		ok    bool
		flags byte
		s     int
	)
value:
	i = rawjson.SkipSpace(raw, i)
	if i >= len(raw) {
		return i, false
	}
	s = i
	switch c = raw[i]; {
	case c == '"':
		if i, flags, ok = rawjson.ScanStringFlags(raw, i); !ok {
			return i, false
		}
		nodes = pushNode(nodes, s, i, '"', flags)
		goto next
	case c == '{' || c == '[':
		if len(open) >= maxTapeDepth {
			return i, false
		}
		nodes = pushNode(nodes, s, 0, c, 0)
		i = rawjson.SkipSpace(raw, i+1)
		if i < len(raw) && raw[i] == c+2 { // '}' and ']' follow '{' and '[' by 2
			i++
			n := &nodes[len(nodes)-1]
			n.e, n.next = int32(i), int32(len(nodes))
			goto next
		}
		open = append(open, int32(len(nodes)-1))
		if c == '[' {
			goto value
		}
		goto key
	case c == 't':
		i, ok = literal(raw, i, "true")
	case c == 'f':
		i, ok = literal(raw, i, "false")
	case c == 'n':
		i, ok = literal(raw, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		i, ok = number(raw, i)
		c = '0'
	default:
		return i, false
	}
	if !ok {
		return i, false
	}
	nodes = pushNode(nodes, s, i, c, 0)
	goto next

key:
	i = rawjson.SkipSpace(raw, i)
	if i >= len(raw) || raw[i] != '"' {
		return i, false
	}
	s = i
	if i, flags, ok = rawjson.ScanStringFlags(raw, i); !ok {
		return i, false
	}
	nodes = pushNode(nodes, s, i, '"', flags)
	if i >= len(raw) || raw[i] != ':' { // the colon usually follows the key
		if i = rawjson.SkipSpace(raw, i); i >= len(raw) || raw[i] != ':' {
			return i, false
		}
	}
	i++
	goto value

next: // a value ended at i: continue or close the innermost open container
	if len(open) == 0 {
		return i, true
	}
	top = open[len(open)-1]
	if i >= len(raw) || raw[i] != ',' { // the comma usually follows the value
		if i = rawjson.SkipSpace(raw, i); i >= len(raw) {
			return i, false
		}
	}
	c = nodes[top].kind
	switch raw[i] {
	case ',':
		i++
		if c == '{' {
			goto key
		}
		goto value
	case c + 2:
		i++
		nodes[top].e, nodes[top].next = int32(i), int32(len(nodes))
		open = open[:len(open)-1]
		goto next
	}
	return i, false
}

// pushNode appends a leaf node for raw[s:e] (a container's e and next are
// set when it closes). The node is written field by field into the zeroed
// slot: a node literal is built on the stack with narrow stores and copied
// with a wide load, which the CPU cannot forward (a stall per node).
func pushNode(nodes []node, s, e int, kind, flags byte) []node {
	nodes = append(nodes, node{})
	n := &nodes[len(nodes)-1]
	n.s, n.e, n.next, n.kind, n.flags = int32(s), int32(e), int32(len(nodes)), kind, flags
	return nodes
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

// specialBits is rawjson.SpecialBits, the 8-byte test the string
// writers share with the parse.
func specialBits(w uint64) uint64 { return rawjson.SpecialBits(w) }

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
	nd := &t.nodes[n]
	if nd.flags&strEsc == 0 {
		// The lengths first: most keys a lookup meets are not name.
		return int(nd.e-nd.s-2) == len(name) && t.keyName(n) == name
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
	nodes := t.nodes
	for k, end := obj+1, nodes[obj].next; k < end; k = nodes[k+1].next {
		// A key without escapes of another length is not name: no call.
		if nd := &nodes[k]; nd.flags&strEsc == 0 && int(nd.e-nd.s-2) != len(name) {
			continue
		}
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
