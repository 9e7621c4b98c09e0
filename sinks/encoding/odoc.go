package encoding

import (
	"strconv"
	"strings"
)

// odoc is an output document built the way an ingest pipeline builds one:
// fields set, copied and removed by dotted path, then written with the
// integration's final clean-up (null, "" and what becomes an empty object
// or array are left out). Its nodes live in one slice reused across
// records, values of the item are referenced, not copied, so building a
// document does not allocate once the slices have grown.
type odoc struct {
	n   []onode
	buf []byte // text the processors make (dates, captures, messages)
	t   *tape
	tmp []byte // write scratch

	// dirs remembers the objects dir found lately: consecutive fields
	// mostly share a parent.
	dirs    [8]dirMemo
	dirNext int

	// idx finds a member by (object, key) without walking the object's
	// members: it holds the member added last for each, which is the one
	// live member of that key if any (set and dir remove the old one
	// before they add). Open addressing; 0 is an empty slot.
	idx  []int32
	idxN int

	// lastPath and lastNode are the field set last: the pipelines copy it
	// right away (set copy_from).
	lastPath string
	lastNode int32
}

type dirMemo struct {
	path string
	node int32
}

type okind uint8

const (
	oDead  okind = iota // removed
	oObj                // an object: members first..last
	oArr                // an array: elements first..last
	oTape               // a value of the item, tape node v.tape
	oText               // decoded text buf[v.s:v.e], written as a JSON string
	oLit                // JSON text v.lit, written as it is
	oInt                // v.i
	oItems              // core_remedy items: the tape array v.tape with its members renamed
)

// val is a value: what a field is set to.
type val struct {
	kind okind
	tape int32
	s, e int32
	i    int64
	lit  string
	node int32 // oObj/oArr: the node holding the children
}

type onode struct {
	key         string
	v           val
	first, last int32 // children (oObj, oArr)
	next        int32 // next sibling
	parent      int32 // the container it was added to; -1 once orphaned
}

func (d *odoc) reset(t *tape) {
	d.t = t
	d.n = append(d.n[:0], onode{v: val{kind: oObj}})
	d.buf = d.buf[:0]
	d.dirs = [8]dirMemo{}
	d.lastPath, d.lastNode = "", 0
	clear(d.idx)
	d.idxN = 0
}

func tapeVal(n int32) val { return val{kind: oTape, tape: n} }
func litVal(s string) val { return val{kind: oLit, lit: s} }
func intVal(i int64) val  { return val{kind: oInt, i: i} }
func (d *odoc) text(b []byte) val {
	s := len(d.buf)
	d.buf = append(d.buf, b...)
	return val{kind: oText, s: int32(s), e: int32(len(d.buf))}
}
func (d *odoc) textString(b string) val {
	s := len(d.buf)
	d.buf = append(d.buf, b...)
	return val{kind: oText, s: int32(s), e: int32(len(d.buf))}
}

// textOf returns val v's text (oText, string oTape, oLit): what a
// Mustache template renders and what ignore_empty_value tests.
func (d *odoc) textOf(v val) []byte {
	switch v.kind {
	case oText:
		return d.buf[v.s:v.e]
	case oTape:
		if d.t.kind(v.tape) == '"' {
			d.tmp = d.t.appendStrText(d.tmp[:0], v.tape)
			return d.tmp
		}
		return d.t.text(v.tape)
	case oInt:
		d.tmp = strconv.AppendInt(d.tmp[:0], v.i, 10)
		return d.tmp
	case oLit:
		return []byte(v.lit)
	}
	return nil
}

// empty is ignore_empty_value's test: null or "".
func (d *odoc) empty(v val) bool {
	switch v.kind {
	case oDead:
		return true
	case oText:
		return v.s == v.e
	case oTape:
		k := d.t.kind(v.tape)
		return k == 'n' || k == '"' && d.t.nodes[v.tape].e-d.t.nodes[v.tape].s == 2
	}
	return false
}

// child returns parent's live member key, or 0.
func (d *odoc) child(parent int32, key string) int32 {
	parent = d.n[parent].v.node
	if key == "" || len(d.idx) == 0 {
		for c := d.n[parent].first; c != 0; c = d.n[c].next {
			if d.n[c].v.kind != oDead && d.n[c].key == key {
				return c
			}
		}
		return 0
	}
	mask := uint32(len(d.idx) - 1)
	for h := idxHash(parent, key) & mask; ; h = (h + 1) & mask {
		c := d.idx[h]
		if c == 0 {
			return 0
		}
		if d.n[c].parent == parent && d.n[c].key == key {
			if d.n[c].v.kind == oDead {
				return 0
			}
			return c
		}
	}
}

// idxHash mixes the object, the key's length and its first, middle and
// last bytes: member names of one object rarely share all of them, and probing
// compares the whole key anyway.
func idxHash(parent int32, key string) uint32 {
	h := uint32(parent)*0x85EBCA6B ^ uint32(len(key))*0x9E3779B1
	if n := len(key); n > 0 {
		h ^= uint32(key[0]) | uint32(key[n/2])<<8 | uint32(key[n-1])<<16
	}
	h ^= h >> 15
	h *= 0x2C1B3C6D
	return h ^ h>>12
}

// index records member i (key non-empty) as the latest of its key.
func (d *odoc) index(i int32) {
	if (d.idxN+1)*2 > len(d.idx) {
		d.idx = make([]int32, max(64, 2*len(d.idx)))
		d.idxN = 0
		for j := int32(1); j < i; j++ {
			if d.n[j].key != "" && d.n[j].parent >= 0 {
				d.insert(j)
			}
		}
	}
	d.insert(i)
}

func (d *odoc) insert(i int32) {
	nd := &d.n[i]
	mask := uint32(len(d.idx) - 1)
	for h := idxHash(nd.parent, nd.key) & mask; ; h = (h + 1) & mask {
		c := d.idx[h]
		if c == 0 {
			d.idx[h] = i
			d.idxN++
			return
		}
		if d.n[c].parent == nd.parent && d.n[c].key == nd.key {
			d.idx[h] = i
			return
		}
	}
}

// add appends a member (or element, key "") to parent.
func (d *odoc) add(parent int32, key string, v val) int32 {
	parent = d.n[parent].v.node
	i := int32(len(d.n))
	d.n = append(d.n, onode{key: key, v: v, parent: parent})
	if d.n[parent].last == 0 {
		d.n[parent].first = i
	} else {
		d.n[d.n[parent].last].next = i
	}
	d.n[parent].last = i
	if (v.kind == oObj || v.kind == oArr) && v.node == 0 {
		d.n[i].v.node = i // a new container; a copied one keeps its children
	}
	if key != "" {
		d.index(i)
	}
	return i
}

// dir returns the object at dotted path (created as needed; a non-object
// in the way is replaced, as setFieldValue would fail there: it cannot
// happen with the fixed paths used here).
func (d *odoc) dir(path string) int32 {
	if path == "" {
		return 0
	}
	for i := range d.dirs {
		if m := &d.dirs[i]; m.path == path && m.node != 0 && d.n[m.node].v.kind == oObj {
			return m.node
		}
	}
	full := path
	var n int32
	for path != "" {
		k, rest := cutDot(path)
		c := d.child(n, k)
		if c == 0 || d.n[c].v.kind != oObj {
			if c != 0 {
				d.n[c].v.kind = oDead
			}
			c = d.add(n, k, val{kind: oObj})
		}
		n, path = c, rest
	}
	d.dirs[d.dirNext] = dirMemo{full, n}
	d.dirNext = (d.dirNext + 1) % len(d.dirs)
	return n
}

func splitLast(path string) (string, string) {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i], path[i+1:]
	}
	return "", path
}

// set sets the field at dotted path to v.
func (d *odoc) set(path string, v val) {
	dir, key := splitLast(path)
	p := d.dir(dir)
	if c := d.child(p, key); c != 0 {
		d.n[c].v.kind = oDead
	}
	d.lastPath, d.lastNode = path, d.add(p, key, v)
}

// lookup returns the node of the field at dotted path, or 0.
func (d *odoc) lookup(path string) int32 { return d.lookupFrom(0, path) }

// lookupFrom is lookup below node n.
func (d *odoc) lookupFrom(n int32, path string) int32 {
	for path != "" {
		k, rest := cutDot(path)
		if d.n[n].v.kind != oObj {
			return 0
		}
		if n = d.child(n, k); n == 0 {
			return 0
		}
		path = rest
	}
	return n
}

// get returns the value at dotted path.
func (d *odoc) get(path string) (val, bool) {
	if path == d.lastPath && d.lastNode != 0 {
		if nd := &d.n[d.lastNode]; nd.v.kind != oDead {
			return nd.v, true
		}
	}
	if n := d.lookup(path); n != 0 {
		return d.n[n].v, true
	}
	return val{}, false
}

// copyField is set with copy_from and ignore_empty_value.
func (d *odoc) copyField(dst, src string) {
	if v, ok := d.get(src); ok && !d.empty(v) {
		d.set(dst, v)
	}
}

// remove removes the field at dotted path (ignore_missing).
func (d *odoc) remove(path string) {
	if n := d.lookup(path); n != 0 {
		d.n[n].v.kind = oDead
	}
}

// removeUnder is remove of each path, for paths below prefix (a dotted
// path ending in "."): the object at prefix is looked up once (removing a
// field below it never removes it).
func (d *odoc) removeUnder(prefix string, paths []string) {
	base := d.lookup(prefix[:len(prefix)-1])
	for _, path := range paths {
		rel, ok := strings.CutPrefix(path, prefix)
		if !ok {
			d.remove(path)
			continue
		}
		if base == 0 {
			continue
		}
		if n := d.lookupFrom(base, rel); n != 0 {
			d.n[n].v.kind = oDead
		}
	}
}

// appendTo is the append processor: path becomes an array (a scalar there
// becomes its first element) and v is added; with unique, only when no
// element renders the same text (allow_duplicates: false).
func (d *odoc) appendTo(path string, v val, unique bool) {
	n := d.lookup(path)
	if n == 0 {
		d.set(path, val{kind: oArr})
		n = d.lastNode
	} else if d.n[n].v.kind != oArr {
		old := d.n[n].v
		for c := d.n[n].first; c != 0; c = d.n[c].next {
			d.n[c].parent = -1 // no longer members: child must not find them
		}
		d.n[n].v = val{kind: oArr, node: n}
		d.n[n].first, d.n[n].last = 0, 0
		d.add(n, "", old)
	}
	if unique {
		want := string(d.textOf(v)) // rare path: a few short strings
		for c := d.n[n].first; c != 0; c = d.n[c].next {
			if d.n[c].v.kind != oDead && string(d.textOf(d.n[c].v)) == want {
				return
			}
		}
	}
	d.add(n, "", v)
}

// write appends the document, without what the clean-up drops.
func (d *odoc) write(dst []byte) []byte {
	dst, _ = d.writeVal(dst, d.n[0].v)
	return dst
}

// writeVal appends v and reports whether it wrote anything; when it did
// not, dst is as it was.
func (d *odoc) writeVal(dst []byte, v val) ([]byte, bool) {
	switch v.kind {
	case oObj:
		start := len(dst)
		dst = append(dst, '{')
		any := false
		for c := d.n[v.node].first; c != 0; c = d.n[c].next {
			nd := &d.n[c]
			if nd.v.kind == oDead {
				continue
			}
			mark := len(dst)
			if any {
				dst = append(dst, ',')
			}
			dst = appendKey(dst, nd.key)
			dst = append(dst, ':')
			var ok bool
			if dst, ok = d.writeVal(dst, nd.v); ok {
				any = true
			} else {
				dst = dst[:mark]
			}
		}
		if !any {
			return dst[:start], false
		}
		return append(dst, '}'), true
	case oArr:
		start := len(dst)
		dst = append(dst, '[')
		any := false
		for c := d.n[v.node].first; c != 0; c = d.n[c].next {
			if d.n[c].v.kind == oDead {
				continue
			}
			mark := len(dst)
			if any {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = d.writeVal(dst, d.n[c].v); ok {
				any = true
			} else {
				dst = dst[:mark]
			}
		}
		if !any {
			return dst[:start], false
		}
		return append(dst, ']'), true
	case oTape:
		return d.writeTape(dst, v.tape, nil)
	case oItems:
		return d.writeTape(dst, v.tape, remedyRenames)
	case oText:
		if v.s == v.e {
			return dst, false
		}
		return appendJSONString(dst, plainText(d.buf[v.s:v.e])), true
	case oLit:
		return append(dst, v.lit...), true
	case oInt:
		return strconv.AppendInt(dst, v.i, 10), true
	}
	return dst, false
}

// appendKey appends a member name of the fixed mapping (plain ASCII).
func appendKey(dst []byte, k string) []byte {
	dst = append(dst, '"')
	dst = append(dst, k...)
	return append(dst, '"')
}

// remedyRenames are the foreach renames of core_remedy_items.items.
var remedyRenames = map[string]string{"sophosPid": "sophos_pid", "suspendResult": "suspend_result", "processPath": "process_path"}

// writeTape copies item value n, without null, "" and empty containers. A
// repeated key keeps its last value (Elasticsearch rejects duplicate keys).
// renames, for an array, renames the members of its object elements.
func (d *odoc) writeTape(dst []byte, n int32, renames map[string]string) ([]byte, bool) {
	t := d.t
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
			if dst, ok = d.writeTape(dst, k+1, nil); ok {
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
			if dst, ok = d.writeTape(dst, v, renames); ok {
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

// cutDot is strings.Cut(path, ".") without the general substring search.
func cutDot(path string) (string, string) {
	if i := strings.IndexByte(path, '.'); i >= 0 {
		return path[:i], path[i+1:]
	}
	return path, ""
}
