package buffer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/status"
)

type flakySink struct {
	mu   sync.Mutex
	down bool
	got  map[string]int
}

func (s *flakySink) Start(context.Context) error { return nil }
func (s *flakySink) Close() error                { return nil }
func (s *flakySink) Write(_ context.Context, b []*pipeline.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errors.New("down")
	}
	for _, r := range b {
		s.got[r.ID]++
	}
	return nil
}
func (s *flakySink) set(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }
func (s *flakySink) count() int    { s.mu.Lock(); defer s.mu.Unlock(); return len(s.got) }

func recs(t *testing.T, from, n int) []*pipeline.Record {
	var out []*pipeline.Record
	for i := from; i < from+n; i++ {
		r, err := pipeline.NewRecord(pipeline.Events, "t", []byte(fmt.Sprintf(`{"id":"r%d","severity":"low"}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &r)
	}
	return out
}

func newBuffered(t *testing.T, dir string, inner pipeline.Sink) *Sink {
	t.Helper()
	dlq, err := pipeline.OpenDeadLetter(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dlq.Close() })
	d := &pipeline.Deliverer{Name: "s", Sink: inner, DeadLetter: dlq, Retry: pipeline.RetryPolicy{Initial: time.Millisecond, Max: 5 * time.Millisecond}}
	s, err := New(d, Options{Dir: dir, MaxEvents: 100})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBufferAcceptsWhileDownAndDeliversAfter(t *testing.T) {
	dir := t.TempDir()
	inner := &flakySink{down: true, got: map[string]int{}}
	s := newBuffered(t, dir, inner)
	ctx := context.Background()
	for b := 0; b < 10; b++ {
		if err := s.Write(ctx, recs(t, b*100, 100)); err != nil {
			t.Fatalf("buffered write failed while the sink is down: %v", err)
		}
	}
	if inner.count() != 0 || s.Pending() != 1000 {
		t.Fatalf("delivered %d, pending %d", inner.count(), s.Pending())
	}
	// Restart while still down: nothing is lost.
	s.Close()
	s = newBuffered(t, dir, inner)
	if s.Pending() != 1000 {
		t.Fatalf("after restart pending %d", s.Pending())
	}
	inner.set(false)
	waitFor(t, "drain", func() bool { return s.Pending() == 0 })
	s.Close()
	if inner.count() != 1000 {
		t.Fatalf("delivered %d of 1000", inner.count())
	}
	for id, n := range inner.got {
		if n > 2 {
			t.Fatalf("%s delivered %d times", id, n)
		}
	}
	// A third start has nothing left to deliver.
	s = newBuffered(t, dir, inner)
	defer s.Close()
	if s.Pending() != 0 {
		t.Fatalf("delivered records came back: %d", s.Pending())
	}
}

func TestBufferFullDropNewestIsPermanent(t *testing.T) {
	inner := &flakySink{down: true, got: map[string]int{}}
	dlq, _ := pipeline.OpenDeadLetter(t.TempDir())
	defer dlq.Close()
	d := &pipeline.Deliverer{Name: "s", Sink: inner, DeadLetter: dlq}
	s, err := New(d, Options{Dir: t.TempDir(), MaxBytes: 4096, WhenFull: "drop_newest"})
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	defer s.Close()
	var full error
	for b := 0; b < 100 && full == nil; b++ {
		full = s.Write(context.Background(), recs(t, b*10, 10))
	}
	if full == nil || !pipeline.IsPermanent(full) {
		t.Fatalf("a full buffer under drop_newest must refuse for good (dead letter), got %v", full)
	}
}

// TestStatusShowsDrainerError: while the destination behind a disk buffer
// is down, every poll of the status board shows the drainer's error and a
// state that is not ok — appends to the buffer succeed meanwhile, and once
// cleared the error on every successful append, hiding the dead destination.
// When the destination is back, the drainer's delivery clears it.
func TestStatusShowsDrainerError(t *testing.T) {
	inner := &flakySink{got: map[string]int{}, down: true}
	s := newBuffered(t, t.TempDir(), inner)
	defer s.Close()
	m := s.m
	board := m.Board
	board.AddSink("s", "syslog")
	// The pipeline's sink worker writes into the buffer with its own
	// Deliverer, which leaves delivery to the drainer (as sinkWorker does).
	front := &pipeline.Deliverer{Name: "s", Sink: s, Metrics: m, NoDeliveredMetric: true}
	front.Deliver(context.Background(), recs(t, 0, 10))
	waitFor(t, "the drainer's first failure", func() bool { return board.Snapshot(time.Now()).Sinks[0].LastError != "" })
	for i := 1; i <= 25; i++ {
		batch := recs(t, i*10, 10)
		board.SinkRouted("s", len(batch), time.Now())
		if !front.Deliver(context.Background(), batch) {
			t.Fatal("append failed")
		}
		sk := board.Snapshot(time.Now()).Sinks[0]
		if sk.LastError == "" || sk.State == status.SinkOK {
			t.Fatalf("poll %d after a successful append: the down destination is hidden: %+v", i, sk)
		}
		if sk.Undelivered == 0 || sk.OldestUndeliveredSeconds == nil {
			t.Fatalf("poll %d: buffered records not counted as undelivered: %+v", i, sk)
		}
	}
	inner.set(false)
	waitFor(t, "the drainer to deliver", func() bool {
		sk := board.Snapshot(time.Now()).Sinks[0]
		return sk.LastError == "" && sk.State == status.SinkOK && sk.Undelivered == 0
	})
}
