package pipeline

import (
	"context"
	"errors"
	"fmt"
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
}

func newSinkWorker(r *runner, spec *SinkSpec, capacity int) *sinkWorker {
	if spec.Batch.MaxEvents <= 0 {
		spec.Batch.MaxEvents = 500
	}
	if spec.Retry.Initial <= 0 {
		spec.Retry.Initial = time.Second
	}
	if spec.Retry.Max <= 0 {
		spec.Retry.Max = time.Minute
	}
	return &sinkWorker{r: r, spec: spec, in: make(chan chunk, capacity)}
}

// route returns the records of out this sink takes (out itself when all).
func (w *sinkWorker) route(out []*Record) []*Record {
	rt := w.spec.Routes
	if len(rt.Streams) == 0 && rt.When == nil {
		return out
	}
	n := 0
	for _, rec := range out {
		if rt.Accepts(rec) {
			n++
		}
	}
	if n == len(out) {
		return out
	}
	sel := make([]*Record, 0, n)
	for _, rec := range out {
		if rt.Accepts(rec) {
			sel = append(sel, rec)
		}
	}
	return sel
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
		if w.spec.Batch.Timeout > 0 {
			linger = time.After(w.spec.Batch.Timeout)
		}
	gather:
		for n < w.spec.Batch.MaxEvents {
			select {
			case c, ok := <-w.in:
				if !ok {
					break gather
				}
				pending = append(pending, c)
				n += len(c.recs)
			default:
				if linger == nil {
					break gather
				}
				select {
				case c, ok := <-w.in:
					if !ok {
						break gather
					}
					pending = append(pending, c)
					n += len(c.recs)
				case <-linger:
					break gather
				}
			}
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
		if !w.writeWithRetry(ctx, all[start:end]) {
			return false
		}
	}
	clear(w.buf)
	return true
}

// writeWithRetry settles every record of batch: delivered, or dead-lettered.
func (w *sinkWorker) writeWithRetry(ctx context.Context, batch []*Record) bool {
	name := w.spec.Name
	m := w.r.o.Metrics
	todo := batch
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := w.spec.Sink.Write(ctx, todo)
		m.SinkBatches.WithLabelValues(name).Inc()
		m.SinkLatency.WithLabelValues(name).Observe(time.Since(start).Seconds())
		if err == nil {
			w.delivered(len(todo))
			return true
		}
		var retry, reject []*Record
		var reasons []error
		var be *BatchError
		if errors.As(err, &be) {
			failed := make(map[int]error, len(be.Items))
			for _, it := range be.Items {
				if it.Index >= 0 && it.Index < len(todo) {
					failed[it.Index] = it.Err
				}
			}
			for i, rec := range todo {
				ferr, bad := failed[i]
				switch {
				case !bad:
				case IsPermanent(ferr):
					reject = append(reject, rec)
					reasons = append(reasons, ferr)
				default:
					retry = append(retry, rec)
				}
			}
			w.delivered(len(todo) - len(retry) - len(reject))
			if len(retry) > 0 {
				err = firstRetryable(be)
			}
		} else if IsPermanent(err) {
			reject = todo
			for range todo {
				reasons = append(reasons, err)
			}
		} else {
			retry = todo
		}
		if len(reject) > 0 {
			m.SinkRejected.WithLabelValues(name).Add(float64(len(reject)))
			for w.r.deadLetter(name, "", reject, reasons) != nil {
				if !sleepCtx(ctx, time.Second) {
					return false
				}
			}
		}
		if len(retry) == 0 {
			return true
		}
		if w.spec.Retry.MaxAttempts > 0 && attempt >= w.spec.Retry.MaxAttempts {
			reasons = reasons[:0]
			giveUp := fmt.Errorf("gave up after %d attempts: %w", attempt, err)
			for range retry {
				reasons = append(reasons, giveUp)
			}
			m.SinkRejected.WithLabelValues(name).Add(float64(len(retry)))
			for w.r.deadLetter(name, "", retry, reasons) != nil {
				if !sleepCtx(ctx, time.Second) {
					return false
				}
			}
			return true
		}
		m.SinkRetried.WithLabelValues(name).Add(float64(len(retry)))
		wait := backoff(attempt, w.spec.Retry.Initial, w.spec.Retry.Max)
		w.r.log.Error(fmt.Sprintf("sink %s: %d record(s) not delivered (attempt %d): %v — retrying in %s", name, len(retry), attempt, err, wait.Round(time.Millisecond)))
		if !sleepCtx(ctx, wait) {
			return false
		}
		todo = retry
	}
}

func (w *sinkWorker) delivered(n int) {
	if n <= 0 {
		return
	}
	w.r.o.Metrics.SinkDelivered.WithLabelValues(w.spec.Name).Add(float64(n))
	w.r.stats.delivered.Add(int64(n))
}

func firstRetryable(be *BatchError) error {
	for _, it := range be.Items {
		if !IsPermanent(it.Err) {
			return it.Err
		}
	}
	return be
}
