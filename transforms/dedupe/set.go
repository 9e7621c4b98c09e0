package dedupe

import (
	"math"
	"time"
)

// Set is a bare set of (stream, id) keys with the time each was seen: the
// stage's open-addressing table (21 to 32 bytes per id, whatever the id's
// length) for callers that only ask "seen?", such as adopting the ids the
// seed already wrote. Not safe for concurrent Add; Has may run concurrently
// with other Has calls once adding is done.
type Set struct {
	t *table
}

// NewSet returns an empty set.
func NewSet() *Set { return &Set{t: newTable(minSlots)} }

// Add remembers (stream, id) as seen at t.
func (s *Set) Add(stream, id string, t time.Time) {
	if s.t.full() {
		s.t = s.t.rebuild(0, math.MaxInt, math.MaxInt)
	}
	sec := t.Unix()
	if sec < 1 {
		sec = 1
	}
	s.t.put(hashKey(stream, id), uint32(min(sec, math.MaxUint32)), 0)
}

// Has reports whether (stream, id) was added.
func (s *Set) Has(stream, id string) bool { return s.t.seen(hashKey(stream, id), 0) }

// Len is the number of keys.
func (s *Set) Len() int { return s.t.used }
