package pipeline

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/status"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func counterValue(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, mm := range f.GetMetric() {
			sum += metricValue(mm)
		}
	}
	return sum
}

// TestRestartAfterWindowReportsGap: a checkpoint older than 24 h (by the
// API's clock) is sent as it is; the answer names the exact lost span: an
// ERROR, the metric, the gap list, the status board and a gap record that
// reaches every sink, whatever its routes, first in the page.
func TestRestartAfterWindowReportsGap(t *testing.T) {
	src := newListSource(1, 10, 10)
	src.parts = src.parts[:1]
	dir := t.TempDir()
	cps, _ := OpenCheckpoints(dir)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	saved := now.Add(-30 * time.Hour)
	cps.Set(src.parts[0].Key(), Checkpoint{Cursor: "3", SavedAt: now, ServedUntil: saved})
	cps.Flush()
	dlq, _ := OpenDeadLetter(dir)
	defer dlq.Close()
	var logs syncBuf
	m := NewMetrics()
	m.Board = status.NewBoard("test", now)
	fetched := make(chan Position, 1)
	spy := &spySource{listSource: src, first: fetched}
	gaps := &gapList{}
	all, eventsOnly := newRecordingSink(), newRecordingSink()
	_, err := Run(context.Background(), Options{Source: spy, Checkpoints: cps, DeadLetter: dlq, Once: true, Metrics: m, Gaps: gaps,
		Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(&logs, nil)),
		Sinks: []SinkSpec{{Name: "all", Sink: all}, {Name: "events-only", Sink: eventsOnly, Routes: Routes{Streams: []Stream{Events}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if pos := <-fetched; pos.Cursor != "3" {
		t.Fatalf("fetch started at %+v, want the committed cursor (the API restarts it at its horizon)", pos)
	}
	lostFrom, lostTo := saved.Format(time.RFC3339), now.Add(-24*time.Hour).Format(time.RFC3339)
	if !strings.Contains(logs.String(), "from "+lostFrom+" to "+lostTo+" (6h0m0s) could not be read and are lost") {
		t.Fatalf("the lost interval is not logged:\n%s", logs.String())
	}
	if got := counterValue(t, m, "sophos_connect_gap_seconds_total"); got != (6 * time.Hour).Seconds() {
		t.Fatalf("gap metric %v, want %v", got, (6 * time.Hour).Seconds())
	}
	if len(gaps.list) != 1 || !gaps.list[0].From.Equal(saved) || !gaps.list[0].To.Equal(now.Add(-24*time.Hour)) {
		t.Fatalf("gap list %+v", gaps.list)
	}
	st := m.Board.Snapshot(now)
	if len(st.Gaps) != 1 || st.Tenants[0].Streams[0].Gap == nil {
		t.Fatalf("status board shows no gap: %+v", st)
	}
	for name, sink := range map[string]*recordingSink{"all": all, "events-only": eventsOnly} {
		recs := sink.records()
		if len(recs) == 0 || recs[0].Type != GapType || recs[0].ID != gaps.list[0].ID() {
			t.Fatalf("sink %s did not get the gap record first: %d records", name, len(recs))
		}
		for _, want := range []string{`"from":"` + saved.Format("2006-01-02T15:04:05.000Z07:00") + `"`, `"stream":"alerts"`, `"tenant":"t0"`, `"reason":"the cursor had not been used for 30h0m0s`} {
			if !strings.Contains(string(recs[0].Raw), want) {
				t.Fatalf("sink %s: gap record %s lacks %s", name, recs[0].Raw, want)
			}
		}
	}
	if n := len(all.records()); n != 1+7 {
		t.Fatalf("sink all got %d records, want the gap record and items 3..9", n)
	}
}

// TestNoGapRecords: gap_records: false keeps the gap out of the sinks but
// still names it (log, metric, list).
func TestNoGapRecords(t *testing.T) {
	src := newListSource(1, 10, 10)
	src.parts = src.parts[:1]
	dir := t.TempDir()
	cps, _ := OpenCheckpoints(dir)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	cps.Set(src.parts[0].Key(), Checkpoint{Cursor: "3", SavedAt: now, ServedUntil: now.Add(-25 * time.Hour)})
	cps.Flush()
	dlq, _ := OpenDeadLetter(dir)
	defer dlq.Close()
	gaps := &gapList{}
	sink := newRecordingSink()
	m := NewMetrics()
	if _, err := Run(context.Background(), Options{Source: src, Checkpoints: cps, DeadLetter: dlq, Once: true, Metrics: m, Gaps: gaps, NoGapRecords: true,
		Now: func() time.Time { return now }, Sinks: []SinkSpec{{Name: "s", Sink: sink}}}); err != nil {
		t.Fatal(err)
	}
	for _, r := range sink.records() {
		if r.IsGap() {
			t.Fatal("a gap record reached the sink with NoGapRecords")
		}
	}
	if len(gaps.list) != 1 || counterValue(t, m, "sophos_connect_gap_seconds_total") != 3600 {
		t.Fatalf("gap not named: %+v", gaps.list)
	}
}

// TestHostClockSkewNeitherInventsNorHidesGaps: the horizon is judged by the
// API's clock. A host clock 30 h fast with a fresh cursor is no gap; an API
// clock 25 h ahead of the host (the collector "stopped" that long by the
// API's time) is one, though the host saw no time pass.
func TestHostClockSkewNeitherInventsNorHidesGaps(t *testing.T) {
	apiNow := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		host     time.Time // the host's clock
		api      time.Time // the API's clock (its answers)
		wantGaps int
	}{
		{"host 30h fast, fresh cursor", apiNow.Add(30 * time.Hour), apiNow, 0},
		{"host 30h slow, fresh cursor", apiNow.Add(-30 * time.Hour), apiNow, 0},
		{"api 25h on, host unmoved", apiNow.Add(-time.Hour), apiNow.Add(25 * time.Hour), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newListSource(1, 10, 10)
			src.parts = src.parts[:1]
			dir := t.TempDir()
			cps, _ := OpenCheckpoints(dir)
			// Committed an hour ago by both clocks as they were then.
			cps.Set(src.parts[0].Key(), Checkpoint{Cursor: "3", SavedAt: apiNow.Add(-time.Hour), ServedUntil: apiNow.Add(-time.Hour)})
			cps.Flush()
			dlq, _ := OpenDeadLetter(dir)
			defer dlq.Close()
			gaps := &gapList{}
			if _, err := Run(context.Background(), Options{Source: &datedSource{src, tc.api}, Checkpoints: cps, DeadLetter: dlq, Once: true, Gaps: gaps,
				Now: func() time.Time { return tc.host }, Sinks: []SinkSpec{{Name: "s", Sink: newRecordingSink()}}}); err != nil {
				t.Fatal(err)
			}
			if len(gaps.list) != tc.wantGaps {
				t.Fatalf("%d gaps, want %d: %+v", len(gaps.list), tc.wantGaps, gaps.list)
			}
			if cp, _ := cps.Get(src.parts[0].Key()); !cp.ServedUntil.Equal(tc.api) {
				t.Fatalf("checkpoint served_until %v, want the API's time %v", cp.ServedUntil, tc.api)
			}
		})
	}
}

// datedSource answers with the API's time api (a Date header) and is the
// runner's API clock.
type datedSource struct {
	*listSource
	api time.Time
}

func (s *datedSource) Fetch(ctx context.Context, p Partition, pos Position) (*Page, error) {
	page, err := s.listSource.Fetch(ctx, p, pos)
	if page != nil {
		page.APITime = s.api
	}
	return page, err
}

func (s *datedSource) APINow() time.Time { return s.api }

type gapList struct {
	mu   sync.Mutex
	list []Gap
}

func (g *gapList) RecordGap(x Gap) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.list = append(g.list, x)
	return nil
}

type spySource struct {
	*listSource
	first chan Position
	once  sync.Once
}

func (s *spySource) Fetch(ctx context.Context, p Partition, pos Position) (*Page, error) {
	s.once.Do(func() { s.first <- pos })
	if pos.Cursor == "" {
		pos.Cursor = "0"
	}
	return s.listSource.Fetch(ctx, p, pos)
}

// TestOldCheckpointRaisesError: in continuous mode, a partition whose last
// commit is older than 20 h (a sink stuck for most of a day) gets an ERROR
// and the checkpoint age gauge shows it.
func TestOldCheckpointRaisesError(t *testing.T) {
	src := newListSource(1, 5, 5)
	src.parts = src.parts[:1]
	dir := t.TempDir()
	cps, _ := OpenCheckpoints(dir)
	dlq, _ := OpenDeadLetter(dir)
	defer dlq.Close()
	var logs syncBuf
	m := NewMetrics()
	var mu sync.Mutex
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	sink := newRecordingSink()
	passes := 0
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := Run(ctx, Options{Source: src, Checkpoints: cps, DeadLetter: dlq, Metrics: m, Now: clock, DrainTimeout: 100 * time.Millisecond,
		Log:   slog.New(slog.NewTextHandler(&logs, nil)),
		Sinks: []SinkSpec{{Name: "s", Sink: sink, Retry: fastRetry()}},
		NextPass: func() (bool, time.Duration) {
			passes++
			if passes == 1 {
				// The first pass committed; now the sink breaks, new items
				// arrive and 21 hours pass.
				key := src.parts[0].Key()
				for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
					if cp, ok := cps.Durable()[key]; ok && cp.Cursor == "5" { // on disk: the alarms measure from there
						break
					}
				}
				sink.setDown(true)
				src.items[key] = append(src.items[key], "late-1", "late-2")
				mu.Lock()
				now = now.Add(21 * time.Hour)
				mu.Unlock()
			}
			return passes < 3, time.Millisecond
		}})
	// Pages still undelivered at the drain timeout: an error (exit 1), not success.
	var ue *UndeliveredError
	if !errors.As(err, &ue) {
		t.Fatalf("error %v, want *UndeliveredError", err)
	}
	if !strings.Contains(logs.String(), "level=ERROR msg=\"t0 alerts: nothing has been committed for 21h0m0s (by the API's clock); Sophos Central keeps only 24 h, data is lost in 3h0m0s unless it catches up — cause: a sink is stalled: 1 page(s) wait for delivery to s (2 records waiting)") {
		t.Fatalf("no 20 h alarm naming the stalled sink:\n%s", logs.String())
	}
	if age := counterValue(t, m, "sophos_connect_checkpoint_age_seconds"); age < (20 * time.Hour).Seconds() {
		t.Fatalf("checkpoint age gauge %v", age)
	}
}
