package encoding

import (
	"bytes"

	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// member is one object member: the quoted key and the raw value, both
// slices of the record's raw bytes.
type member struct{ key, val []byte }

// py prints raw JSON values as the Python objects json.loads makes of them.
// Its member stack is reused across records (one py per encoder).
type py struct {
	stack []member
	idx   keyIndex
}

// keyEq compares two quoted JSON keys by their decoded text.
func keyEq(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	if bytes.IndexByte(a, '\\') < 0 && bytes.IndexByte(b, '\\') < 0 {
		return false
	}
	return textEq(jsonText(a), jsonText(b))
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

// appendRepr appends Python's repr() of the value: dicts {'k': v}, lists
// [a, b], True/False/None, numbers as Python prints them, strings quoted.
func (p *py) appendRepr(dst, v []byte) []byte {
	return p.appendValue(dst, v, false)
}

// appendJSON appends json.dumps(value, ensure_ascii=False) with the default
// ", " and ": " separators.
func (p *py) appendJSON(dst, v []byte) []byte {
	return p.appendValue(dst, v, true)
}

// appendStr appends Python's str() of the value: a string's text as is,
// anything else as repr.
func (p *py) appendStr(dst, v []byte) []byte {
	if len(v) > 0 && v[0] == '"' {
		return appendStr(dst, jsonText(v))
	}
	return p.appendRepr(dst, v)
}

func (p *py) appendValue(dst, v []byte, jsonOut bool) []byte {
	if len(v) == 0 {
		return dst
	}
	switch v[0] {
	case '"':
		if jsonOut {
			return appendJSONString(dst, jsonText(v))
		}
		return appendRepr(dst, jsonText(v))
	case '{':
		start := p.dictMembers(v)
		dst = append(dst, '{')
		for i := start; i < len(p.stack); i++ {
			if i > start {
				dst = append(dst, ',', ' ')
			}
			m := p.stack[i]
			dst = p.appendValue(dst, m.key, jsonOut)
			dst = append(dst, ':', ' ')
			dst = p.appendValue(dst, m.val, jsonOut)
		}
		p.stack = p.stack[:start]
		return append(dst, '}')
	case '[':
		dst = append(dst, '[')
		first := true
		_ = rawjson.EachElement(v, func(e []byte) bool {
			if !first {
				dst = append(dst, ',', ' ')
			}
			first = false
			dst = p.appendValue(dst, e, jsonOut)
			return true
		})
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
		return appendPyNumber(dst, v, jsonOut)
	}
}
