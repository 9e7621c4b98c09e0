package httpout

import (
	"fmt"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// Encoded is a batch of records encoded one after another into Body; record
// i is Body[Start(i):Ends[i]]. Index maps an encoded record back to its
// position in the batch given to the sink's Write (records that failed to
// encode are not in it).
type Encoded struct {
	Body  []byte
	Ends  []int
	Index []int
}

// Reset empties e, keeping its memory.
func (e *Encoded) Reset() {
	e.Body, e.Ends, e.Index = e.Body[:0], e.Ends[:0], e.Index[:0]
}

// Add marks the bytes appended since the previous record as record batchIdx.
func (e *Encoded) Add(batchIdx int) {
	e.Ends = append(e.Ends, len(e.Body))
	e.Index = append(e.Index, batchIdx)
}

// Len is the number of encoded records.
func (e *Encoded) Len() int { return len(e.Ends) }

// Start is where record i begins.
func (e *Encoded) Start(i int) int {
	if i == 0 {
		return 0
	}
	return e.Ends[i-1]
}

// Record returns the bytes of record i.
func (e *Encoded) Record(i int) []byte { return e.Body[e.Start(i):e.Ends[i]] }

// Span is the records lo..hi-1 of an Encoded.
type Span struct{ Lo, Hi int }

// Cut splits the records into spans of at most maxBytes of record bytes
// (plus overhead per record, e.g. a separator) and at most maxEvents records
// (0 = no limit). A record larger than maxBytes goes alone in its span.
func (e *Encoded) Cut(maxBytes, overhead, maxEvents int) []Span {
	var out []Span
	lo, size := 0, 0
	for i := range e.Ends {
		n := e.Ends[i] - e.Start(i) + overhead
		if i > lo && (size+n > maxBytes || (maxEvents > 0 && i-lo >= maxEvents)) {
			out = append(out, Span{lo, i})
			lo, size = i, 0
		}
		size += n
	}
	if lo < len(e.Ends) {
		out = append(out, Span{lo, len(e.Ends)})
	}
	return out
}

// MinRequestBytes is the smallest request CutParts makes to have more in
// flight: below it the cost per request (both ends) outweighs the overlap.
// (On loopback, 64 KiB requests cost ~2 CPU-µs more per record than one
// request per batch; 256 KiB ones less than the overlap gains.)
const MinRequestBytes = 256 << 10

// CutParts is Cut, with requests small enough that the records make at
// least parts of them (none under MinRequestBytes), so that a batch alone
// can keep that many requests in flight.
func (e *Encoded) CutParts(maxBytes, overhead, maxEvents, parts int) []Span {
	if parts > 1 {
		total := len(e.Body) + overhead*e.Len()
		maxBytes = min(maxBytes, max((total+parts-1)/parts, MinRequestBytes))
	}
	return e.Cut(maxBytes, overhead, maxEvents)
}

// Encode resets e and appends each record of batch with enc. A record that
// does not encode is left out, with a permanent failure (prefixed by what)
// in the returned BatchError, which BatchError completes later.
func (e *Encoded) Encode(batch []*pipeline.Record, what string, enc func([]byte, *pipeline.Record) ([]byte, error)) *pipeline.BatchError {
	e.Reset()
	be := &pipeline.BatchError{}
	for i, r := range batch {
		start := len(e.Body)
		var err error
		e.Body, err = enc(e.Body, r)
		if err != nil {
			e.Body = e.Body[:start]
			be.Add(i, pipeline.Permanent(fmt.Errorf("%s: %w", what, err)))
			continue
		}
		e.Add(i)
	}
	return be
}
