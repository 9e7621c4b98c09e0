package pipeline

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// sinkWorker feeds one sink: it groups routed records into batches, writes
// them, retries only what failed, dead-letters what was refused for good, and
// reports each page chunk done once all of its records are settled.
//
// A ConcurrentSink gets up to ConcurrentBatches groups of chunks delivered
// at once, each by its own goroutine; any other sink one group at a time,
// by the worker itself. Groups only hold chunks the runner already counts
// in flight (MaxInflightPages), so concurrency adds no unbounded queue, and
// a group is gathered only once the sink has room for it, so chunks that
// arrive meanwhile make it bigger instead of making more small ones.
type sinkWorker struct {
	r    *runner
	spec *SinkSpec
	in   chan chunk
	d    *Deliverer
	conc ConcurrentSink // nil: one group at a time, inline
	// active counts the groups being delivered by their own goroutines;
	// done is signalled when one ends. groups waits for them at the end.
	mu     sync.Mutex
	active int
	done   *sync.Cond
	groups sync.WaitGroup
	free   sync.Pool // *group, reused
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
	w.done = sync.NewCond(&w.mu)
	if c, ok := spec.Sink.(ConcurrentSink); ok {
		w.conc = c
	}
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

// group is the chunks of one delivery and the batch buffer they are
// written from.
type group struct {
	chunks []chunk
	all    []*Record
}

func (w *sinkWorker) run(ctx context.Context) {
	defer w.groups.Wait() // partDone must not follow the runner's close(doneCh)
	for {
		if w.conc != nil {
			w.waitRoom()
		}
		g, ok := w.gather()
		if !ok {
			return
		}
		if w.conc == nil {
			w.settle(ctx, g)
			continue
		}
		w.mu.Lock()
		w.active++
		w.mu.Unlock()
		w.groups.Add(1)
		go func() {
			defer w.groups.Done()
			w.settle(ctx, g)
			w.mu.Lock()
			w.active--
			w.done.Signal()
			w.mu.Unlock()
		}()
	}
}

// waitRoom waits until fewer groups are being delivered than the sink
// takes at once now (ConcurrentBatches, asked again after each group ends)
// — never more than the pages that can be in flight, which could not fill
// them.
func (w *sinkWorker) waitRoom() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.active > 0 && w.active >= min(max(1, w.conc.ConcurrentBatches()), cap(w.in)) {
		w.done.Wait()
	}
}

// gather takes the next chunk and what is already waiting, up to a batch,
// lingering for more if the sink's batch policy asks; false once w.in is
// closed.
func (w *sinkWorker) gather() (*group, bool) {
	c, ok := <-w.in
	if !ok {
		return nil, false
	}
	g, _ := w.free.Get().(*group)
	if g == nil {
		g = &group{}
	}
	g.chunks = append(g.chunks[:0], c)
	n := len(c.recs)
	var linger <-chan time.Time
	var check *time.Ticker
	if w.spec.Batch.Timeout > 0 {
		linger = time.After(w.spec.Batch.Timeout)
		check = time.NewTicker(lingerCheck)
		defer check.Stop()
	}
	for n < w.spec.Batch.MaxEvents {
		var c chunk
		var ok bool
		select {
		case c, ok = <-w.in:
		default:
			if linger == nil {
				return g, true
			}
			select {
			case c, ok = <-w.in:
			case <-linger:
				return g, true
			case <-check.C:
				// No more records can come while every in-flight slot
				// (or the byte budget) is taken by pages waiting on
				// this batch or on this sink's groups being delivered,
				// or once pulling is over: waiting longer would only
				// stall the pipeline. (A group being delivered frees
				// its pages' slots only once it is done, so it counts
				// as full too, and the linger never outlasts it.)
				if w.r.noMoreRecords() {
					return g, true
				}
				continue
			}
		}
		if !ok {
			return g, true
		}
		g.chunks = append(g.chunks, c)
		n += len(c.recs)
	}
	return g, true
}

// settle delivers a group and reports its chunks done; if delivery was
// stopped (shutdown timeout) the pages stay unacknowledged so their
// cursors are not committed.
func (w *sinkWorker) settle(ctx context.Context, g *group) {
	if w.deliver(ctx, g) {
		for _, c := range g.chunks {
			w.r.partDone(c.ps)
		}
	}
	clear(g.chunks)
	g.chunks = g.chunks[:0]
	w.free.Put(g)
}

// deliver writes the group's records in batches; false if stopped first.
func (w *sinkWorker) deliver(ctx context.Context, g *group) bool {
	all := g.all[:0]
	for _, c := range g.chunks {
		all = append(all, c.recs...)
	}
	g.all = all
	defer clear(g.all)
	max := w.spec.Batch.MaxEvents
	for start := 0; start < len(all); start += max {
		end := min(start+max, len(all))
		if !w.d.Deliver(ctx, all[start:end]) {
			return false
		}
		w.r.o.Metrics.SinkQueued.WithLabelValues(w.spec.Name).Sub(float64(end - start))
	}
	return true
}
