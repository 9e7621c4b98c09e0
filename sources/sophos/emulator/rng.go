package emulator

import "math"

// mix64 is the splitmix64 finalizer: a cheap, well-distributed hash of one
// word. Every generated value is derived from it, so the data depends only on
// the seed and the item's coordinates, never on the order of requests.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hash4 combines four words into one key.
func hash4(a, b, c, d uint64) uint64 {
	h := mix64(a + 0x9e3779b97f4a7c15)
	h = mix64(h ^ (b + 0x632be59bd9b4e019))
	h = mix64(h ^ (c + 0x85ebca6b27d4eb4f))
	return mix64(h ^ (d + 0xc2b2ae3d27d4eb4f))
}

// rnd is a splitmix64 stream: deterministic, allocation-free, not safe for
// concurrent use (each caller owns its own).
type rnd struct{ s uint64 }

func newRnd(key uint64) rnd { return rnd{s: key} }

func (r *rnd) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// intn returns a value in [0, n); n must be > 0.
func (r *rnd) intn(n int) int { return int(r.next() % uint64(n)) }

// between returns a value in [lo, hi].
func (r *rnd) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

// float returns a value in [0, 1).
func (r *rnd) float() float64 { return float64(r.next()>>11) / float64(1<<53) }

// chance reports true with probability p.
func (r *rnd) chance(p float64) bool { return p > 0 && r.float() < p }

// pickWeighted returns an index into weights chosen proportionally.
func (r *rnd) pickWeighted(weights []int, total int) int {
	v := r.intn(total)
	for i, w := range weights {
		if v < w {
			return i
		}
		v -= w
	}
	return len(weights) - 1
}

// uuidOf derives a random-looking version-4 UUID (as two words) from a key.
func uuidOf(key uint64) (hi, lo uint64) {
	hi = mix64(key ^ 0x5851f42d4c957f2d)
	lo = mix64(key ^ 0x14057b7ef767814f)
	hi = hi&^0xF000 | 0x4000
	lo = lo&^(0xC0<<56) | 0x80<<56
	return hi, lo
}

const maxU64 = math.MaxUint64
