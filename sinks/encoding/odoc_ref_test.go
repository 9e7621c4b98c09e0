package encoding

import (
	"bytes"
	"math/rand"
	"strconv"
	"strings"
	"testing"
)

// refOdoc is odoc as it was before path ids (a walk of the path through a
// member index, without the shortcuts it had), the reference TestOdocMatchesReference holds odoc to.
type refOdoc struct {
	n   []onode
	buf []byte
	t   *tape
	tmp []byte

	idx  []int32
	idxN int

	lastPath string
	lastNode int32
}

func (d *refOdoc) reset(t *tape) {
	d.t = t
	d.n = append(d.n[:0], onode{v: val{kind: oObj}})
	d.buf = d.buf[:0]
	d.lastPath, d.lastNode = "", 0
	clear(d.idx)
	d.idxN = 0
}

func (d *refOdoc) text(b []byte) val {
	s := len(d.buf)
	d.buf = append(d.buf, b...)
	return val{kind: oText, s: int32(s), e: int32(len(d.buf))}
}
func (d *refOdoc) textString(b string) val {
	s := len(d.buf)
	d.buf = append(d.buf, b...)
	return val{kind: oText, s: int32(s), e: int32(len(d.buf))}
}

// textOf returns val v's text (oText, string oTape, oLit): what a
// Mustache template renders and what ignore_empty_value tests.
func (d *refOdoc) textOf(v val) []byte {
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
		return []byte(litText[v.s:v.e])
	}
	return nil
}

// empty is ignore_empty_value's test: null or "".
func (d *refOdoc) empty(v val) bool {
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
func (d *refOdoc) child(parent int32, key string) int32 {
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

// index records member i (key non-empty) as the latest of its key.
func (d *refOdoc) index(i int32) {
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

func (d *refOdoc) insert(i int32) {
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
func (d *refOdoc) add(parent int32, key string, v val) int32 {
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
func (d *refOdoc) dir(path string) int32 {
	if path == "" {
		return 0
	}
	// (the directory memo odoc had here missed a remove or replace of a
	// parent: the pipelines never set below a removed object, this test does)
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
	return n
}

// set sets the field at dotted path to v.
func (d *refOdoc) set(path string, v val) {
	dir, key := splitLast(path)
	p := d.dir(dir)
	if c := d.child(p, key); c != 0 {
		d.n[c].v.kind = oDead
	}
	d.lastPath, d.lastNode = path, d.add(p, key, v)
}

// lookup returns the node of the field at dotted path, or 0.
func (d *refOdoc) lookup(path string) int32 { return d.lookupFrom(0, path) }

// lookupFrom is lookup below node n.
func (d *refOdoc) lookupFrom(n int32, path string) int32 {
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
func (d *refOdoc) get(path string) (val, bool) {
	// (the shortcut odoc had here, the field set last, missed a remove
	// of its parent in between: the pipelines never do that, this test
	// does)
	if n := d.lookup(path); n != 0 {
		return d.n[n].v, true
	}
	return val{}, false
}

// copyField is set with copy_from and ignore_empty_value.
func (d *refOdoc) copyField(dst, src string) {
	if v, ok := d.get(src); ok && !d.empty(v) {
		d.set(dst, v)
	}
}

// remove removes the field at dotted path (ignore_missing).
func (d *refOdoc) remove(path string) {
	if n := d.lookup(path); n != 0 {
		d.n[n].v.kind = oDead
	}
}

// removeUnder is remove of each path, for paths below prefix (a dotted
// path ending in "."): the object at prefix is looked up once (removing a
// field below it never removes it).
func (d *refOdoc) removeUnder(prefix string, paths []string) {
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
func (d *refOdoc) appendTo(path string, v val, unique bool) {
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
func (d *refOdoc) write(dst []byte) []byte {
	dst, _ = d.writeVal(dst, d.n[0].v)
	return dst
}

// writeVal appends v and reports whether it wrote anything; when it did
// not, dst is as it was.
func (d *refOdoc) writeVal(dst []byte, v val) ([]byte, bool) {
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
		return (&odoc{t: d.t}).writeTape(dst, v.tape, nil)
	case oItems:
		return (&odoc{t: d.t}).writeTape(dst, v.tape, remedyRenames)
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

// TestOdocMatchesReference drives odoc (path ids) and refOdoc (the walk
// and member index it replaced) through the same random sets, copies
// (objects too, which alias their members), removes, appends and dirs on
// overlapping paths, and compares after each step every path's value and
// the written document.
func TestOdocMatchesReference(t *testing.T) {
	// containers may become objects; leaves never have members below
	// them, so appending to one or copying an object onto one cannot make
	// a document that contains itself (the pipelines never do either).
	containers := []string{"a", "a.x", "b", "c.d", "c"}
	leaves := []string{"a.y", "a.x.p", "b.q", "c.d.e", "t", "b.r"}
	all := append(append([]string{}, containers...), leaves...)
	rng := rand.New(rand.NewSource(2))
	var d odoc
	var r refOdoc
	var tp tape
	steps, aliased := 0, 0
	for round := 0; round < 400; round++ {
		d.reset(&tp)
		r.reset(&tp)
		copied := false
		for step := 0; step < 40; step++ {
			p := all[rng.Intn(len(all))]
			leaf := leaves[rng.Intn(len(leaves))]
			var what string
			switch rng.Intn(8) {
			case 0, 1:
				v := intVal(int64(step))
				if rng.Intn(3) == 0 {
					v = litTestS
				}
				d.set(p, v)
				r.set(p, v)
				what = "set " + p
			case 2:
				c := containers[rng.Intn(len(containers))]
				d.set(c, val{kind: oObj})
				r.set(c, val{kind: oObj})
				what = "set {} " + c
			case 3:
				q := containers[rng.Intn(len(containers))]
				if v, ok := r.get(q); ok && v.kind == oObj && !copied && !strings.HasPrefix(leaf, q+".") && rng.Intn(2) == 0 {
					// one object copy a round, not into itself: the
					// document stays a tree
					d.copyField(leaf, q)
					r.copyField(leaf, q)
					copied = true
					what = "copy " + leaf + " <- " + q
				} else if v, ok := r.get(leaf); !ok || v.kind != oObj {
					d.copyField(p, leaf)
					r.copyField(p, leaf)
					what = "copy " + p + " <- " + leaf
				}
			case 4:
				d.remove(p)
				r.remove(p)
				what = "remove " + p
			case 5:
				u := rng.Intn(2) == 0
				d.appendTo(leaf, intVal(int64(step%3)), u)
				r.appendTo(leaf, intVal(int64(step%3)), u)
				what = "append " + leaf
			case 6:
				c := containers[rng.Intn(len(containers))]
				d.dir(c)
				r.dir(c)
				what = "dir " + c
			case 7:
				ps := []string{p, leaf}
				d.removeAll(ps)
				r.removeUnder(".", ps) // prefix "." matches none: plain removes
				what = "remove " + p + ", " + leaf
			}
			for _, q := range all {
				gv, gok := d.get(q)
				wv, wok := r.get(q)
				if gok != wok || gok && gv.kind != wv.kind {
					t.Fatalf("round %d step %d (%s): get(%q) = %v %v, reference %v %v", round, step, what, q, gv, gok, wv, wok)
				}
			}
			if got, want := d.write(nil), r.write(nil); !bytes.Equal(got, want) {
				t.Fatalf("round %d step %d (%s): wrote\n%s\nreference\n%s", round, step, what, got, want)
			}
			steps++
		}
		if d.aliased {
			aliased++
		}
	}
	if aliased < 20 || aliased > 380 {
		t.Fatalf("%d of 400 rounds aliased an object: the test does not cover both ways", aliased)
	}
}

var litTestS = lit(`"s"`)
