package encoding

import (
	"bytes"
	"encoding/binary"
)

// Python dicts find a repeated key in O(1); a linear scan per member is
// quadratic, which an item with very many keys would turn into a stall.
// Both dict builders (official's setIndexed and py's dictMembers) first ask
// a bit filter of key signatures, which settles a new key without a scan,
// and switch to a hash index past indexFrom members.

const indexFrom = 64

// sigIndex maps a key signature (keySig) to the position of the first
// member with that signature; equal signatures are confirmed by comparing
// the keys, and a mismatch falls back to a scan.
//
// Below indexFrom members a 512-bit filter stands in for the map: a key
// whose signature bit is not set yet is certainly new and is appended
// without a scan; only a set bit (a repeat, or one chance in 512 per member
// so far) pays for the scan.
type sigIndex struct {
	m    map[uint64]int32
	on   bool
	seen sigFilter // dictMembers' filter
}

func (x *sigIndex) reset() {
	if x.on {
		clear(x.m)
		x.on = false
	}
	x.seen = sigFilter{}
}

// sigFilter is a 512-bit set of key signatures (one bit each).
type sigFilter [8]uint64

// fresh reports whether h's bit was clear (no key with signature h was
// marked), and marks it.
func (f *sigFilter) fresh(h uint64) bool {
	w, bit := &f[h>>6&7], uint64(1)<<(h&63)
	if *w&bit != 0 {
		return false
	}
	*w |= bit
	return true
}

// start turns the index on; the caller then adds the members so far.
func (x *sigIndex) start() {
	if x.m == nil {
		x.m = make(map[uint64]int32)
	}
	x.on = true
}

// add records position i for h unless an earlier position has it.
func (x *sigIndex) add(h uint64, i int) {
	if _, dup := x.m[h]; !dup {
		x.m[h] = int32(i)
	}
}

// keySig hashes a decoded key. Keys equal under keyNodesEq have equal
// decoded text, hence equal signatures; equal signatures are then
// confirmed with keyNodesEq. Keys of up to 16 bytes are hashed whole.
func keySig(b []byte) uint64 {
	n := len(b)
	var x, y uint64
	switch {
	case n >= 8:
		x = binary.LittleEndian.Uint64(b)
		y = binary.LittleEndian.Uint64(b[n-8:])
	case n >= 4:
		x = uint64(binary.LittleEndian.Uint32(b))
		y = uint64(binary.LittleEndian.Uint32(b[n-4:]))
	default:
		for _, c := range b {
			x = x<<8 | uint64(c)
		}
	}
	h := (x ^ uint64(n)*0x9e3779b97f4a7c15) * 0xbf58476d1ce4e5b9
	h ^= (y ^ h>>29) * 0x94d049bb133111eb
	return h ^ h>>32
}

// sig returns the signature of key node k's decoded text.
func (p *py) sig(k int32) uint64 {
	var b []byte
	b, p.buf = p.t.strOf(p.buf, k)
	return keySig(b)
}

// dictMembers pushes object node obj's members onto p.stack with Python
// dict semantics, a repeated key keeping its first position and taking its
// last value, and returns the index of the first pushed member. The caller
// pops them with p.pop(start) when done; deeper calls may grow the stack,
// so index it rather than keeping a sub-slice.
func (p *py) dictMembers(obj int32) int {
	t := p.t
	start := len(p.stack)
	x := &p.idx
	x.reset()
	for k, end := obj+1, t.nodes[obj].next; k < end; k = t.nodes[k+1].next {
		h := p.sig(k)
		if !x.on && len(p.stack)-start < indexFrom && x.seen.fresh(h) {
			p.stack = append(p.stack, member{k, k + 1})
			p.sigs = append(p.sigs, h)
			continue
		}
		if j := p.find(start, k, h); j >= 0 {
			p.stack[j].val = k + 1
			continue
		}
		if x.on {
			x.add(h, len(p.stack))
		}
		p.stack = append(p.stack, member{k, k + 1})
		p.sigs = append(p.sigs, h)
	}
	return start
}

// find returns the stack position (from start) of the first member whose
// key equals key node k (signature h), or -1.
func (p *py) find(start int, k int32, h uint64) int {
	x := &p.idx
	from := start
	if !x.on && len(p.stack)-start >= indexFrom {
		x.start()
		for i := start; i < len(p.stack); i++ {
			x.add(p.sigs[i], i)
		}
	}
	if x.on {
		i, ok := x.m[h]
		if !ok {
			return -1
		}
		// The first member with this signature: no earlier one can match.
		from = int(i)
	}
	for j := from; j < len(p.stack); j++ {
		if p.sigs[j] == h && p.t.keyNodesEq(p.stack[j].key, k) {
			return j
		}
	}
	return -1
}

// pop drops the members pushed since start.
func (p *py) pop(start int) {
	p.stack = p.stack[:start]
	p.sigs = p.sigs[:start]
}

// setIndexed is o.set for the bulk phases (load, flatten), where list has
// no dead entries and every key is set through here.
func (o *official) setIndexed(list []entry, seen *sigFilter, ka, kb int32, v entry) []entry {
	return o.setIndexedSig(list, seen, ka, kb, keySig(o.arena[ka:kb]), v)
}

// setIndexedSig is setIndexed for a key whose signature h is known.
func (o *official) setIndexedSig(list []entry, seen *sigFilter, ka, kb int32, h uint64, v entry) []entry {
	x := &o.idx
	fresh := seen.fresh(h)
	if !x.on && len(list) < indexFrom {
		if fresh {
			return pushEntry(list, ka, kb, h, &v)
		}
		return o.setSig(list, ka, kb, h, v)
	}
	if !x.on {
		x.start()
		for i := range list {
			x.add(list[i].sig, i)
		}
	}
	if i, ok := x.m[h]; ok {
		if bytes.Equal(o.key(&list[i]), o.arena[ka:kb]) {
			list[i].n, list[i].va, list[i].vb = v.n, v.va, v.vb
			return list
		}
		return o.setSig(list, ka, kb, h, v) // collision: scan
	}
	x.m[h] = int32(len(list))
	return pushEntry(list, ka, kb, h, &v)
}
