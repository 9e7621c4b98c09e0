package pipeline

import (
	"context"
	"sync/atomic"
	"time"
)

// sinkWorker feeds one sink: it groups routed records into batches, writes
// them, retries only what failed, dead-letters what was refused for good, and
// reports each page chunk done once all of its records are settled.
type sinkWorker struct {
	r    *runner
	spec *SinkSpec
	in   chan chunk
	buf  []*Record
	d    *Deliverer
	// routed and settled count this sink's records (Stats.Undelivered).
	routed, settled atomic.Int64
	delivered       atomic.Int64 // for the pass summary
}

// lingerCheck is how often a lingering batch checks that more records can
// still arrive.
const lingerCheck = 50 * time.Millisecond

func newSinkWorker(r *runner, spec *SinkSpec, index, capacity int) *sinkWorker {
	if spec.Batch.MaxEvents <= 0 {
		spec.Batch.MaxEvents = 1000
	}
	if spec.Retry.Initial <= 0 {
		spec.Retry.Initial = time.Second
	}
	if spec.Retry.Max <= 0 {
		spec.Retry.Max = time.Minute
	}
	w := &sinkWorker{r: r, spec: spec, in: make(chan chunk, capacity)}
	// A disk-buffered sink's drainer counts its deliveries in the metric;
	// counting the buffering too would count every record twice.
	_, buffered := spec.Sink.(interface{ Buffered() })
	w.d = &Deliverer{Name: spec.Name, Sink: spec.Sink, Retry: spec.Retry, DeadLetter: r.o.DeadLetter, Metrics: r.o.Metrics, Log: r.log,
		NoDeliveredMetric: buffered, SinkNo: index + 1,
		OnDelivered: func(n int) {
			r.stats.delivered.Add(int64(n))
			w.settled.Add(int64(n))
			w.delivered.Add(int64(n))
		},
		OnDeadLettered: func(n int) { r.stats.dlq.Add(int64(n)); w.settled.Add(int64(n)) },
	}
	return w
}

// route returns the records of out this sink takes (out itself when all).
func (w *sinkWorker) route(out []*Record) []*Record {
	rt := w.spec.Routes
	if len(rt.Streams) == 0 && rt.When == nil {
		return out
	}
	for i, rec := range out {
		if rt.Accepts(rec) || rec.IsGap() {
			continue
		}
		// The first refused record: copy what came before, filter the rest.
		sel := make([]*Record, i, len(out)-1)
		copy(sel, out[:i])
		for _, rec := range out[i+1:] {
			if rt.Accepts(rec) || rec.IsGap() {
				sel = append(sel, rec)
			}
		}
		return sel
	}
	return out
}

func (w *sinkWorker) run(ctx context.Context) {
	var pending []chunk
	for {
		pending = pending[:0]
		c, ok := <-w.in
		if !ok {
			return
		}
		pending = append(pending, c)
		n := len(c.recs)
		// Take what is already waiting, up to a batch; optionally linger.
		var linger <-chan time.Time
		var check *time.Ticker
		if w.spec.Batch.Timeout > 0 {
			linger = time.After(w.spec.Batch.Timeout)
			check = time.NewTicker(lingerCheck)
		}
	gather:
		for n < w.spec.Batch.MaxEvents {
			var c chunk
			var ok bool
			select {
			case c, ok = <-w.in:
			default:
				if linger == nil {
					break gather
				}
				select {
				case c, ok = <-w.in:
				case <-linger:
					break gather
				case <-check.C:
					// No more records can come while every in-flight
					// slot (or the byte budget) is taken by pages
					// waiting on this very batch, or once pulling is
					// over: waiting longer would only stall the pipeline.
					if w.r.noMoreRecords() {
						break gather
					}
					continue
				}
			}
			if !ok {
				break gather
			}
			pending = append(pending, c)
			n += len(c.recs)
		}
		if check != nil {
			check.Stop()
		}
		if !w.deliver(ctx, pending) {
			// Delivery was stopped (shutdown timeout): leave the pages
			// unacknowledged so their cursors are not committed.
			continue
		}
		for _, c := range pending {
			w.r.partDone(c.ps)
		}
	}
}

// deliver writes the chunks' records in batches; false if stopped first.
func (w *sinkWorker) deliver(ctx context.Context, chunks []chunk) bool {
	all := w.buf[:0]
	for _, c := range chunks {
		all = append(all, c.recs...)
	}
	w.buf = all
	max := w.spec.Batch.MaxEvents
	for start := 0; start < len(all); start += max {
		end := min(start+max, len(all))
		if !w.d.Deliver(ctx, all[start:end]) {
			return false
		}
		w.r.o.Metrics.SinkQueued.WithLabelValues(w.spec.Name).Sub(float64(end - start))
	}
	clear(w.buf)
	return true
}
