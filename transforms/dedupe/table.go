package dedupe

import "math/bits"

// key is a 96-bit hash of (stream, id): fixed size whatever the id's
// length, stable across restarts (the state file stores keys). Among the
// 2,000,000 ids a full table holds, the chance that any two collide is
// about 2^-55; hi is never zero (zero marks an empty slot).
type key struct {
	hi  uint64
	mid uint32
}

// Hash constants (wyhash's primes).
const (
	p0 = 0xa0761d6478bd642f
	p1 = 0xe7037ed1a0b428db
	p2 = 0x8ebc6af09c88c6e3
	p3 = 0x589965cc75374cc3
)

// mum is the folded 128-bit product: the mixing step of wyhash.
func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// hashKey hashes (stream, id) eight bytes at a time in two lanes. Each
// part's length is mixed in, so ("ab", "c") and ("a", "bc") differ. The
// function is part of the state file format: changing it forgets every
// remembered id.
func hashKey(stream, id string) key {
	a, b := uint64(p0), uint64(p1)
	absorb := func(s string) {
		for len(s) >= 8 {
			w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
				uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
			a = mum(a^w, p2)
			b = mum(b^w, p3)
			s = s[8:]
		}
		w := uint64(len(s)+1) << 56 // tail bytes, then a marker closing the part
		for i := 0; i < len(s); i++ {
			w |= uint64(s[i]) << (8 * i)
		}
		a = mum(a^w, p2)
		b = mum(b^w, p3)
	}
	absorb(stream)
	absorb(id)
	k := key{hi: mum(a^p0, b^p1), mid: uint32(mum(a^p2, b^p0) >> 32)}
	if k.hi == 0 {
		k.hi = 1
	}
	return k
}

// slot packs a key and the second it was remembered into 16 bytes, so a
// probe reads one cache line.
type slot struct {
	hi uint64
	lo uint64 // key.mid << 32 | unix seconds
}

func (s slot) key() key     { return key{hi: s.hi, mid: uint32(s.lo >> 32)} }
func (s slot) time() uint32 { return uint32(s.lo) }

// table is an open-addressing (linear probing) set of keys with times.
// Expired entries stay in place, logically absent, until the next rebuild;
// nothing is deleted in place, so probe chains never break. Any size (not
// only powers of two), at most 3/4 full, grown by half: 16 bytes per slot,
// 21 to 32 bytes per id.
type table struct {
	slots []slot
	used  int // occupied slots, expired or not
}

const minSlots = 1 << 10

func newTable(n int) *table { return &table{slots: make([]slot, max(n, minSlots))} }

// slotsFor returns the table size that holds n entries 3/4 full.
func slotsFor(n int) int { return n + n/3 + 1 }

// home maps k onto [0, len) by multiplication (Lemire's range reduction).
func (t *table) home(k key) int {
	hi, _ := bits.Mul64(k.hi, uint64(len(t.slots)))
	return int(hi)
}

// find returns k's slot, or the empty slot where it would go (found false).
func (t *table) find(k key) (int, bool) {
	n := len(t.slots)
	want := uint64(k.mid) << 32
	for i := t.home(k); ; {
		s := t.slots[i]
		if s.hi == k.hi && s.lo&^0xffffffff == want {
			return i, true
		}
		if s.hi == 0 {
			return i, false
		}
		if i++; i == n {
			i = 0
		}
	}
}

// seen reports whether k is present with a time at or after min.
func (t *table) seen(k key, min uint32) bool {
	i, ok := t.find(k)
	return ok && t.slots[i].time() >= min
}

// put records k at time ts unless it is present at or after min, and
// reports whether it did (an expired entry is renewed in place) and whether
// that took a new slot. The caller grows the table before it is more than
// 3/4 full.
func (t *table) put(k key, ts, min uint32) (added, newSlot bool) {
	i, ok := t.find(k)
	if ok && t.slots[i].time() >= min {
		return false, false
	}
	t.slots[i] = slot{hi: k.hi, lo: uint64(k.mid)<<32 | uint64(ts)}
	if !ok {
		t.used++
	}
	return true, !ok
}

func (t *table) full() bool { return t.used >= len(t.slots)-len(t.slots)/4 }

// each calls fn for every entry with a time at or after min.
func (t *table) each(min uint32, fn func(k key, ts uint32)) {
	for _, s := range t.slots {
		if s.hi != 0 && s.time() >= min {
			fn(s.key(), s.time())
		}
	}
}

// rebuild returns a table of the entries at or after min, dropping the
// oldest as needed so at most keep remain. It has room for 1.5 times the
// entries kept (capped at limit entries), so it starts at most half full.
func (t *table) rebuild(min uint32, keep, limit int) *table {
	live := 0
	lo, hi := ^uint32(0), uint32(0)
	t.each(min, func(_ key, ts uint32) {
		live++
		lo, hi = minU32(lo, ts), maxU32(hi, ts)
	})
	if live > keep {
		min = cutoff(t, min, lo, hi, live-keep)
		live = 0
		t.each(min, func(key, uint32) { live++ })
	}
	nt := newTable(slotsFor(min2(limit, live+live/2+1)))
	t.each(min, func(k key, ts uint32) { nt.put(k, ts, 0) })
	return nt
}

// cutoff returns the smallest time such that dropping every entry older
// than it drops at least n of the entries at or after min: a 1024-bin
// histogram of their times, so eviction is "oldest first" to the bin.
func cutoff(t *table, min, lo, hi uint32, n int) uint32 {
	const nbins = 1024
	var hist [nbins]int
	span := uint64(hi-lo) + 1
	bin := func(ts uint32) int { return int(uint64(ts-lo) * nbins / span) }
	t.each(min, func(_ key, ts uint32) { hist[bin(ts)]++ })
	dropped := 0
	for b := range nbins {
		dropped += hist[b]
		if dropped >= n {
			// The first time of bin b+1: lo + ceil((b+1)·span/nbins).
			return lo + uint32((uint64(b+1)*span+nbins-1)/nbins)
		}
	}
	return hi + 1
}

func min2(a, b int) int {
	if a < b {
		return a
	}
	return b
}

func minU32(a, b uint32) uint32 {
	if a < b {
		return a
	}
	return b
}

func maxU32(a, b uint32) uint32 {
	if a > b {
		return a
	}
	return b
}
