package fields

import (
	"fmt"

	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// The edits below work on the item's JSON text: they walk to the member
// with rawjson and splice bytes, so key order and every untouched byte stay
// as Sophos sent them. Each returns a new slice and never writes into its
// input (the source may share one buffer between the records of a page).

// memberPos locates one key in an object.
type memberPos struct {
	found    bool
	keyStart int // offset of the key's opening quote
	valStart int // offset of the value
	valEnd   int // offset just past the value
	prevEnd  int // end of the previous member's value, or -1
	// When not found: where a new member goes.
	lastEnd int // end of the last member's value, or -1 for an empty object
	close   int // offset of the closing brace
}

// findMember looks for key in the object starting at data[start] == '{'.
func findMember(data []byte, start int, key string) (memberPos, error) {
	m := memberPos{prevEnd: -1, lastEnd: -1}
	i := rawjson.SkipSpace(data, start+1)
	if i < len(data) && data[i] == '}' {
		m.close = i
		return m, nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return m, fmt.Errorf("%w at offset %d: expected object key", rawjson.ErrSyntax, i)
		}
		ks := i
		ke, err := rawjson.SkipValue(data, i)
		if err != nil {
			return m, err
		}
		i = rawjson.SkipSpace(data, ke)
		if i >= len(data) || data[i] != ':' {
			return m, fmt.Errorf("%w at offset %d: expected ':'", rawjson.ErrSyntax, i)
		}
		vs := rawjson.SkipSpace(data, i+1)
		ve, err := rawjson.SkipValue(data, vs)
		if err != nil {
			return m, err
		}
		if rawjson.KeyEquals(data[ks:ke], key) {
			m.found, m.keyStart, m.valStart, m.valEnd = true, ks, vs, ve
			return m, nil
		}
		m.prevEnd = ve
		m.lastEnd = ve
		i = rawjson.SkipSpace(data, ve)
		if i >= len(data) {
			return m, fmt.Errorf("%w: unexpected end of object", rawjson.ErrSyntax)
		}
		if data[i] == '}' {
			m.close = i
			return m, nil
		}
		if data[i] != ',' {
			return m, fmt.Errorf("%w at offset %d: expected ',' or '}'", rawjson.ErrSyntax, i)
		}
		i = rawjson.SkipSpace(data, i+1)
	}
}

// splice returns data with data[a:b] replaced by the concatenation of ins.
func splice(data []byte, a, b int, ins ...[]byte) []byte {
	n := len(data) - (b - a)
	for _, p := range ins {
		n += len(p)
	}
	out := make([]byte, 0, n)
	out = append(out, data[:a]...)
	for _, p := range ins {
		out = append(out, p...)
	}
	return append(out, data[b:]...)
}

// appendNested appends "k0":{"k1":{..."kn":val}} for path.
func appendNested(dst []byte, path []string, val []byte) []byte {
	for i, k := range path {
		if i > 0 {
			dst = append(dst, '{')
		}
		dst = rawjson.AppendString(dst, k)
		dst = append(dst, ':')
	}
	dst = append(dst, val...)
	for i := 1; i < len(path); i++ {
		dst = append(dst, '}')
	}
	return dst
}

// objectStart checks that data is a JSON object and returns where it starts.
func objectStart(data []byte) (int, error) {
	i := rawjson.SkipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return 0, fmt.Errorf("%w: the item is not a JSON object", rawjson.ErrSyntax)
	}
	return i, nil
}

// setPath sets the value at path to val (valid JSON), creating missing
// intermediate objects; a new key goes at the end of its object. With
// onlyIfAbsent an existing value (even null) is kept. An intermediate that
// is null is replaced by an object; any other non-object is an error.
// changed reports whether the result differs from data.
func setPath(data []byte, path []string, val []byte, onlyIfAbsent bool) (out []byte, changed bool, err error) {
	obj, err := objectStart(data)
	if err != nil {
		return data, false, err
	}
	for level, key := range path {
		m, err := findMember(data, obj, key)
		if err != nil {
			return data, false, err
		}
		last := level == len(path)-1
		if !m.found {
			ins := appendNested(nil, path[level:], val)
			if m.lastEnd < 0 {
				return splice(data, m.close, m.close, ins), true, nil
			}
			return splice(data, m.lastEnd, m.lastEnd, []byte{','}, ins), true, nil
		}
		if last {
			if onlyIfAbsent {
				return data, false, nil
			}
			if string(data[m.valStart:m.valEnd]) == string(val) {
				return data, false, nil
			}
			return splice(data, m.valStart, m.valEnd, val), true, nil
		}
		switch data[m.valStart] {
		case '{':
			obj = m.valStart
		case 'n': // null: no value yet, becomes the object the path needs
			ins := append([]byte{'{'}, appendNested(nil, path[level+1:], val)...)
			return splice(data, m.valStart, m.valEnd, ins, []byte{'}'}), true, nil
		default:
			return data, false, fmt.Errorf("%s is %s, not an object", joinPath(path[:level+1]), kindOf(data[m.valStart]))
		}
	}
	return data, false, nil // unreachable: path is never empty
}

// deletePath removes the member at path. value is the removed value (a
// subslice of data) or nil when the path was absent.
func deletePath(data []byte, path []string) (out, value []byte, err error) {
	obj, err := objectStart(data)
	if err != nil {
		return data, nil, err
	}
	for level, key := range path {
		m, err := findMember(data, obj, key)
		if err != nil || !m.found {
			return data, nil, err
		}
		if level < len(path)-1 {
			if data[m.valStart] != '{' {
				return data, nil, nil // nothing to remove below a non-object
			}
			obj = m.valStart
			continue
		}
		value = data[m.valStart:m.valEnd]
		next := rawjson.SkipSpace(data, m.valEnd)
		switch {
		case next < len(data) && data[next] == ',':
			// Not the last member: remove through the comma and the space
			// before the next key.
			return splice(data, m.keyStart, rawjson.SkipSpace(data, next+1)), value, nil
		case m.prevEnd >= 0:
			// The last of several: remove from the previous value's end.
			return splice(data, m.prevEnd, m.valEnd), value, nil
		default:
			return splice(data, m.keyStart, m.valEnd), value, nil
		}
	}
	return data, nil, nil
}

func joinPath(path []string) string {
	s := ""
	for i, p := range path {
		if i > 0 {
			s += "."
		}
		s += p
	}
	return s
}

func kindOf(c byte) string {
	switch c {
	case '"':
		return "a string"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}
