package encoding

import (
	"bytes"
	"hash/maphash"
)

// Python dicts find a repeated key in O(1); a linear scan per member is
// quadratic, which an item with very many keys would turn into a stall.
// keyIndex keeps the scan for small objects (the normal case, and no map
// work at all) and switches to a hash index past indexFrom members.

const indexFrom = 32

// keyIndex maps a decoded key's hash to the position of the first member
// with that hash; a hash collision falls back to a scan.
type keyIndex struct {
	seed maphash.Seed
	m    map[uint64]int32
	on   bool
	buf  []byte // decoded key scratch
}

func (x *keyIndex) reset() {
	if x.on {
		clear(x.m)
		x.on = false
	}
}

func (x *keyIndex) hash(b []byte) uint64 {
	if x.m == nil {
		x.seed = maphash.MakeSeed()
		x.m = make(map[uint64]int32)
	}
	return maphash.Bytes(x.seed, b)
}

// decoded returns the decoded text of a quoted JSON key (a view of the key
// itself when it has no escapes).
func (x *keyIndex) decoded(quoted []byte) []byte {
	inner := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner
	}
	x.buf = appendStr(x.buf[:0], jsonText(quoted))
	return x.buf
}

// dictMembers pushes obj's members onto p.stack with Python dict semantics,
// a repeated key keeping its first position and taking its last value, and
// returns the index of the first pushed member. The caller pops them with
// p.stack = p.stack[:start] when done; deeper calls may grow the stack, so
// index it rather than keeping a sub-slice.
func (p *py) dictMembers(obj []byte) int {
	start := len(p.stack)
	x := &p.idx
	x.reset()
	_ = eachRawMember(obj, func(k, v []byte) {
		n := len(p.stack) - start
		if !x.on && n >= indexFrom {
			x.on = true
			for i := start; i < len(p.stack); i++ {
				h := x.hash(x.decoded(p.stack[i].key))
				if _, dup := x.m[h]; !dup {
					x.m[h] = int32(i)
				}
			}
		}
		if x.on {
			h := x.hash(x.decoded(k))
			if i, ok := x.m[h]; ok {
				if keyEq(p.stack[i].key, k) {
					p.stack[i].val = v
					return
				}
				// A collision: scan as the small case does.
				for j := start; j < len(p.stack); j++ {
					if keyEq(p.stack[j].key, k) {
						p.stack[j].val = v
						return
					}
				}
			} else {
				x.m[h] = int32(len(p.stack))
			}
			p.stack = append(p.stack, member{k, v})
			return
		}
		for i := start; i < len(p.stack); i++ {
			if keyEq(p.stack[i].key, k) {
				p.stack[i].val = v
				return
			}
		}
		p.stack = append(p.stack, member{k, v})
	})
	return start
}

// setIndexed is o.set for the bulk phases (load, flatten), where list has
// no dead entries and every key is set through here.
func (o *official) setIndexed(list []entry, ka, kb int32, v entry) []entry {
	x := &o.idx
	if !x.on && len(list) < indexFrom {
		return o.set(list, ka, kb, v)
	}
	if !x.on {
		x.on = true
		for i := range list {
			h := x.hash(o.arena[list[i].ka:list[i].kb])
			if _, dup := x.m[h]; !dup {
				x.m[h] = int32(i)
			}
		}
	}
	h := x.hash(o.arena[ka:kb])
	if i, ok := x.m[h]; ok {
		if bytes.Equal(o.key(&list[i]), o.arena[ka:kb]) {
			list[i].raw, list[i].va, list[i].vb = v.raw, v.va, v.vb
			return list
		}
		return o.set(list, ka, kb, v) // collision: scan
	}
	x.m[h] = int32(len(list))
	v.ka, v.kb, v.dead = ka, kb, false
	return append(list, v)
}
