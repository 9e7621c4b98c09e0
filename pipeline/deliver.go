package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Deliverer writes batches to one sink until every record is settled:
// delivered, or dead-lettered because the sink refused it for good (or, with
// RetryPolicy.MaxAttempts, because it kept failing). Only failed records are
// retried, with exponential backoff and jitter. The pipeline's sink workers
// and the disk buffer's drainer both use it, so the policy lives in one place.
//
// Deliver is safe for concurrent use (a ConcurrentSink's worker calls it for
// several batches at once): each call keeps its own attempt count and
// backoff, the counters are atomic, and the dead-letter file serializes its
// writes.
type Deliverer struct {
	Name       string
	Sink       Sink
	Retry      RetryPolicy
	DeadLetter *DeadLetter
	Metrics    *Metrics
	Log        *slog.Logger
	// NoDeliveredMetric leaves SinkDelivered — the metric and the status
	// board's delivery, which clears the sink's error — to another
	// Deliverer of the same sink: a disk buffer's drainer counts the real
	// deliveries, and an append to the buffer says nothing about the
	// destination.
	NoDeliveredMetric bool
	// SinkNo is 1 + the sink's index in the pipeline, so that deliveries
	// are marked per sink (Record.DeliveredBy); 0 marks only "delivered".
	SinkNo int
	// OnDelivered and OnDeadLettered count outcomes (optional).
	OnDelivered    func(n int)
	OnDeadLettered func(n int)

	failing  atomic.Bool // the last write failed
	defaultO sync.Once
}

// Failing reports whether the last write failed: the destination is down
// or refusing, as opposed to a write still under way. With batches written
// concurrently it is the outcome of the write that returned last.
func (d *Deliverer) Failing() bool { return d.failing.Load() }

// defaults fills the unset fields, once: concurrent Delivers must not
// write them while others read.
func (d *Deliverer) defaults() { d.defaultO.Do(d.setDefaults) }

func (d *Deliverer) setDefaults() {
	if d.Retry.Initial <= 0 {
		d.Retry.Initial = time.Second
	}
	if d.Retry.Max <= 0 {
		d.Retry.Max = time.Minute
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics()
	}
}

// Deliver settles every record of batch. It returns false only if ctx ended
// first; then some records may be neither delivered nor dead-lettered.
func (d *Deliverer) Deliver(ctx context.Context, batch []*Record) bool {
	d.defaults()
	m := d.Metrics
	todo := batch
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := d.Sink.Write(ctx, todo)
		d.failing.Store(err != nil)
		m.SinkBatches.WithLabelValues(d.Name).Inc()
		m.SinkLatency.WithLabelValues(d.Name).Observe(time.Since(start).Seconds())
		if err == nil {
			for _, rec := range todo {
				rec.MarkDeliveredBy(d.SinkNo - 1)
			}
			d.delivered(len(todo))
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
					rec.MarkDeliveredBy(d.SinkNo - 1)
				case IsPermanent(ferr):
					reject = append(reject, rec)
					reasons = append(reasons, ferr)
				default:
					retry = append(retry, rec)
				}
			}
			d.delivered(len(todo) - len(retry) - len(reject))
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
		if len(reject) > 0 && !d.deadLetter(ctx, reject, reasons) {
			return false
		}
		if len(retry) == 0 {
			return true
		}
		if d.Retry.MaxAttempts > 0 && attempt >= d.Retry.MaxAttempts {
			giveUp := fmt.Errorf("gave up after %d attempts: %w", attempt, err)
			reasons = reasons[:0]
			for range retry {
				reasons = append(reasons, giveUp)
			}
			return d.deadLetter(ctx, retry, reasons)
		}
		if ctx.Err() != nil {
			// Shutdown or -timeout cancelled the write: not a sink failure
			// (no ERROR, no red sink); the records stay unsettled.
			return false
		}
		m.SinkRetried.WithLabelValues(d.Name).Add(float64(len(retry)))
		m.Board.SinkFailed(d.Name, err.Error(), time.Now())
		wait := backoff(attempt, d.Retry.Initial, d.Retry.Max)
		d.Log.Error(fmt.Sprintf("sink %s: %d record(s) not delivered (attempt %d): %v — retrying in %s", d.Name, len(retry), attempt, err, wait.Round(time.Millisecond)))
		if !sleepCtx(ctx, wait) {
			return false
		}
		todo = retry
	}
}

// deadLetter writes rejected records; if the dead-letter file itself fails,
// it keeps trying (the records must not be lost) until ctx ends.
func (d *Deliverer) deadLetter(ctx context.Context, recs []*Record, reasons []error) bool {
	d.Metrics.SinkRejected.WithLabelValues(d.Name).Add(float64(len(recs)))
	for {
		err := d.DeadLetter.Write(d.Name, "", recs, reasons)
		if err == nil {
			break
		}
		d.Log.Error(err.Error())
		if !sleepCtx(ctx, time.Second) {
			return false
		}
	}
	d.Metrics.DeadLetters.WithLabelValues(d.Name).Add(float64(len(recs)))
	d.Metrics.Board.SinkSettled(d.Name, len(recs))
	d.Log.Error(fmt.Sprintf("sink %s rejected %d record(s) for good, first %s %s (tenant %s): %v — kept with each reason in %s",
		d.Name, len(recs), recs[0].Stream, recs[0].ID, recs[0].Tenant, reasons[0], d.DeadLetter.Path()))
	if d.OnDeadLettered != nil {
		d.OnDeadLettered(len(recs))
	}
	return true
}

func (d *Deliverer) delivered(n int) {
	if n <= 0 {
		return
	}
	if !d.NoDeliveredMetric {
		d.Metrics.SinkDelivered.WithLabelValues(d.Name).Add(float64(n))
		d.Metrics.Board.SinkDelivered(d.Name, n, time.Now())
	}
	if d.OnDelivered != nil {
		d.OnDelivered(n)
	}
}

func firstRetryable(be *BatchError) error {
	for _, it := range be.Items {
		if !IsPermanent(it.Err) {
			return it.Err
		}
	}
	return be
}
