package encoding

import (
	"strings"
)

// The values the ecs documents are built of, shared by the encoder's
// document (sdoc, ecsdoc.go) and the interpreter's (odoc, odoc_test.go):
// a field's value refers to the item's tape or to the document's text
// buffer instead of holding a copy.

// okind is what a val holds.
type okind uint8

const (
	oDead  okind = iota // removed
	oObj                // an object: its members (sdoc: the slot's list; odoc: node's)
	oArr                // an array: its elements (sdoc: el[s..e]; odoc: node's)
	oTape               // a value of the item, tape node v.tape
	oText               // decoded text buf[v.s:v.e], written as a JSON string
	oLit                // JSON text litText[v.s:v.e], written as it is
	oInt                // v.int()
	oItems              // core_remedy items: the tape array v.tape with its members renamed
)

// val is a value: what a field is set to. It is kept small (no strings,
// no int64): documents are built of many of them.
type val struct {
	kind okind
	tape int32
	s, e int32 // oText: buf[s:e]; oLit: litText[s:e]; oInt: the low and high halves
	node int32 // odoc's oObj/oArr: the node holding the children
}

// litText holds the literals' JSON text (lit), written once at init.
var litText string

// lit returns the value written as JSON text s; only for package
// variables (it appends to litText).
func lit(s string) val {
	start := len(litText)
	litText += s
	return val{kind: oLit, s: int32(start), e: int32(len(litText))}
}

// The literals the pipelines set.
var (
	litTrue, litFalse = lit("true"), lit("false")
)

// int returns an oInt value's number.
func (v val) int() int64 { return int64(uint32(v.s)) | int64(v.e)<<32 }

func tapeVal(n int32) val { return val{kind: oTape, tape: n} }
func intVal(i int64) val  { return val{kind: oInt, s: int32(uint32(i)), e: int32(i >> 32)} }
func splitLast(path string) (string, string) {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i], path[i+1:]
	}
	return "", path
}

// remedyRenames are the foreach renames of core_remedy_items.items.
var remedyRenames = map[string]string{"sophosPid": "sophos_pid", "suspendResult": "suspend_result", "processPath": "process_path"}

// writeCleanTape is odoc.writeTape for tape t.
func writeCleanTape(t *tape, dst []byte, n int32, renames map[string]string) ([]byte, bool) {
	nd := &t.nodes[n]
	switch nd.kind {
	case 'n':
		return dst, false
	case '"':
		if nd.e-nd.s == 2 {
			return dst, false
		}
		return t.appendJSONStr(dst, n), true
	case '{':
		start := len(dst)
		dst = append(dst, '{')
		any := false
		for k, end := n+1, nd.next; k < end; k = t.nodes[k+1].next {
			if laterKey(t, k, end) {
				continue
			}
			mark := len(dst)
			if any {
				dst = append(dst, ',')
			}
			if to, ok := renames[t.keyName(k)]; ok && renames != nil {
				dst = appendKey(dst, to)
			} else {
				dst = t.appendJSONStr(dst, k)
			}
			dst = append(dst, ':')
			var ok bool
			if dst, ok = writeCleanTape(t, dst, k+1, nil); ok {
				any = true
			} else {
				dst = dst[:mark]
			}
		}
		if !any {
			return dst[:start], false
		}
		return append(dst, '}'), true
	case '[':
		start := len(dst)
		dst = append(dst, '[')
		any := false
		for v, end := n+1, nd.next; v < end; v = t.nodes[v].next {
			mark := len(dst)
			if any {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = writeCleanTape(t, dst, v, renames); ok {
				any = true
			} else {
				dst = dst[:mark]
			}
		}
		if !any {
			return dst[:start], false
		}
		return append(dst, ']'), true
	}
	return append(dst, t.text(n)...), true
}

// laterKey reports whether key node k's name appears again in its object
// before end.
func laterKey(t *tape, k, end int32) bool {
	name := t.text(k)
	for j := t.nodes[k+1].next; j < end; j = t.nodes[j+1].next {
		if string(t.text(j)) == string(name) {
			return true
		}
	}
	return false
}

// appendKey appends a member name of the fixed mapping (plain ASCII).
func appendKey(dst []byte, k string) []byte {
	dst = append(dst, '"')
	dst = append(dst, k...)
	return append(dst, '"')
}
