package httpout

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// Kind is what a receiver's answer means for the records of a request.
type Kind int

const (
	// OK: the receiver took every record of the request.
	OK Kind = iota
	// Retry: the request failed as a whole for a passing reason (busy,
	// throttled, down): every record of it is retried.
	Retry
	// Reject: the receiver refuses every record of the request for good.
	Reject
	// Split: the receiver refused the request because of something in it (a
	// record it cannot take, or the size): send the halves apart until the
	// refused record is alone, then reject only that one.
	Split
)

// Result is a sink's reading of one response.
type Result struct {
	Kind Kind
	Err  error // why, for Retry, Reject and Split
	// Bad is the position inside the request of the record the receiver
	// named as the cause (Splunk's invalid-event-number), or -1. Settle then
	// cuts around it instead of halving.
	Bad int
}

// Ok is the Result of a request the receiver took.
func Ok() Result { return Result{Kind: OK, Bad: -1} }

// Fail is a Result of kind k without a named record.
func Fail(k Kind, err error) Result { return Result{Kind: k, Err: err, Bad: -1} }

// Settle sends the span with send and records the outcome of each of its
// records in out (indexed like the Encoded; nil = delivered, a
// pipeline.Permanent error = rejected, another error = retry). On Split it
// sends parts of the span until the refused record is alone: that record is
// rejected with the receiver's reason, the others are settled by their own
// answers. Records already delivered before a split are sent again (at
// least once: receivers that index part of a refused request get repeats,
// which carry the same id).
func Settle(ctx context.Context, sp Span, send func(context.Context, Span) Result, out []error) {
	if sp.Hi <= sp.Lo {
		return
	}
	if err := ctx.Err(); err != nil {
		fill(out, sp, err)
		return
	}
	r := send(ctx, sp)
	switch r.Kind {
	case OK:
		fill(out, sp, nil)
	case Retry:
		fill(out, sp, r.Err)
	case Reject:
		fill(out, sp, pipeline.Permanent(r.Err))
	case Split:
		n := sp.Hi - sp.Lo
		if n == 1 {
			out[sp.Lo] = pipeline.Permanent(r.Err)
			return
		}
		if r.Bad >= 0 && r.Bad < n {
			bad := sp.Lo + r.Bad
			Settle(ctx, Span{sp.Lo, bad}, send, out)
			Settle(ctx, Span{bad, bad + 1}, send, out)
			Settle(ctx, Span{bad + 1, sp.Hi}, send, out)
			return
		}
		mid := sp.Lo + n/2
		Settle(ctx, Span{sp.Lo, mid}, send, out)
		Settle(ctx, Span{mid, sp.Hi}, send, out)
	default:
		fill(out, sp, fmt.Errorf("httpout: unknown result kind %d", r.Kind))
	}
}

// SettleAll settles every span of e and returns the outcome of each
// encoded record (see Settle).
func SettleAll(ctx context.Context, e *Encoded, spans []Span, send func(context.Context, Span) Result) []error {
	out := make([]error, e.Len())
	for _, sp := range spans {
		Settle(ctx, sp, send, out)
	}
	return out
}

// SettleConcurrently is SettleAll with up to parts spans settled at once,
// each by its own goroutine (the Limiter of the sink's client bounds the
// requests actually in flight). send must be safe for concurrent use. The
// outcomes are those SettleAll would give: each span writes only its own
// records' slots, and the caller returns them to the pipeline only once
// every span is settled, so a page is still acknowledged only when all its
// records are delivered or dead-lettered.
func SettleConcurrently(ctx context.Context, e *Encoded, spans []Span, parts int, send func(context.Context, Span) Result) []error {
	workers := min(parts, len(spans))
	if workers <= 1 {
		return SettleAll(ctx, e, spans, send)
	}
	out := make([]error, e.Len())
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(spans) {
					return
				}
				Settle(ctx, spans[i], send, out)
			}
		})
	}
	wg.Wait()
	return out
}

func fill(out []error, sp Span, err error) {
	for i := sp.Lo; i < sp.Hi; i++ {
		out[i] = err
	}
}

// BatchError adds per-record outcomes (indexed like e) to the encoding
// failures be already holds (Encode) and returns the pipeline's answer: nil
// when every record was delivered.
func BatchError(e *Encoded, outcomes []error, be *pipeline.BatchError) error {
	for i, err := range outcomes {
		if err != nil {
			be.Add(e.Index[i], err)
		}
	}
	return be.ErrOrNil()
}
