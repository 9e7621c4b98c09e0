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

// hostileSource has one partition with an endless backlog, one whose
// answers hang (until a 300 ms "request timeout"), one whose cursor moves
// on every page while nothing comes, and healthy ones with nothing new.
type hostileSource struct {
	parts []Partition
	mu    sync.Mutex
	pulls map[string][]time.Time
}

func (s *hostileSource) Partitions(ctx context.Context) ([]Partition, error) { return s.parts, nil }

func (s *hostileSource) Fetch(ctx context.Context, p Partition, pos Position) (*Page, error) {
	s.mu.Lock()
	s.pulls[p.Tenant] = append(s.pulls[p.Tenant], time.Now())
	s.mu.Unlock()
	n, _ := strconv.Atoi(strings.TrimPrefix(pos.Cursor, "c"))
	page := &Page{Partition: p, Cursor: "c" + strconv.Itoa(n+1)}
	switch p.Tenant {
	case "backlog":
		page.HasMore = true
		for i := range 10 {
			r, _ := NewRecord(p.Stream, p.Tenant, []byte(fmt.Sprintf(`{"id":"b-%d-%d","type":"x","severity":"low","created_at":"2026-11-26T10:00:00.000Z"}`, n, i)))
			page.Records = append(page.Records, r)
		}
	case "hang":
		select {
		case <-time.After(300 * time.Millisecond):
			return nil, errors.New("no complete response within 300ms (timeout)")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	case "loop":
		page.HasMore = true // and never an item
	}
	return page, nil
}

// The healthy tenants are pulled every pass although one tenant never
// catches up, one hangs and one loops: their pull interval stays within
// pull_time + one turn + the request timeout.
func TestFairPassesBacklogHangLoop(t *testing.T) {
	src := &hostileSource{pulls: map[string][]time.Time{}}
	for _, name := range []string{"backlog", "hang", "loop", "healthy1", "healthy2"} {
		src.parts = append(src.parts, Partition{Tenant: name, Stream: Events})
	}
	dir := t.TempDir()
	cps, _ := OpenCheckpoints(dir)
	dlq, _ := OpenDeadLetter(dir)
	defer dlq.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	const pullTime = 100 * time.Millisecond
	m := NewMetrics()
	_, err := Run(ctx, Options{Source: src, Checkpoints: cps, DeadLetter: dlq, Metrics: m, Workers: 4, DrainTimeout: time.Second, PullInterval: pullTime,
		Sinks:    []SinkSpec{{Name: "s", Sink: newRecordingSink(), Retry: fastRetry()}},
		NextPass: func() (bool, time.Duration) { return true, pullTime }})
	if err != nil {
		t.Fatal(err)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	for _, h := range []string{"healthy1", "healthy2"} {
		ts := src.pulls[h]
		if len(ts) < 8 {
			t.Fatalf("%s was pulled %d times in 3 s with pull_time %s (one tenant stalls the others)", h, len(ts), pullTime)
		}
		var worst time.Duration
		for i := 1; i < len(ts); i++ {
			worst = max(worst, ts[i].Sub(ts[i-1]))
		}
		// pull_time + one turn + the 300 ms request timeout, with slack for a loaded machine.
		if bound := pullTime + 300*time.Millisecond + 400*time.Millisecond; worst > bound {
			t.Errorf("%s: longest pull interval %s, want ≤ %s", h, worst, bound)
		}
		t.Logf("%s: %d pulls, longest interval %s", h, len(ts), worst)
	}
	if len(src.pulls["backlog"]) < 20 {
		t.Errorf("the backlog tenant was pulled only %d times", len(src.pulls["backlog"]))
	}
	if v := counterValue(t, m, "sophos_connect_partition_failures_total"); v < 2 {
		t.Errorf("the hanging and looping partitions did not fail (%v failures)", v)
	}
}

// A cursor that changes on every page while nothing comes fails the
// partition after DefaultMaxEmptyPages pages (it looped forever before).
func TestEmptyPagesWithHasMoreFailThePartition(t *testing.T) {
	src := &hostileSource{pulls: map[string][]time.Time{}, parts: []Partition{{Tenant: "loop", Stream: Events}, {Tenant: "healthy", Stream: Events}}}
	_, err := runWith(t, src, Options{})
	var pf *PartitionsFailedError
	if !errors.As(err, &pf) || len(pf.Partitions) != 1 || !strings.Contains(pf.Partitions[0], "loop") {
		t.Fatalf("err %v, want the loop partition failed", err)
	}
	if n := len(src.pulls["loop"]); n > 3*DefaultMaxEmptyPages {
		t.Fatalf("%d requests for the looping partition", n)
	}
}

// bigCursorSource answers with a next_cursor far over MaxCursorBytes.
type bigCursorSource struct{ hostileSource }

func (s *bigCursorSource) Fetch(ctx context.Context, p Partition, pos Position) (*Page, error) {
	if p.Tenant == "huge" {
		return &Page{Partition: p, Cursor: strings.Repeat("A", 50<<20)}, nil
	}
	return s.hostileSource.Fetch(ctx, p, pos)
}

// A 50 MB next_cursor is refused, never committed.
func TestHugeCursorRefused(t *testing.T) {
	src := &bigCursorSource{hostileSource{pulls: map[string][]time.Time{}, parts: []Partition{{Tenant: "huge", Stream: Events}, {Tenant: "healthy", Stream: Events}}}}
	dir := t.TempDir()
	cps, _ := OpenCheckpoints(dir)
	dlq, _ := OpenDeadLetter(dir)
	defer dlq.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := Run(ctx, Options{Source: src, Checkpoints: cps, DeadLetter: dlq, Once: true,
		Sinks: []SinkSpec{{Name: "s", Sink: newRecordingSink(), Retry: fastRetry()}}})
	var pf *PartitionsFailedError
	if !errors.As(err, &pf) || len(pf.Partitions) != 1 {
		t.Fatalf("err %v, want the huge-cursor partition failed", err)
	}
	if cp, ok := cps.Get("huge/event"); ok {
		t.Fatalf("a %d-byte cursor was committed", len(cp.Cursor))
	}
	if _, ok := cps.Get("healthy/event"); !ok {
		t.Fatal("the healthy partition was not committed")
	}
}

// emptyThenItemsSource pages an XDR stream through windows of items it has
// already seen: eight pages with has_more and nothing new, then one item.
type emptyThenItemsSource struct{ pulls int }

func (s *emptyThenItemsSource) Partitions(context.Context) ([]Partition, error) {
	return []Partition{{Tenant: "t", Stream: Cases}}, nil
}

func (s *emptyThenItemsSource) Fetch(ctx context.Context, p Partition, pos Position) (*Page, error) {
	s.pulls++
	if s.pulls <= 8 {
		return &Page{Partition: p, Cursor: fmt.Sprintf("w%d", s.pulls), HasMore: true}, nil
	}
	r, err := NewRecord(Cases, "t", []byte(`{"id":"case-1","type":"investigation","createdAt":"2026-12-07T10:00:00.000Z"}`))
	if err != nil {
		return nil, err
	}
	return &Page{Partition: p, Cursor: "done", Records: []Record{r}}, nil
}

// The empty-page bound is the SIEM API's: an XDR source's own windows may
// rightly bring nothing new for many pages (TestXDRCrashRecovery failed
// on its cases stream once the bound applied to every stream).
func TestEmptyPagesBoundOnlyForSIEMCursors(t *testing.T) {
	src := &emptyThenItemsSource{}
	sink := newRecordingSink()
	st, _, _ := runOnce(t, src, []SinkSpec{{Name: "a", Sink: sink, Retry: fastRetry()}}, t.TempDir())
	if st.Records != 1 || sink.count() != 1 || src.pulls != 9 {
		t.Fatalf("records %d, delivered %d, pulls %d: the cases partition should page through its empty windows", st.Records, sink.count(), src.pulls)
	}
}
