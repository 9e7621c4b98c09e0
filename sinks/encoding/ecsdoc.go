package encoding

import (
	"encoding/binary"
	"strconv"
	"unicode/utf8"
)

// sdoc is the ecs encoder's output document: odoc's semantics (fields set,
// copied and removed by dotted path, written in the order they were made,
// with the integration's clean-up) on a fixed set of paths. Every path the
// pipelines name is a slot numbered at init (ecsSlots), with its parent
// and children known, so setting a field is a few array writes: no names
// hashed, no nodes allocated. An object's members are a list of its
// slots in the order they were set, which is odoc's order of insertion (a
// field set again moves last, as odoc's kill and add does). TestECSMatchesInterpreter holds the
// encoder built on it to the interpreter (ecs_interp_test.go, odoc_test.go).
type sdoc struct {
	t    *tape
	live [maxSlots]bool  // per slot: it has a value
	s    [maxSlots]sslot // per slot: its value and lists
	buf  []byte          // text the processors make (dates, captures, messages)
	el   []selem         // array elements; el[0] is unused (0 ends a list)
	tmp  []byte          // textOf's scratch

	// ghost marks the fields the pipeline removes at its end (the
	// duplicates of ECS fields, unless preserve_duplicate_custom_fields):
	// they are set and read as any other, but never join their parent's
	// members, so removing them costs nothing. Their parents are made
	// when they are set, as the pipeline makes them.
	ghost *[maxSlots]bool
}

// sslot is a slot's value (oObj: the object of its members) and its
// lists: an object's members in the order they were set (first, last),
// and its place among its siblings (prev, next); 0 ends a list (the
// document, slot 0, is nobody's member).
type sslot struct {
	v                       val
	first, last, prev, next slot
}

// maxSlots bounds the paths: slots are bytes, so indexing the arrays
// needs no bounds checks.
const maxSlots = 256

// selem is an array element: arrays are lists in sdoc.el, their val's s
// and e the first and last element's index.
type selem struct {
	v    val
	next int32
}

// slot numbers a dotted path of the ecs documents (0: the document).
type slot uint8

// slotSchema is the tree of the paths the pipelines name.
type slotSchema struct {
	n        int
	parent   [maxSlots]slot
	key      [maxSlots]string // `,"name":`, the member's key as written after another
	children [maxSlots][]slot
	byPath   map[string]slot
}

var ecsSlots = &slotSchema{n: 1, byPath: map[string]slot{"": 0}}

// sp returns dotted path's slot, numbering it (and its parents) the first
// time: for package variables, at init.
func sp(path string) slot {
	s := ecsSlots
	if id, ok := s.byPath[path]; ok {
		return id
	}
	dir, key := splitLast(path)
	p := sp(dir)
	if s.n == maxSlots {
		panic("ecs: more than maxSlots paths")
	}
	id := slot(s.n)
	s.n++
	s.byPath[path] = id
	s.parent[id] = p
	s.key[id] = `,"` + key + `":`
	s.children[p] = append(s.children[p], id)
	return id
}

func sps(paths []string) []slot {
	ids := make([]slot, len(paths))
	for i, p := range paths {
		ids[i] = sp(p)
	}
	return ids
}

func (d *sdoc) reset(t *tape) {
	d.live = [maxSlots]bool{}
	d.t = t
	d.buf = d.buf[:0]
	d.el = append(d.el[:0], selem{})
	d.live[0], d.s[0] = true, sslot{v: val{kind: oObj}}
}

// link makes slot id its parent's last member.
func (d *sdoc) link(id slot) {
	p := ecsSlots.parent[id]
	l := d.s[p].last
	d.s[id].prev, d.s[id].next = l, 0
	if l == 0 {
		d.s[p].first = id
	} else {
		d.s[l].next = id
	}
	d.s[p].last = id
}

// unlink takes slot id out of its parent's members.
func (d *sdoc) unlink(id slot) {
	p := ecsSlots.parent[id]
	pr, nx := d.s[id].prev, d.s[id].next
	if pr == 0 {
		d.s[p].first = nx
	} else {
		d.s[pr].next = nx
	}
	if nx == 0 {
		d.s[p].last = pr
	} else {
		d.s[nx].prev = pr
	}
}

func (d *sdoc) text(b []byte) val {
	s := len(d.buf)
	d.buf = append(d.buf, b...)
	return val{kind: oText, s: int32(s), e: int32(len(d.buf))}
}

// kill removes slot id's value, and an object's members with it.
func (d *sdoc) kill(id slot) {
	if !d.live[id] {
		return
	}
	d.live[id] = false
	if d.ghost != nil && d.ghost[id] {
		return
	}
	d.unlink(id)
	if d.s[id].v.kind == oObj {
		for _, c := range ecsSlots.children[id] {
			d.kill(c)
		}
	}
}

// dir makes slot id an object, creating its parents as needed; a
// non-object in the way is replaced (odoc.dirAt).
func (d *sdoc) dir(id slot) {
	if d.live[id] && d.s[id].v.kind == oObj {
		return
	}
	d.dir(ecsSlots.parent[id])
	d.kill(id)
	d.live[id] = true
	d.s[id].v, d.s[id].first, d.s[id].last = val{kind: oObj}, 0, 0
	d.link(id)
}

// set sets the field at slot id to v (not an object).
func (d *sdoc) set(id slot, v val) {
	if p := ecsSlots.parent[id]; !d.live[p] || d.s[p].v.kind != oObj {
		d.dir(p)
	}
	if d.live[id] {
		d.kill(id)
	}
	d.live[id], d.s[id].v = true, v
	if d.ghost == nil || !d.ghost[id] {
		d.link(id)
	}
}

// get returns the value at slot id.
func (d *sdoc) get(id slot) (val, bool) {
	if !d.live[id] {
		return val{}, false
	}
	return d.s[id].v, true
}

// copyField is set with copy_from and ignore_empty_value.
func (d *sdoc) copyField(dst, src slot) {
	if d.live[src] && !d.empty(d.s[src].v) {
		d.set(dst, d.s[src].v)
	}
}

func (d *sdoc) removeAll(ids []slot) {
	for _, id := range ids {
		d.kill(id)
	}
}

// empty is ignore_empty_value's test: null or "".
func (d *sdoc) empty(v val) bool {
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

// textOf is odoc.textOf: what a Mustache template renders.
func (d *sdoc) textOf(v val) []byte {
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
		return unsafeBytes(litText[v.s:v.e])
	}
	return nil
}

// addElem appends v to the array at slot id.
func (d *sdoc) addElem(id slot, v val) {
	i := int32(len(d.el))
	d.el = append(d.el, selem{v: v})
	a := &d.s[id].v
	if a.s == 0 {
		a.s = i
	} else {
		d.el[a.e].next = i
	}
	a.e = i
}

// appendTo is the append processor (odoc.appendTo): the field becomes an
// array (a value there its first element) and v is added; with unique,
// only when no element renders the same text.
func (d *sdoc) appendTo(id slot, v val, unique bool) {
	if !d.live[id] {
		d.set(id, val{kind: oArr})
	} else if old := d.s[id].v; old.kind != oArr {
		if old.kind == oObj { // not among the pipelines' paths: its members go
			for _, c := range ecsSlots.children[id] {
				d.kill(c)
			}
		}
		d.s[id].v = val{kind: oArr}
		d.addElem(id, old)
	}
	if unique {
		start := len(d.buf)
		d.buf = append(d.buf, d.textOf(v)...) // textOf may use tmp
		want := d.buf[start:]
		for c := d.s[id].v.s; c != 0; c = d.el[c].next {
			if d.el[c].v.kind != oDead && string(d.textOf(d.el[c].v)) == string(want) {
				d.buf = d.buf[:start]
				return
			}
		}
		d.buf = d.buf[:start]
	}
	d.addElem(id, v)
}

// write appends the document.
func (d *sdoc) write(dst []byte) []byte {
	dst, _ = d.writeObj(dst, 0)
	return dst
}

// writeObj writes object slot id's members in the order they were set,
// without what the clean-up drops; false (dst as it was) when nothing is
// left.
func (d *sdoc) writeObj(dst []byte, id slot) ([]byte, bool) {
	mark0 := len(dst)
	dst = append(dst, '{')
	any := false
	for c := d.s[id].first; c != 0; c = d.s[c].next {
		mark := len(dst)
		key := ecsSlots.key[c]
		if !any {
			key = key[1:]
		}
		dst = append(dst, key...)
		var ok bool
		if v := &d.s[c].v; v.kind == oObj {
			dst, ok = d.writeObj(dst, c)
		} else {
			dst, ok = d.writeVal(dst, *v)
		}
		if ok {
			any = true
		} else {
			dst = dst[:mark]
		}
	}
	if !any {
		return dst[:mark0], false
	}
	return append(dst, '}'), true
}

// writeVal writes a value that is not a slot's object.
func (d *sdoc) writeVal(dst []byte, v val) ([]byte, bool) {
	switch v.kind {
	case oArr:
		start := len(dst)
		dst = append(dst, '[')
		any := false
		for c := v.s; c != 0; c = d.el[c].next {
			ev := d.el[c].v
			if ev.kind == oDead {
				continue
			}
			mark := len(dst)
			if any {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = d.writeVal(dst, ev); ok {
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
		if nd := &d.t.nodes[v.tape]; nd.kind == '"' && nd.flags == 0 && nd.e-nd.s > 2 {
			return append(dst, d.t.raw[nd.s:nd.e]...), true // appendJSONStr's plain case
		}
		return writeCleanTape(d.t, dst, v.tape, nil)
	case oItems:
		return writeCleanTape(d.t, dst, v.tape, remedyRenames)
	case oText:
		if v.s == v.e {
			return dst, false
		}
		b := d.buf[v.s:v.e]
		if plainJSON(b) { // dates, numbers, most names: no escape needed
			dst = append(dst, '"')
			dst = append(dst, b...)
			return append(dst, '"'), true
		}
		return appendJSONString(dst, plainText(b)), true
	case oLit:
		return append(dst, litText[v.s:v.e]...), true
	case oInt:
		return strconv.AppendInt(dst, v.int(), 10), true
	}
	return dst, false
}

// plainJSON reports whether appendJSONString writes b unchanged between
// its quotes: ASCII without '"', '\\' and control characters; 8 bytes a
// step.
func plainJSON(b []byte) bool {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		if (specialBits(w) | w&msb) != 0 {
			return false
		}
	}
	for _, c := range b[i:] {
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// nameIndex finds the members of an item's object the pipelines read, by
// name: a perfect hash of the names (found at init), one probe and one
// comparison per member.
type nameIndex struct {
	names []string
	tab   [128]int8 // name index + 1
	seed  uint32
}

func newNameIndex(names ...string) *nameIndex {
	x := &nameIndex{names: names}
	for x.seed = 0x9E3779B1; ; x.seed += 2 { // odd multipliers
		x.tab = [128]int8{}
		ok := true
		for i, n := range names {
			h := x.hash(n)
			if x.tab[h] != 0 {
				ok = false
				break
			}
			x.tab[h] = int8(i + 1)
		}
		if ok {
			return x
		}
		if x.seed > 0x9E3779B1+1<<24 {
			panic("nameIndex: no perfect hash for " + names[0])
		}
	}
}

func (x *nameIndex) hash(s string) uint32 {
	n := len(s)
	if n == 0 {
		return 0
	}
	h := uint32(n) | uint32(s[0])<<8 | uint32(s[n>>1])<<16 | uint32(s[n-1])<<24
	return h * x.seed >> 25 // the top 7 bits: tab's index
}

// find sets out[i] to the value node of object obj's last member named
// names[i] (the decoded name, as rawjson.KeyEquals compares), 0 when it
// has none or obj is absent or not an object.
func (x *nameIndex) find(t *tape, obj int32, out []int32, scratch *[]byte) {
	clear(out)
	if obj == 0 || t.nodes[obj].kind != '{' {
		return
	}
	x.scan(t, obj+1, t.nodes[obj].next, out, scratch)
}

// findItem is find for the item itself (node 0).
func (x *nameIndex) findItem(t *tape, out []int32, scratch *[]byte) {
	clear(out)
	k, end := t.itemMembers()
	x.scan(t, k, end, out, scratch)
}

func (x *nameIndex) scan(t *tape, k, end int32, out []int32, scratch *[]byte) {
	for ; k < end; k = t.nodes[k+1].next {
		name := t.keyName(k)
		if t.nodes[k].flags&strEsc != 0 {
			*scratch = t.appendStrText((*scratch)[:0], k)
			name = unsafeString(*scratch)
		}
		if i := x.tab[x.hash(name)]; i != 0 && x.names[i-1] == name {
			out[i-1] = k + 1
		}
	}
}
