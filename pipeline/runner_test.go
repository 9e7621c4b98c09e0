package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// listSource serves fixed records per partition in pages; the cursor is the
// index of the next record. It is a test double for the pipeline's own
// mechanics; the Sophos source is tested against the emulator elsewhere.
type listSource struct {
	parts    []Partition
	items    map[string][]string // partition key -> ids
	pageSize int
	mu       sync.Mutex
	fetches  int
}

func newListSource(tenants int, perPart, pageSize int) *listSource {
	s := &listSource{items: map[string][]string{}, pageSize: pageSize}
	for t := 0; t < tenants; t++ {
		for _, st := range []Stream{Alerts, Events} {
			p := Partition{Tenant: fmt.Sprintf("t%d", t), Stream: st}
			s.parts = append(s.parts, p)
			for i := 0; i < perPart; i++ {
				s.items[p.Key()] = append(s.items[p.Key()], fmt.Sprintf("%s-%s-%d", p.Tenant, st, i))
			}
		}
	}
	return s
}

func (s *listSource) Partitions(ctx context.Context) ([]Partition, error) { return s.parts, nil }

func (s *listSource) Fetch(ctx context.Context, p Partition, pos Position) (*Page, error) {
	s.mu.Lock()
	s.fetches++
	s.mu.Unlock()
	start := 0
	if pos.Cursor != "" {
		start, _ = strconv.Atoi(pos.Cursor)
	}
	ids := s.items[p.Key()]
	end := min(start+s.pageSize, len(ids))
	page := &Page{Partition: p, Cursor: strconv.Itoa(end), HasMore: end < len(ids)}
	for _, id := range ids[start:end] {
		raw := []byte(fmt.Sprintf(`{"id":%q,"type":"Event::Endpoint::UpdateSuccess","severity":"low","created_at":"2026-11-26T10:00:00.000Z"}`, id))
		r, err := NewRecord(p.Stream, p.Tenant, raw)
		if err != nil {
			return nil, err
		}
		page.Records = append(page.Records, r)
	}
	return page, nil
}

// recordingSink keeps every delivered id; fail decides per record.
type recordingSink struct {
	mu        sync.Mutex
	got       map[string]int
	order     []string
	fail      func(r *Record, attempt int) error // nil = deliver
	attempts  map[string]int
	down      bool
	writes    int
	batchSize int
	kept      []Record // type, id and raw of each delivered record, in order
}

// records returns the type, id and raw item of each delivered record.
func (s *recordingSink) records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Record(nil), s.kept...)
}

func newRecordingSink() *recordingSink {
	return &recordingSink{got: map[string]int{}, attempts: map[string]int{}}
}

func (s *recordingSink) Start(ctx context.Context) error { return nil }
func (s *recordingSink) Close() error                    { return nil }
func (s *recordingSink) Write(ctx context.Context, batch []*Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	s.batchSize = max(s.batchSize, len(batch))
	if s.down {
		return errors.New("destination down")
	}
	var be BatchError
	for i, r := range batch {
		s.attempts[r.ID]++
		if s.fail != nil {
			if err := s.fail(r, s.attempts[r.ID]); err != nil {
				be.Add(i, err)
				continue
			}
		}
		s.got[r.ID]++
		s.order = append(s.order, r.ID)
		s.kept = append(s.kept, Record{Type: r.Type, ID: r.ID, Raw: append([]byte(nil), r.Raw...)})
	}
	return be.ErrOrNil()
}

func (s *recordingSink) setDown(v bool) {
	s.mu.Lock()
	s.down = v
	s.mu.Unlock()
}

func (s *recordingSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

func runOnce(t *testing.T, src Source, sinks []SinkSpec, dir string, stages ...StageSpec) (Stats, *CheckpointStore, *DeadLetter) {
	t.Helper()
	cps, err := OpenCheckpoints(dir)
	if err != nil {
		t.Fatal(err)
	}
	dlq, err := OpenDeadLetter(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dlq.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := Run(ctx, Options{Source: src, Sinks: sinks, Stages: stages, Checkpoints: cps, DeadLetter: dlq, Once: true, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	return st, cps, dlq
}

func fastRetry() RetryPolicy {
	return RetryPolicy{Initial: time.Millisecond, Max: 5 * time.Millisecond}
}

func TestRunDeliversEveryRecordAndCommits(t *testing.T) {
	src := newListSource(3, 2500, 1000)
	a, b := newRecordingSink(), newRecordingSink()
	dir := t.TempDir()
	st, cps, _ := runOnce(t, src, []SinkSpec{
		{Name: "a", Sink: a, Retry: fastRetry()},
		{Name: "b", Sink: b, Routes: Routes{Streams: []Stream{Events}}, Batch: BatchPolicy{MaxEvents: 300}, Retry: fastRetry()},
	}, dir)
	if st.Records != 15000 || a.count() != 15000 {
		t.Fatalf("records %d, sink a got %d", st.Records, a.count())
	}
	if b.count() != 7500 {
		t.Fatalf("events-only sink got %d", b.count())
	}
	if b.batchSize > 300 {
		t.Fatalf("batch of %d exceeds max_events 300", b.batchSize)
	}
	for id, n := range a.got {
		if n != 1 {
			t.Fatalf("%s delivered %d times", id, n)
		}
	}
	for _, p := range src.parts {
		cp, ok := cps.Get(p.Key())
		if !ok || cp.Cursor != "2500" {
			t.Fatalf("checkpoint %s = %+v", p.Key(), cp)
		}
	}
	// A reopened store sees the same (the file was written atomically).
	again, err := OpenCheckpoints(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cp, _ := again.Get(src.parts[0].Key()); cp.Cursor != "2500" {
		t.Fatalf("reloaded checkpoint %+v", cp)
	}
	// A second run pulls nothing new.
	a2 := newRecordingSink()
	st2, _, _ := runOnce(t, src, []SinkSpec{{Name: "a", Sink: a2}}, dir)
	if st2.Records != 0 || a2.count() != 0 {
		t.Fatalf("second run pulled %d records", st2.Records)
	}
}

func TestRunRetriesOnlyFailedRecordsAndDeadLettersRejected(t *testing.T) {
	src := newListSource(1, 1000, 250)
	s := newRecordingSink()
	s.fail = func(r *Record, attempt int) error {
		n, _ := strconv.Atoi(r.ID[len(r.ID)-3:])
		switch {
		case n%97 == 0:
			return Permanent(errors.New("mapping error"))
		case n%10 == 0 && attempt < 3:
			return errors.New("429 too many requests")
		}
		return nil
	}
	dir := t.TempDir()
	st, _, dlq := runOnce(t, src, []SinkSpec{{Name: "s", Sink: s, Retry: fastRetry()}}, dir)
	var wantDLQ int
	for _, p := range src.parts {
		for _, id := range src.items[p.Key()] {
			n, _ := strconv.Atoi(id[len(id)-3:])
			if n%97 == 0 {
				wantDLQ++
			} else if s.got[id] != 1 {
				t.Fatalf("%s delivered %d times", id, s.got[id])
			}
			if n%10 == 0 && n%97 != 0 && s.attempts[id] != 3 {
				t.Fatalf("%s attempted %d times, want 3", id, s.attempts[id])
			}
			if n%10 != 0 && n%97 != 0 && s.attempts[id] != 1 {
				t.Fatalf("%s attempted %d times: a record that succeeded was retried", id, s.attempts[id])
			}
		}
	}
	if int(st.DeadLettered) != wantDLQ || dlq.Count() != wantDLQ {
		t.Fatalf("dead-lettered %d (file %d), want %d", st.DeadLettered, dlq.Count(), wantDLQ)
	}
	var lines int
	if err := ReadDeadLetters(dlq.Path(), func(e DeadLetterEntry) error {
		lines++
		if e.Sink != "s" || e.Reason != "mapping error" || e.ID == "" || len(e.Record) == 0 {
			return fmt.Errorf("bad entry %+v", e)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if lines != wantDLQ {
		t.Fatalf("%d dead-letter lines, want %d", lines, wantDLQ)
	}
}

func TestCheckpointWaitsForDownSink(t *testing.T) {
	src := newListSource(1, 3000, 500)
	src.parts = src.parts[1:] // events only
	good, bad := newRecordingSink(), newRecordingSink()
	bad.setDown(true)
	dir := t.TempDir()
	cps, _ := OpenCheckpoints(dir)
	dlq, _ := OpenDeadLetter(dir)
	defer dlq.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Options{Source: src, Checkpoints: cps, DeadLetter: dlq, Once: true, MaxInflightPages: 2,
			Sinks: []SinkSpec{{Name: "good", Sink: good, Retry: fastRetry()}, {Name: "bad", Sink: bad, Retry: fastRetry()}}})
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	if _, ok := cps.Get(src.parts[0].Key()); ok {
		t.Fatal("checkpoint committed while a sink was down")
	}
	if good.count() > 1000 {
		t.Fatalf("memory buffering is bounded: good sink got %d records past the in-flight limit of 2 pages", good.count())
	}
	bad.setDown(false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if bad.count() != 3000 || good.count() != 3000 {
		t.Fatalf("after recovery: good %d, bad %d", good.count(), bad.count())
	}
	if cp, _ := cps.Get(src.parts[0].Key()); cp.Cursor != "3000" {
		t.Fatalf("checkpoint %+v", cp)
	}
}

// dropOdd is a stage that drops records whose id ends in an odd digit and
// fails on ids ending in 5.
type dropOdd struct{ delivered []*Record }

func (d *dropOdd) Process(r *Record, out []*Record) ([]*Record, error) {
	last := r.ID[len(r.ID)-1] - '0'
	if last == 5 {
		return out, errors.New("cannot transform")
	}
	if last%2 == 1 {
		return out, nil
	}
	return append(out, r), nil
}

func (d *dropOdd) Delivered(recs []*Record) { d.delivered = append(d.delivered, recs...) }

func TestStagesDropAndDeadLetter(t *testing.T) {
	src := newListSource(1, 100, 30)
	src.parts = src.parts[:1]
	s := newRecordingSink()
	st, _, dlq := runOnce(t, src, []SinkSpec{{Name: "s", Sink: s}}, t.TempDir(), StageSpec{Name: "odd", Stage: &dropOdd{}})
	if s.count() != 50 || st.Dropped != 40 || dlq.Count() != 10 {
		t.Fatalf("delivered %d dropped %d dead-lettered %d", s.count(), st.Dropped, dlq.Count())
	}
}

func TestMaxAttemptsDeadLetters(t *testing.T) {
	src := newListSource(1, 10, 10)
	src.parts = src.parts[:1]
	s := newRecordingSink()
	s.setDown(true)
	st, cps, _ := runOnce(t, src, []SinkSpec{{Name: "s", Sink: s, Retry: RetryPolicy{Initial: time.Millisecond, Max: time.Millisecond, MaxAttempts: 3}}}, t.TempDir())
	if st.DeadLettered != 10 || s.writes != 3 {
		t.Fatalf("dead-lettered %d after %d writes", st.DeadLettered, s.writes)
	}
	if cp, _ := cps.Get(src.parts[0].Key()); cp.Cursor != "10" {
		t.Fatalf("dead-lettered records count as settled: checkpoint %+v", cp)
	}
}

// slowFirstSink delays the first batch so a later page finishes first.
type slowFirstSink struct {
	recordingSink
	once sync.Once
}

func (s *slowFirstSink) Write(ctx context.Context, batch []*Record) error {
	s.once.Do(func() { time.Sleep(200 * time.Millisecond) })
	return s.recordingSink.Write(ctx, batch)
}

func TestObserversSeeDeliveredPagesInOrder(t *testing.T) {
	src := newListSource(1, 500, 100)
	src.parts = src.parts[:1]
	obs := &dropOdd{}
	// The first page goes only to a sink whose first write is slow, the
	// others only to a fast sink: pages 2-5 finish before page 1, yet the
	// observer and the checkpoint must see them in page order.
	index := func(r *Record) int { n, _ := strconv.Atoi(r.ID[strings.LastIndexByte(r.ID, '-')+1:]); return n }
	slow := &slowFirstSink{recordingSink: *newRecordingSink()}
	fast := newRecordingSink()
	dir := t.TempDir()
	cps, _ := OpenCheckpoints(dir)
	dlq, _ := OpenDeadLetter(dir)
	defer dlq.Close()
	_, err := Run(context.Background(), Options{Source: src, Checkpoints: cps, DeadLetter: dlq, Once: true,
		Sinks: []SinkSpec{
			{Name: "slow", Sink: slow, Routes: Routes{When: func(r *Record) bool { return index(r) < 100 }}},
			{Name: "fast", Sink: fast, Routes: Routes{When: func(r *Record) bool { return index(r) >= 100 }}},
		},
		Observers: []DeliveryObserver{obs}})
	if err != nil {
		t.Fatal(err)
	}
	if slow.count() != 100 || fast.count() != 400 {
		t.Fatalf("slow %d, fast %d", slow.count(), fast.count())
	}
	if len(obs.delivered) != 500 {
		t.Fatalf("observer saw %d records", len(obs.delivered))
	}
	for i, r := range obs.delivered {
		if want := fmt.Sprintf("t0-alert-%d", i); r.ID != want {
			t.Fatalf("observer order: got %s at %d, want %s", r.ID, i, want)
		}
	}
	if cp, _ := cps.Get(src.parts[0].Key()); cp.Cursor != "500" {
		t.Fatalf("checkpoint %+v", cp)
	}
}

func TestShutdownDoesNotCommitUndelivered(t *testing.T) {
	src := newListSource(1, 2000, 100)
	src.parts = src.parts[:1]
	s := newRecordingSink()
	s.setDown(true)
	dir := t.TempDir()
	cps, _ := OpenCheckpoints(dir)
	dlq, _ := OpenDeadLetter(dir)
	defer dlq.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { // stop once a write has failed: pages are in flight
		for {
			s.mu.Lock()
			w := s.writes
			s.mu.Unlock()
			if w > 0 {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	_, err := Run(ctx, Options{Source: src, Checkpoints: cps, DeadLetter: dlq, DrainTimeout: 200 * time.Millisecond,
		Sinks: []SinkSpec{{Name: "s", Sink: s, Retry: fastRetry()}}, NextPass: func() (bool, time.Duration) { return true, time.Hour }})
	// Pages still undelivered at the drain timeout: an error (exit 1), not success.
	var ue *UndeliveredError
	if !errors.As(err, &ue) {
		t.Fatalf("error %v, want *UndeliveredError", err)
	}
	if _, ok := cps.Get(src.parts[0].Key()); ok {
		t.Fatal("a cursor was committed although nothing was delivered")
	}
}

// TestLingerEndsWhenTheRunnerIsSaturated: a sink that lingers for big
// batches (the s3 sink: max_records, max_age) does not wait out its
// linger while every in-flight page is its own pending batch — no more
// records could arrive, so waiting would only stall the pipeline.
func TestLingerEndsWhenTheRunnerIsSaturated(t *testing.T) {
	src := newListSource(1, 3000, 100) // 60 pages of 100 records
	a := newRecordingSink()
	start := time.Now()
	st, _, _ := runOnce(t, src, []SinkSpec{
		{Name: "a", Sink: a, Batch: BatchPolicy{MaxEvents: 100000, Timeout: time.Hour}, Retry: fastRetry()},
	}, t.TempDir())
	if st.Records != 6000 || a.count() != 6000 {
		t.Fatalf("records %d, sink got %d", st.Records, a.count())
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("took %s: the batch waited out its linger with the runner saturated", d)
	}
	if a.writes > 60 || a.batchSize < 200 {
		t.Fatalf("%d writes, largest %d: the batches should gather the in-flight pages", a.writes, a.batchSize)
	}
}
