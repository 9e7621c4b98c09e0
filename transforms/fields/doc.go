package fields

import (
	"bytes"
	"fmt"
	"math/bits"
	"sync"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// doc is an item split once into its top-level members, so a stage with
// several edits walks the item once; nested paths edit only the member's
// value (setPath/deletePath on those few bytes). Serializing keeps each
// member's key, spacing and value bytes as they were.
type doc struct {
	lead    []byte // space before '{'
	members []member
	tail    []byte // space after the last value, before '}'
	after   []byte // space after '}'
}

type member struct {
	ws   []byte // space after '{' or the comma, before the key
	key  []byte // the key as written, quoted
	sep  []byte // ':' with the space around it
	val  []byte // the value; never written in place (may be the source's)
	gone bool
}

var docs = sync.Pool{New: func() any { return new(doc) }}

// parse splits src, an object. Space before a comma is not kept.
func (d *doc) parse(src []byte) error {
	d.members = d.members[:0]
	i := rawjson.SkipSpace(src, 0)
	if i >= len(src) || src[i] != '{' {
		return fmt.Errorf("%w: the item is not a JSON object", rawjson.ErrSyntax)
	}
	d.lead = src[:i]
	i++
	j := rawjson.SkipSpace(src, i)
	if j < len(src) && src[j] == '}' {
		d.tail, d.after = src[i:j], src[j+1:]
		return nil
	}
	for {
		if j >= len(src) || src[j] != '"' {
			return fmt.Errorf("%w at offset %d: expected object key", rawjson.ErrSyntax, j)
		}
		ke, err := rawjson.SkipValue(src, j)
		if err != nil {
			return err
		}
		c := rawjson.SkipSpace(src, ke)
		if c >= len(src) || src[c] != ':' {
			return fmt.Errorf("%w at offset %d: expected ':'", rawjson.ErrSyntax, c)
		}
		vs := rawjson.SkipSpace(src, c+1)
		ve, err := rawjson.SkipValue(src, vs)
		if err != nil {
			return err
		}
		d.members = append(d.members, member{ws: src[i:j], key: src[j:ke], sep: src[ke:vs], val: src[vs:ve]})
		k := rawjson.SkipSpace(src, ve)
		if k >= len(src) {
			return fmt.Errorf("%w: unexpected end of object", rawjson.ErrSyntax)
		}
		if src[k] == '}' {
			d.tail, d.after = src[ve:k], src[k+1:]
			return nil
		}
		if src[k] != ',' {
			return fmt.Errorf("%w at offset %d: expected ',' or '}'", rawjson.ErrSyntax, k)
		}
		i = k + 1
		j = rawjson.SkipSpace(src, i)
	}
}

func (d *doc) find(name string) int {
	for i := range d.members {
		if m := &d.members[i]; !m.gone && rawjson.KeyEquals(m.key, name) {
			return i
		}
	}
	return -1
}

// set writes val (kept by reference: it must not change afterwards) at
// path; see setPath for the rules.
func (d *doc) set(path []string, val []byte, onlyIfAbsent bool) (bool, error) {
	i := d.find(path[0])
	if i < 0 {
		v := val
		if len(path) > 1 {
			v = append(appendNested([]byte{'{'}, path[1:], val), '}')
		}
		d.members = append(d.members, member{key: rawjson.AppendString(nil, path[0]), sep: []byte{':'}, val: v})
		return true, nil
	}
	m := &d.members[i]
	if len(path) == 1 {
		if onlyIfAbsent || bytes.Equal(m.val, val) {
			return false, nil
		}
		m.val = val
		return true, nil
	}
	switch m.val[0] {
	case '{':
		nv, changed, err := setPath(m.val, path[1:], val, onlyIfAbsent)
		if err != nil {
			if len(path) > 2 {
				return false, fmt.Errorf("%s.%w", path[0], err)
			}
			return false, err
		}
		m.val = nv
		return changed, nil
	case 'n':
		m.val = append(appendNested([]byte{'{'}, path[1:], val), '}')
		return true, nil
	}
	return false, fmt.Errorf("%s is %s, not an object", path[0], kindOf(m.val[0]))
}

// remove deletes the member at path and returns its value (nil: absent).
func (d *doc) remove(path []string) ([]byte, error) {
	i := d.find(path[0])
	if i < 0 {
		return nil, nil
	}
	m := &d.members[i]
	if len(path) == 1 {
		m.gone = true
		return m.val, nil
	}
	if m.val[0] != '{' {
		return nil, nil
	}
	nv, val, err := deletePath(m.val, path[1:])
	if err != nil {
		return nil, err
	}
	m.val = nv
	return val, nil
}

// bytes serializes the document into a new buffer.
func (d *doc) bytes() []byte {
	n := len(d.lead) + len(d.tail) + len(d.after) + 2
	for i := range d.members {
		m := &d.members[i]
		n += len(m.ws) + len(m.key) + len(m.sep) + len(m.val) + 1
	}
	out := make([]byte, 0, n)
	out = append(out, d.lead...)
	out = append(out, '{')
	first := true
	for i := range d.members {
		m := &d.members[i]
		if m.gone {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, m.ws...)
		out = append(out, m.key...)
		out = append(out, m.sep...)
		out = append(out, m.val...)
	}
	out = append(out, d.tail...)
	out = append(out, '}')
	return append(out, d.after...)
}

// release drops references to the item and returns d to the pool.
func (d *doc) release() {
	clear(d.members)
	d.members = d.members[:0]
	d.lead, d.tail, d.after = nil, nil, nil
	docs.Put(d)
}

// Typed-key bits: which of the keys pipeline.NewRecord reads an edit
// changed.
const (
	bID uint16 = 1 << iota
	bType
	bSeverity
	bName
	bDescription
	bGroup
	bWhen
	bCreatedAt
	bLocation
	bSource
	bEndpointID
	bEndpointType
	bData
)

var typedBits = map[string]uint16{
	"id": bID, "type": bType, "severity": bSeverity, "name": bName, "description": bDescription,
	"group": bGroup, "when": bWhen, "created_at": bCreatedAt, "location": bLocation, "source": bSource,
	"endpoint_id": bEndpointID, "endpoint_type": bEndpointType, "data": bData,
}

// retype updates r's typed fields for the keys in mask from the edited
// members, exactly as pipeline.NewRecord would read the serialized document
// (TestRetypeMatchesNewRecord and FuzzFields hold the two in step), without
// walking the item again and without touching the other fields.
func (d *doc) retype(r *pipeline.Record, mask uint16) error {
	const endpoint = bEndpointID | bEndpointType | bData
	nameKey := "name"
	if r.Stream == pipeline.Alerts {
		nameKey = "description"
	}
	if mask&endpoint != 0 {
		mask |= endpoint // the data fallback depends on all three
	}
	if mask&(bName|bDescription) != 0 {
		mask |= bName | bDescription
	}
	fields := [...]*string{&r.ID, &r.Type, &r.Severity, &r.Name, nil, &r.Group, &r.When, &r.CreatedAt, &r.Host, &r.User, &r.EndpointID, &r.EndpointType}
	for i, f := range fields {
		if f != nil && mask&(1<<i) != 0 {
			*f = ""
		}
	}
	var data []byte
	for i := range d.members {
		m := &d.members[i]
		if m.gone {
			continue
		}
		k := string(m.key[1 : len(m.key)-1]) // NewRecord compares keys as written
		bit := typedBits[k]
		if bit == 0 || mask&bit == 0 {
			continue
		}
		switch bit {
		case bName, bDescription:
			if k == nameKey {
				r.Name = rawjson.String(m.val)
			}
		case bData:
			data = m.val
		default:
			*fields[bits.TrailingZeros16(bit)] = rawjson.String(m.val)
		}
	}
	if data != nil && (r.EndpointID == "" || r.EndpointType == "") && len(data) > 0 && data[0] == '{' {
		if r.EndpointID == "" {
			r.EndpointID = rawjson.String(rawjson.Get(data, "endpoint_id"))
		}
		if r.EndpointType == "" {
			r.EndpointType = rawjson.String(rawjson.Get(data, "endpoint_type"))
		}
	}
	if r.ID == "" {
		return fmt.Errorf("item has no id")
	}
	return nil
}
