package encoding

import (
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestTopIndexMatchesScan holds ingest.top (an index of the item's
// members) to a scan of them: repeated names (the last wins), escaped
// names, items too large for the index.
func TestTopIndexMatchesScan(t *testing.T) {
	many := `{`
	for i := 0; i < 40; i++ {
		many += `"k` + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `":1,`
	}
	many += `"id":"x"}`
	items := []string{`{"id":"a","when":"w","id":"b"}`, `{"i\u0064":"a","id":"b","when":1}`, `{}`, `{"":1,"id":2}`, many,
		`{"a":1,"b":2,"c":3,"d":{"id":4},"id":5,"severity":"high","source":"x"}`}
	names := []string{"id", "when", "", "a", "d", "severity", "source", "kaa", "kob", "missing"}
	for _, item := range items {
		var tp tape
		if !tp.parseItem([]byte(item)) {
			t.Fatalf("parse %s", item)
		}
		p := ingest{t: &tp}
		for _, name := range names {
			var want int32
			for k, end := tp.itemMembers(); k < end; k = tp.nodes[k+1].next {
				if tp.keyIs(k, name) {
					want = k + 1
				}
			}
			if got := p.top(name); got != want {
				t.Errorf("%s: top(%q) = %d, a scan finds %d", item, name, got, want)
			}
		}
	}
}

// odoc is an output document built the way an ingest pipeline builds one:
// fields set, copied and removed by dotted path, then written with the
// integration's final clean-up (null, "" and what becomes an empty object
// or array are left out). Its nodes live in one slice reused across
// records, values of the item are referenced, not copied, so building a
// document does not allocate once the slices have grown.
type odoc struct {
	n    []onode
	buf  []byte // text the processors make (dates, captures, messages)
	t    *tape
	tmp  []byte // write scratch
	want []byte // appendTo's scratch

	// Every dotted path the pipelines name gets an id the first time it
	// is seen (the table then stays as it is: the paths are the code's
	// constants); cur[id] is the node added last at that path this
	// record. That node is the field at the path while it is live and
	// its parent is the node at the parent path, which nodeAt checks: a
	// path is found by a few array reads, with no hashing of names, and
	// killing or replacing an object needs no bookkeeping below it.
	ids     map[string]int32
	memo    [512]pathMemo // ids by the path's address, before the map
	pparent []int32       // id -> its parent path's id (root: -1)
	pkey    []string      // id -> the path's last name
	cur     []int32

	// aliased: an object was copied (set to an object that has members),
	// so its members have two paths; the record's remaining steps walk
	// the tree, as the pipeline's maps do.
	aliased bool

	// objGone: an object was removed or replaced this record, so a live
	// node may hang below a dead one; until then cur[id], when live, is in
	// the tree without checking its parents.
	objGone bool

	lastNode int32 // the node set last (appendTo's new array)
}

type pathMemo struct {
	path string
	id   int32
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
	clear(d.cur)
	d.aliased, d.objGone = false, false
	d.lastNode = 0
}

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
		d.tmp = strconv.AppendInt(d.tmp[:0], v.int(), 10)
		return d.tmp
	case oLit:
		return unsafeBytes(litText[v.s:v.e]) // read only
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

// id returns path's id, giving it one the first time.
func (d *odoc) id(path string) int32 {
	a := uint32(uintptr(unsafe.Pointer(unsafe.StringData(path))))
	m := &d.memo[((a>>3^a>>12)+uint32(len(path))*0x9E3779B1>>24)%uint32(len(d.memo))]
	if m.path == path {
		return m.id // the same address mostly: memequal compares no bytes
	}
	id, ok := d.ids[path]
	if !ok {
		id = d.newID(path)
	}
	*m = pathMemo{path, id}
	return id
}

func (d *odoc) newID(path string) int32 {
	if d.ids == nil {
		d.ids = map[string]int32{"": 0}
		d.pparent, d.pkey, d.cur = []int32{-1}, []string{""}, []int32{0}
		if path == "" {
			return 0
		}
	}
	dir, key := splitLast(path)
	parent := d.id(dir)
	id := int32(len(d.pkey))
	d.ids[path] = id
	d.pparent = append(d.pparent, parent)
	d.pkey = append(d.pkey, key)
	d.cur = append(d.cur, 0)
	return id
}

// curChild returns the live node at path id h if it is a member of
// object node p (which is at h's parent path), or 0.
func (d *odoc) curChild(h, p int32) int32 {
	c := d.cur[h]
	if c != 0 && d.n[c].parent == d.n[p].v.node && d.n[c].v.kind != oDead {
		return c
	}
	return 0
}

// kill removes node c from the document.
func (d *odoc) kill(c int32) {
	if d.n[c].v.kind == oObj {
		d.objGone = true
	}
	d.n[c].v.kind = oDead
}

// nodeAt returns the node of the field at path id h (not the root), or 0.
func (d *odoc) nodeAt(h int32) int32 {
	if !d.objGone {
		// every live node is in the tree: no object was removed
		if c := d.cur[h]; c != 0 && d.n[c].v.kind != oDead {
			return c
		}
		return 0
	}
	var p int32
	if ph := d.pparent[h]; ph != 0 {
		if p = d.nodeAt(ph); p == 0 {
			return 0
		}
	}
	if d.n[p].v.kind != oObj {
		return 0
	}
	return d.curChild(h, p)
}

// dirAt returns the object at path id h, created as needed (a
// non-object in the way is replaced, as dir does).
func (d *odoc) dirAt(h int32) int32 {
	if h == 0 {
		return 0
	}
	if c := d.cur[h]; !d.objGone && c != 0 && d.n[c].v.kind == oObj {
		return c // in the tree, as in nodeAt
	}
	p := d.dirAt(d.pparent[h])
	c := d.curChild(h, p)
	if c == 0 || d.n[c].v.kind != oObj {
		if c != 0 {
			d.kill(c)
		}
		c = d.add(p, d.pkey[h], val{kind: oObj})
		d.cur[h] = c
	}
	return c
}

// child returns parent's live member key, or 0: a walk of its members,
// for an aliased document.
func (d *odoc) child(parent int32, key string) int32 {
	parent = d.n[parent].v.node
	for c := d.n[parent].first; c != 0; c = d.n[c].next {
		if d.n[c].v.kind != oDead && d.n[c].key == key {
			return c
		}
	}
	return 0
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
	return i
}

// dir returns the object at dotted path (created as needed; a non-object
// in the way is replaced, as setFieldValue would fail there: it cannot
// happen with the fixed paths used here).
func (d *odoc) dir(path string) int32 {
	if !d.aliased {
		return d.dirAt(d.id(path))
	}
	var n int32
	for path != "" {
		k, rest := cutDot(path)
		c := d.child(n, k)
		if c == 0 || d.n[c].v.kind != oObj {
			if c != 0 {
				d.kill(c)
			}
			c = d.add(n, k, val{kind: oObj})
		}
		n, path = c, rest
	}
	return n
}

// set sets the field at dotted path to v.
func (d *odoc) set(path string, v val) {
	if v.kind == oObj && v.node != 0 {
		d.aliased = true
	}
	if !d.aliased {
		h := d.id(path)
		p := d.dirAt(d.pparent[h])
		if c := d.curChild(h, p); c != 0 {
			d.kill(c)
		}
		d.lastNode = d.add(p, d.pkey[h], v)
		d.cur[h] = d.lastNode
		return
	}
	dir, key := splitLast(path)
	p := d.dir(dir)
	if c := d.child(p, key); c != 0 {
		d.kill(c)
	}
	d.lastNode = d.add(p, key, v)
}

// lookup returns the node of the field at dotted path, or 0.
func (d *odoc) lookup(path string) int32 {
	if !d.aliased {
		if path == "" {
			return 0
		}
		return d.nodeAt(d.id(path))
	}
	var n int32
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
		d.kill(n)
	}
}

// removeAll is remove of each path.
func (d *odoc) removeAll(paths []string) {
	for _, path := range paths {
		d.remove(path)
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
		if old.kind == oObj {
			d.objGone = true
		}
		for c := d.n[n].first; c != 0; c = d.n[c].next {
			d.n[c].parent = -1 // no longer members: child must not find them
		}
		d.n[n].v = val{kind: oArr, node: n}
		d.n[n].first, d.n[n].last = 0, 0
		d.add(n, "", old)
	}
	if unique {
		d.want = append(d.want[:0], d.textOf(v)...) // textOf may use tmp
		for c := d.n[n].first; c != 0; c = d.n[c].next {
			if d.n[c].v.kind != oDead && string(d.textOf(d.n[c].v)) == string(d.want) {
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
		return append(dst, litText[v.s:v.e]...), true
	case oInt:
		return strconv.AppendInt(dst, v.int(), 10), true
	}
	return dst, false
}

// writeTape copies item value n, without null, "" and empty containers. A
// repeated key keeps its last value (Elasticsearch rejects duplicate keys).
// renames, for an array, renames the members of its object elements.
func (d *odoc) writeTape(dst []byte, n int32, renames map[string]string) ([]byte, bool) {
	return writeCleanTape(d.t, dst, n, renames)
}

// cutDot is strings.Cut(path, ".") without the general substring search.
func cutDot(path string) (string, string) {
	if i := strings.IndexByte(path, '.'); i >= 0 {
		return path[:i], path[i+1:]
	}
	return path, ""
}
