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

// TestRestartAfterWindowReportsGap: a checkpoint older than 24 h is clamped
// to the window and the exact lost interval is logged and counted.
func TestRestartAfterWindowReportsGap(t *testing.T) {
	src := newListSource(1, 10, 10)
	src.parts = src.parts[:1]
	dir := t.TempDir()
	cps, _ := OpenCheckpoints(dir)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	saved := now.Add(-30 * time.Hour)
	cps.Set(src.parts[0].Key(), Checkpoint{Cursor: "3", SavedAt: saved})
	cps.Flush()
	dlq, _ := OpenDeadLetter(dir)
	defer dlq.Close()
	var logs syncBuf
	m := NewMetrics()
	fetched := make(chan Position, 1)
	spy := &spySource{listSource: src, first: fetched}
	_, err := Run(context.Background(), Options{Source: spy, Checkpoints: cps, DeadLetter: dlq, Once: true, Metrics: m,
		Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(&logs, nil)),
		Sinks: []SinkSpec{{Name: "s", Sink: newRecordingSink()}}})
	if err != nil {
		t.Fatal(err)
	}
	pos := <-fetched
	if pos.Cursor != "" || pos.Since.Before(now.Add(-24*time.Hour)) {
		t.Fatalf("fetch started at %+v, want a Since inside the 24 h window", pos)
	}
	lostFrom, lostTo := saved.Format(time.RFC3339), now.Add(-24*time.Hour).Format(time.RFC3339)
	if !strings.Contains(logs.String(), "items from "+lostFrom+" to "+lostTo+" could not be fetched") {
		t.Fatalf("the lost interval is not logged:\n%s", logs.String())
	}
	if got := counterValue(t, m, "sophos_connect_window_gap_seconds_total"); got != (6 * time.Hour).Seconds() {
		t.Fatalf("window gap metric %v, want %v", got, (6 * time.Hour).Seconds())
	}
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
	if !strings.Contains(logs.String(), "nothing has been committed for 21h0m0s; Sophos Central keeps only 24 h") {
		t.Fatalf("no 20 h alarm:\n%s", logs.String())
	}
	if age := counterValue(t, m, "sophos_connect_checkpoint_age_seconds"); age < (20 * time.Hour).Seconds() {
		t.Fatalf("checkpoint age gauge %v", age)
	}
}
