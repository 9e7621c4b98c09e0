package buffer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/internal/tinydisk"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/diskq"
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

type ctxSink struct{}

func (ctxSink) Start(context.Context) error { return nil }
func (ctxSink) Close() error                { return nil }
func (ctxSink) Write(ctx context.Context, _ []*pipeline.Record) error {
	<-ctx.Done()
	return ctx.Err() // "operation was canceled", as HTTP clients say
}

// TestShutdownCancellationIsNotAnError: a write cancelled by shutdown (or
// -timeout) logs no ERROR and leaves the sink's state alone.
func TestShutdownCancellationIsNotAnError(t *testing.T) {
	var logs strings.Builder
	m := pipeline.NewMetrics()
	m.Board.AddSink("s", "http")
	d := &pipeline.Deliverer{Name: "s", Sink: ctxSink{}, Metrics: m, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if d.Deliver(ctx, recs(t, 0, 3)) {
		t.Fatal("a cancelled delivery reported success")
	}
	if strings.Contains(logs.String(), "ERROR") || m.Board.Snapshot(time.Now()).Sinks[0].LastError != "" {
		t.Fatalf("cancellation logged as a failure:\n%s", logs.String())
	}
}

// errSink records the errors of the sink it wraps (the disk buffer here).
type errSink struct {
	pipeline.Sink
	mu   sync.Mutex
	errs []error
}

func (s *errSink) Write(ctx context.Context, b []*pipeline.Record) error {
	err := s.Sink.Write(ctx, b)
	if err != nil {
		s.mu.Lock()
		s.errs = append(s.errs, err)
		s.mu.Unlock()
	}
	return err
}

func (s *errSink) failed() []error { s.mu.Lock(); defer s.mu.Unlock(); return slices.Clone(s.errs) }

// TestFullStateDiskWhileSinkDown is issue 26's full disk: the destination
// is down while records keep coming, the buffer fills the (real, tmpfs)
// state disk and its appends fail; the pipeline holds the rest back and
// retries. When the destination is back every record arrives exactly once
// — before, the delivered records' segment was never freed, the disk
// stayed full and the sink was stuck for good (1,200 of 6,200 delivered).
// At the end the buffer's segment files hold nothing.
func TestFullStateDiskWhileSinkDown(t *testing.T) {
	tinydisk.Run(t, 256<<10, func(t *testing.T, disk string) {
		dir := filepath.Join(disk, "buffer", "s")
		inner := &flakySink{down: true, got: map[string]int{}}
		s := newBuffered(t, dir, inner)
		defer s.Close()
		// The pipeline's side: a Deliverer retrying the buffer's Write until it takes the batch.
		in := &errSink{Sink: s}
		outer := &pipeline.Deliverer{Name: "s", Sink: in, Retry: pipeline.RetryPolicy{Initial: time.Millisecond, Max: 20 * time.Millisecond}}
		const batches, per = 62, 100
		done := make(chan struct{})
		go func() {
			defer close(done)
			for b := 0; b < batches; b++ {
				if !outer.Deliver(context.Background(), recs(t, b*per, per)) {
					t.Error("the pipeline gave up on a batch")
					return
				}
			}
		}()
		waitFor(t, "the state disk to fill", func() bool { return len(in.failed()) > 0 })
		if err := in.failed()[0]; !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("the buffer's first failure: %v (want a full disk)", err)
		}
		t.Logf("the disk filled with %d record(s) buffered", s.Pending())
		inner.set(false)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("stuck: %d of %d records delivered, %d buffered, last error %v", inner.count(), batches*per, s.Pending(), in.failed()[len(in.failed())-1])
		}
		waitFor(t, "drain", func() bool { return s.Pending() == 0 })
		inner.mu.Lock()
		for id, n := range inner.got {
			if n != 1 {
				t.Errorf("%s delivered %d times", id, n)
			}
		}
		got := len(inner.got)
		inner.mu.Unlock()
		if got != batches*per {
			t.Fatalf("delivered %d of %d", got, batches*per)
		}
		segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
		var size int64
		for _, p := range segs {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			size += fi.Size()
		}
		if len(segs) != 1 || size > 16 {
			t.Fatalf("after delivering everything the segment files hold %d bytes: %v", size, segs)
		}
	})
}

// TestDiskFaultReopensTheQueue: after a disk fault the queue refuses
// appends until it is reopened (diskq.ErrFailed); the buffer reopens it at
// the next write instead of refusing every batch until a restart, and every
// record, buffered before or after the fault, is delivered.
func TestDiskFaultReopensTheQueue(t *testing.T) {
	dir := t.TempDir()
	inner := &flakySink{down: true, got: map[string]int{}}
	s := newBuffered(t, dir, inner)
	defer s.Close()
	ctx := context.Background()
	if err := s.Write(ctx, recs(t, 0, 300)); err != nil {
		t.Fatal(err)
	}
	old := s.q()
	old.InjectFault(errors.New("fsync: input/output error"))
	if err := old.Append(ctx, [][]byte{[]byte("x")}); !errors.Is(err, diskq.ErrFailed) {
		t.Fatalf("the faulted queue's append: %v, want ErrFailed", err)
	}
	if err := s.Write(ctx, recs(t, 300, 300)); err != nil {
		t.Fatalf("write after a disk fault: %v (the buffer should have reopened its queue)", err)
	}
	if s.q() == old {
		t.Fatal("the queue was not reopened")
	}
	if s.Pending() != 600 {
		t.Fatalf("pending %d after the reopen, want 600", s.Pending())
	}
	inner.set(false)
	waitFor(t, "drain", func() bool { return s.Pending() == 0 && inner.count() == 600 })
	for id, n := range inner.got {
		if n != 1 {
			t.Fatalf("%s delivered %d times", id, n)
		}
	}
}

// TestClosedBufferIsNotReopened: a write after Close is refused, not
// answered by reopening the queue (which would hold its lock for good).
func TestClosedBufferIsNotReopened(t *testing.T) {
	dir := t.TempDir()
	s := newBuffered(t, dir, &flakySink{got: map[string]int{}})
	s.Close()
	if err := s.Write(context.Background(), recs(t, 0, 1)); !errors.Is(err, diskq.ErrClosed) {
		t.Fatalf("write after Close: %v, want ErrClosed", err)
	}
	q, err := diskq.Open(dir, diskq.Options{})
	if err != nil {
		t.Fatalf("the directory is still held after Close: %v", err)
	}
	q.Close()
}

// TestFailedReopenIsRetried: when reopening after a disk fault fails too
// (here the directory is not there), the write fails — the pipeline holds
// the page back and retries — and a later write reopens the queue and
// restarts the drainer.
func TestFailedReopenIsRetried(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "q")
	inner := &flakySink{got: map[string]int{}}
	s := newBuffered(t, dir, inner)
	defer s.Close()
	ctx := context.Background()
	s.q().InjectFault(errors.New("fsync: input/output error"))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil { // a file where the directory was
		t.Fatal(err)
	}
	err := s.Write(ctx, recs(t, 0, 10))
	if err == nil || !strings.Contains(err.Error(), "reopening after a disk fault") {
		t.Fatalf("write while the queue cannot be reopened: %v", err)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, recs(t, 10, 10)); err != nil {
		t.Fatalf("write once the directory can be opened again: %v", err)
	}
	waitFor(t, "the restarted drainer", func() bool { return inner.count() == 10 })
}
