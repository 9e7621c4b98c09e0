package httpout

import (
	"sync"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// Batches lets an HTTP sink take several Writes at once (see
// Requests.ConcurrentBatches): each Write encodes its batch into an Encoded
// of its own, taken from a pool, and its requests read only that. The
// encoding itself runs one Write at a time, because a sink's encoder (and
// any scratch the sink encodes through) serves one goroutine; the requests,
// their compression and their answers overlap.
type Batches struct {
	mu   sync.Mutex
	pool sync.Pool // *Encoded
}

// Encode encodes batch with enc (see Encoded.Encode) into an Encoded the
// caller owns until it gives it back with Release.
func (b *Batches) Encode(batch []*pipeline.Record, what string, enc func([]byte, *pipeline.Record) ([]byte, error)) (*Encoded, *pipeline.BatchError) {
	e, _ := b.pool.Get().(*Encoded)
	if e == nil {
		e = new(Encoded)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return e, e.Encode(batch, what, enc)
}

// Lock and Unlock serialize encoding the sink does outside Encode.
func (b *Batches) Lock()   { b.mu.Lock() }
func (b *Batches) Unlock() { b.mu.Unlock() }

// Release gives e back once the Write that encoded it has read its outcomes.
func (b *Batches) Release(e *Encoded) {
	if cap(e.Body) <= 64<<20 { // a freak batch's buffer is not kept
		e.Reset()
		b.pool.Put(e)
	}
}
