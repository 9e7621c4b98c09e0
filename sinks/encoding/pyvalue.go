package encoding

import (
	"bytes"
)

// member is one object member: the key and value nodes of the item's tape.
type member struct{ key, val int32 }

// py prints the item's values (nodes of its tape) as the Python objects
// json.loads makes of them. Its member stack is reused across records (one
// py per encoder).
type py struct {
	t     *tape
	stack []member
	sigs  []uint64 // sigs[i] is keySig of stack[i]'s decoded key
	idx   sigIndex
	buf   []byte // decoded key scratch
	ascii bool   // json output with ensure_ascii (the seed's json.dump)
}

// keyNodesEq compares two key nodes by their decoded text. Keys differing
// as written are equal only through escapes (the flags say whether either
// has one).
func (t *tape) keyNodesEq(a, b int32) bool {
	ta, tb := t.text(a), t.text(b)
	if string(ta) == string(tb) {
		return true
	}
	if (t.nodes[a].flags|t.nodes[b].flags)&strEsc == 0 {
		return false
	}
	return textEq(jsonText(ta), jsonText(tb))
}

// textEq compares two texts by their decoded characters.
func textEq(a, b text) bool {
	i, j := 0, 0
	for i < len(a.b) && j < len(b.b) {
		ra, na := a.next(i)
		rb, nb := b.next(j)
		if ra != rb {
			return false
		}
		i += na
		j += nb
	}
	return i == len(a.b) && j == len(b.b)
}

// textIs reports whether t's decoded text equals s.
func textIs(t text, s string) bool {
	if !t.json || bytes.IndexByte(t.b, '\\') < 0 {
		return string(t.b) == s
	}
	return textEq(t, plainText([]byte(s)))
}

// repr appends Python's repr() of node n: dicts {'k': v}, lists [a, b],
// True/False/None, numbers as Python prints them, strings quoted.
func (p *py) repr(dst []byte, n int32) []byte { return p.value(dst, n, false) }

// json appends json.dumps(value, ensure_ascii=False) of node n with the
// default ", " and ": " separators.
func (p *py) json(dst []byte, n int32) []byte { return p.value(dst, n, true) }

// str appends Python's str() of node n: a string's text as is, anything
// else as repr.
func (p *py) str(dst []byte, n int32) []byte {
	if p.t.nodes[n].kind == '"' {
		return p.t.appendStrText(dst, n)
	}
	return p.value(dst, n, false)
}

func (p *py) value(dst []byte, n int32, jsonOut bool) []byte {
	t := p.t
	switch t.nodes[n].kind {
	case '"':
		if jsonOut && p.ascii {
			return t.appendJSONStrASCII(dst, n)
		}
		if jsonOut {
			return t.appendJSONStr(dst, n)
		}
		return t.appendReprStr(dst, n)
	case '{':
		start := p.dictMembers(n)
		dst = append(dst, '{')
		for i := start; i < len(p.stack); i++ {
			if i > start {
				dst = append(dst, ',', ' ')
			}
			m := p.stack[i]
			dst = p.value(dst, m.key, jsonOut)
			dst = append(dst, ':', ' ')
			dst = p.value(dst, m.val, jsonOut)
		}
		p.pop(start)
		return append(dst, '}')
	case '[':
		dst = append(dst, '[')
		for v, end := n+1, t.nodes[n].next; v < end; v = t.nodes[v].next {
			if v > n+1 {
				dst = append(dst, ',', ' ')
			}
			dst = p.value(dst, v, jsonOut)
		}
		return append(dst, ']')
	case 't':
		if jsonOut {
			return append(dst, "true"...)
		}
		return append(dst, "True"...)
	case 'f':
		if jsonOut {
			return append(dst, "false"...)
		}
		return append(dst, "False"...)
	case 'n':
		if jsonOut {
			return append(dst, "null"...)
		}
		return append(dst, "None"...)
	default:
		return appendPyNumber(dst, t.text(n), jsonOut)
	}
}

// compact appends node n as JSON without insignificant space; a repeated
// object key keeps its first position and last value. Strings are written
// as appendJSONString writes them (the ECS document's form).
func (p *py) compact(dst []byte, n int32) []byte {
	t := p.t
	switch t.nodes[n].kind {
	case '"':
		return t.appendJSONStr(dst, n)
	case '{':
		start := p.dictMembers(n)
		dst = append(dst, '{')
		for i := start; i < len(p.stack); i++ {
			if i > start {
				dst = append(dst, ',')
			}
			m := p.stack[i]
			dst = t.appendJSONStr(dst, m.key)
			dst = append(dst, ':')
			dst = p.compact(dst, m.val)
		}
		p.pop(start)
		return append(dst, '}')
	case '[':
		dst = append(dst, '[')
		for v, end := n+1, t.nodes[n].next; v < end; v = t.nodes[v].next {
			if v > n+1 {
				dst = append(dst, ',')
			}
			dst = p.compact(dst, v)
		}
		return append(dst, ']')
	default: // numbers and literals are already compact
		return append(dst, t.text(n)...)
	}
}
