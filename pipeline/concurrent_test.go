package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// concSink counts the Writes it has at once and keeps every delivered id.
// hook (optional) runs first, outside the lock, and may block; a
// *BatchError or plain error it returns fails those records (the others of
// a BatchError are delivered).
type concSink struct {
	n    int // ConcurrentBatches; 0: not a ConcurrentSink (see oneAtATime)
	hook func(batch []*Record) error

	cur, most atomic.Int32
	writes    atomic.Int32
	mu        sync.Mutex
	got       map[string]int
}

func newConcSink(n int, hook func([]*Record) error) *concSink {
	return &concSink{n: n, hook: hook, got: map[string]int{}}
}

func (s *concSink) Start(context.Context) error { return nil }
func (s *concSink) Close() error                { return nil }
func (s *concSink) ConcurrentBatches() int      { return s.n }

func (s *concSink) Write(ctx context.Context, batch []*Record) error {
	c := s.cur.Add(1)
	defer s.cur.Add(-1)
	for m := s.most.Load(); c > m && !s.most.CompareAndSwap(m, c); m = s.most.Load() {
	}
	var err error
	if s.hook != nil {
		err = s.hook(batch)
	}
	failed := map[int]bool{}
	var be *BatchError
	switch {
	case errors.As(err, &be):
		for _, it := range be.Items {
			failed[it.Index] = true
		}
	case err != nil:
		s.writes.Add(1)
		return err
	}
	s.mu.Lock()
	for i, r := range batch {
		if !failed[i] {
			s.got[r.ID]++
		}
	}
	s.mu.Unlock()
	s.writes.Add(1)
	return err
}

// exactlyOnce fails unless every id of src's partitions arrived once, but
// those of skip.
func (s *concSink) exactlyOnce(t *testing.T, src *listSource, skip ...string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	want := 0
	for _, p := range src.parts {
		for _, id := range src.items[p.Key()] {
			if slicesContains(skip, id) {
				if s.got[id] != 0 {
					t.Errorf("%s arrived %d time(s), want none", id, s.got[id])
				}
				continue
			}
			want++
			if s.got[id] != 1 {
				t.Errorf("%s arrived %d time(s), want once", id, s.got[id])
			}
		}
	}
	if len(s.got) != want {
		t.Errorf("the sink got %d distinct ids, want %d", len(s.got), want)
	}
}

func slicesContains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// oneAtATime hides concSink's ConcurrentBatches: a plain Sink.
type oneAtATime struct{ s *concSink }

func (o oneAtATime) Start(ctx context.Context) error                  { return nil }
func (o oneAtATime) Close() error                                     { return nil }
func (o oneAtATime) Write(ctx context.Context, batch []*Record) error { return o.s.Write(ctx, batch) }

// idIndex is the position of a listSource record in its partition.
func idIndex(r *Record) int {
	n, _ := strconv.Atoi(r.ID[strings.LastIndexByte(r.ID, '-')+1:])
	return n
}

// pageOrder records the settled records, in the order the ack loop hands
// them on.
type pageOrder struct {
	mu   sync.Mutex
	recs []*Record
}

func (p *pageOrder) Delivered(recs []*Record) {
	p.mu.Lock()
	p.recs = append(p.recs, recs...)
	p.mu.Unlock()
}

type runResult struct {
	st  Stats
	err error
}

func startRun(ctx context.Context, o Options) <-chan runResult {
	done := make(chan runResult, 1)
	go func() {
		st, err := Run(ctx, o)
		done <- runResult{st, err}
	}()
	return done
}

// The first batch blocks until the five after it have finished: they can
// only finish if batches are in flight together. While it blocks, no
// checkpoint may be committed (the first page is unsettled); once it
// finishes the cursor moves to the end, the ack loop hands the pages on in
// page order, and every record arrived exactly once.
func TestConcurrentBatchesCompleteOutOfOrder(t *testing.T) {
	src := newListSource(1, 60, 10) // 6 pages
	src.parts = src.parts[:1]
	release := make(chan struct{})
	var s *concSink
	s = newConcSink(2, func(batch []*Record) error {
		if idIndex(batch[0]) == 0 {
			for s.writes.Load() < 5 {
				time.Sleep(time.Millisecond)
			}
			<-release
		}
		return nil
	})
	dir := t.TempDir()
	cps, _ := OpenCheckpoints(dir)
	dlq, _ := OpenDeadLetter(dir)
	defer dlq.Close()
	order := &pageOrder{}
	done := startRun(context.Background(), Options{Source: src, Checkpoints: cps, DeadLetter: dlq, Once: true, Workers: 3,
		Sinks:     []SinkSpec{{Name: "s", Sink: s, Batch: BatchPolicy{MaxEvents: 10}}},
		Observers: []DeliveryObserver{order}})
	key := src.parts[0].Key()
	waitFor(t, func() bool { return s.writes.Load() == 5 })
	// pages 2-6 are settled; give the ack and commit loops time to
	// (wrongly) commit them
	time.Sleep(150 * time.Millisecond)
	if cp, ok := cps.Get(key); ok {
		t.Errorf("cursor %q committed while the first page is still being written", cp.Cursor)
	}
	if cp, ok := cps.DurableGet(key); ok {
		t.Errorf("cursor %q flushed while the first page is still being written", cp.Cursor)
	}
	if n := len(order.recs); n != 0 {
		t.Errorf("the ack loop handed on %d records before the first page settled", n)
	}
	close(release)
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	if m := s.most.Load(); m != 2 {
		t.Errorf("at most %d batches in flight, want 2", m)
	}
	if cp, _ := cps.DurableGet(key); cp.Cursor != "60" {
		t.Errorf("cursor %q at the end, want 60", cp.Cursor)
	}
	s.exactlyOnce(t, src)
	for i, r := range order.recs {
		if idIndex(r) != i {
			t.Fatalf("the ack loop handed on %s at position %d: pages out of order", r.ID, i)
		}
	}
}

// A sink that is not a ConcurrentSink, or says 1, never has two Writes at
// once; a ConcurrentSink has at most its number.
func TestConcurrentBatchesBound(t *testing.T) {
	slow := func([]*Record) error { time.Sleep(3 * time.Millisecond); return nil }
	for _, tc := range []struct {
		name string
		n    int
		sink func(*concSink) Sink
		want int32
	}{
		{"plain sink", 8, func(s *concSink) Sink { return oneAtATime{s} }, 1},
		{"ConcurrentBatches 1", 1, func(s *concSink) Sink { return s }, 1},
		{"ConcurrentBatches 3", 3, func(s *concSink) Sink { return s }, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newListSource(3, 100, 10) // 60 pages over 6 partitions
			s := newConcSink(tc.n, slow)
			runOnce(t, src, []SinkSpec{{Name: "s", Sink: tc.sink(s), Batch: BatchPolicy{MaxEvents: 10}}}, t.TempDir())
			s.exactlyOnce(t, src)
			if m := s.most.Load(); m > tc.want || (tc.want > 1 && m < 2) {
				t.Errorf("at most %d Writes at once, want %d", m, tc.want)
			}
		})
	}
}

// A batch that fails holds back only its own pages: while a record of the
// first alerts page fails (retryably), the other batches go on — the
// events partition is committed to its end, the later alerts pages are
// delivered, but the alerts cursor stays before the failing page. Once the
// record goes through, everything is committed, each record once. A record
// refused for good is dead-lettered and holds nothing back.
func TestConcurrentBatchFailureHoldsOnlyItsPages(t *testing.T) {
	src := newListSource(1, 50, 10) // alerts and events, 5 pages each
	alerts, events := src.parts[0].Key(), src.parts[1].Key()
	var failing atomic.Bool
	failing.Store(true)
	var s *concSink
	s = newConcSink(2, func(batch []*Record) error {
		var be BatchError
		for i, r := range batch {
			switch {
			case r.ID == "t0-alert-3" && failing.Load():
				be.Add(i, errors.New("busy"))
			case r.ID == "t0-alert-27":
				be.Add(i, Permanent(errors.New("refused for good")))
			}
		}
		return be.ErrOrNil()
	})
	dir := t.TempDir()
	cps, _ := OpenCheckpoints(dir)
	dlq, _ := OpenDeadLetter(dir)
	defer dlq.Close()
	done := startRun(context.Background(), Options{Source: src, Checkpoints: cps, DeadLetter: dlq, Once: true, Workers: 3,
		Sinks: []SinkSpec{{Name: "s", Sink: s, Batch: BatchPolicy{MaxEvents: 10},
			Retry: RetryPolicy{Initial: time.Millisecond, Max: 2 * time.Millisecond}}}})
	waitFor(t, func() bool { cp, _ := cps.DurableGet(events); return cp.Cursor == "50" })
	waitFor(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.got["t0-alert-49"] == 1 // the last alerts page went past the failing one
	})
	if cp, ok := cps.Get(alerts); ok {
		t.Errorf("alerts cursor %q committed while its first page still fails", cp.Cursor)
	}
	failing.Store(false)
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	for _, k := range []string{alerts, events} {
		if cp, _ := cps.DurableGet(k); cp.Cursor != "50" {
			t.Errorf("%s: cursor %q at the end, want 50", k, cp.Cursor)
		}
	}
	if res.st.DeadLettered != 1 || res.st.Delivered != 99 {
		t.Errorf("delivered %d, dead-lettered %d; want 99 and 1", res.st.Delivered, res.st.DeadLettered)
	}
	s.exactlyOnce(t, src, "t0-alert-27")
}

// Shutdown with batches in flight: the pages before a page that never gets
// through are committed, that page and those after it are not (their
// batches were delivered, but the cursor cannot pass the unsettled page).
func TestConcurrentShutdownLeavesUnsettledPages(t *testing.T) {
	src := newListSource(1, 60, 10)
	src.parts = src.parts[:1]
	s := newConcSink(3, func(batch []*Record) error {
		if idIndex(batch[0]) == 20 {
			return errors.New("destination refuses this page")
		}
		return nil
	})
	dir := t.TempDir()
	cps, _ := OpenCheckpoints(dir)
	dlq, _ := OpenDeadLetter(dir)
	defer dlq.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := startRun(ctx, Options{Source: src, Checkpoints: cps, DeadLetter: dlq, Workers: 3, DrainTimeout: 200 * time.Millisecond,
		Sinks:    []SinkSpec{{Name: "s", Sink: s, Batch: BatchPolicy{MaxEvents: 10}, Retry: fastRetry()}},
		NextPass: func() (bool, time.Duration) { return true, time.Hour }})
	waitFor(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.got) == 50
	})
	cancel()
	res := <-done
	var ue *UndeliveredError
	if !errors.As(res.err, &ue) {
		t.Fatalf("error %v, want *UndeliveredError", res.err)
	}
	if cp, _ := cps.DurableGet(src.parts[0].Key()); cp.Cursor != "20" {
		t.Fatalf("cursor %q after shutdown, want 20: the third page never got through", cp.Cursor)
	}
	if n := res.st.Undelivered["s"]; n != 10 {
		t.Fatalf("%d record(s) reported undelivered, want 10", n)
	}
}

// A lingering batch of a ConcurrentSink ends once every in-flight page is
// in it or in this sink's groups being delivered: no more records can
// arrive, so the hour-long linger must not be waited out.
func TestConcurrentLingerEndsWhenSaturated(t *testing.T) {
	src := newListSource(1, 3000, 100)
	s := newConcSink(4, func([]*Record) error { time.Sleep(5 * time.Millisecond); return nil })
	start := time.Now()
	st, _, _ := runOnce(t, src, []SinkSpec{
		{Name: "s", Sink: s, Batch: BatchPolicy{MaxEvents: 100000, Timeout: time.Hour}, Retry: fastRetry()},
	}, t.TempDir())
	if st.Records != 6000 {
		t.Fatalf("records %d", st.Records)
	}
	s.exactlyOnce(t, src)
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("took %s: a batch waited out its linger", d)
	}
}

// One Deliverer used by many goroutines at once (run with -race): every
// record is delivered or dead-lettered exactly once, and the counts add up.
func TestDelivererConcurrentUse(t *testing.T) {
	dlq, err := OpenDeadLetter(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	var tries sync.Map // id -> attempts
	s := newConcSink(8, func(batch []*Record) error {
		var be BatchError
		for i, r := range batch {
			n, _ := tries.LoadOrStore(r.ID, new(atomic.Int32))
			a := n.(*atomic.Int32).Add(1)
			switch {
			case idIndex(r)%7 == 0:
				be.Add(i, Permanent(errors.New("no")))
			case idIndex(r)%3 == 0 && a < 3:
				be.Add(i, errors.New("later"))
			}
		}
		return be.ErrOrNil()
	})
	var delivered, dead atomic.Int64
	d := &Deliverer{Name: "s", Sink: s, DeadLetter: dlq, Retry: RetryPolicy{Initial: time.Millisecond, Max: 2 * time.Millisecond},
		OnDelivered: func(n int) { delivered.Add(int64(n)) }, OnDeadLettered: func(n int) { dead.Add(int64(n)) }}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			var batch []*Record
			for i := range 50 {
				r, _ := NewRecord(Events, "t", fmt.Appendf(nil, `{"id":"g%d-%d"}`, g, g*50+i))
				batch = append(batch, &r)
			}
			if !d.Deliver(context.Background(), batch) {
				t.Error("Deliver stopped")
			}
		})
	}
	wg.Wait()
	wantDead := int64(0)
	for i := range 400 {
		if i%7 == 0 {
			wantDead++
		}
	}
	if dead.Load() != wantDead || delivered.Load() != 400-wantDead {
		t.Fatalf("delivered %d, dead-lettered %d; want %d and %d", delivered.Load(), dead.Load(), 400-wantDead, wantDead)
	}
	if len(s.got) != int(400-wantDead) {
		t.Fatalf("the sink holds %d records", len(s.got))
	}
}
