package pipeline

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestWindowAlarmsNameTheCause: a partition whose committed cursor ages
// past 12 h (by the API's clock) gets a WARN, past 20 h an ERROR, each
// naming the cause — the tenant failing, a sink stalled, or the collector
// behind — and again when the cause changes; below 12 h nothing, and the
// alarm re-arms once the partition caught up.
func TestWindowAlarmsNameTheCause(t *testing.T) {
	cps, err := OpenCheckpoints(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := Partition{Tenant: "t0", Stream: Events}
	served := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	cps.Set(p.Key(), Checkpoint{Cursor: "c", SavedAt: served, ServedUntil: served})
	if err := cps.Flush(); err != nil {
		t.Fatal(err)
	}
	var logs syncBuf
	now := served
	r := &runner{
		o: Options{Checkpoints: cps, Metrics: NewMetrics(), Now: func() time.Time { return now },
			WindowWarn: 12 * time.Hour, WindowError: 20 * time.Hour},
		log:      slog.New(slog.NewTextHandler(&logs, nil)),
		parts:    map[string]Partition{p.Key(): p},
		trackers: map[string]*partTracker{},
		lastErr:  map[string]string{},
	}
	step := func(age time.Duration, setup func(), want string) {
		t.Helper()
		if setup != nil {
			setup()
		}
		now = served.Add(age)
		before := logs.String()
		r.checkWindow()
		got := strings.TrimPrefix(logs.String(), before)
		if want == "" {
			if got != "" {
				t.Fatalf("at %s: want no alarm, got:\n%s", age, got)
			}
			return
		}
		if !strings.Contains(got, want) {
			t.Fatalf("at %s: want a line with %q, got:\n%s", age, want, got)
		}
	}
	step(11*time.Hour, nil, "")
	step(13*time.Hour, nil, `level=WARN msg="t0 events: nothing has been committed for 13h0m0s (by the API's clock); Sophos Central keeps only 24 h, data is lost in 11h0m0s unless it catches up — cause: the collector is behind`)
	step(14*time.Hour, nil, "") // once per level and cause
	step(15*time.Hour, func() { r.lastErr[p.Key()] = "HTTP 503 from the API" }, `level=WARN msg="t0 events: nothing has been committed for 15h0m0s (by the API's clock); Sophos Central keeps only 24 h, data is lost in 9h0m0s unless it catches up — cause: the tenant is failing: HTTP 503 from the API`)
	step(16*time.Hour, func() {
		delete(r.lastErr, p.Key())
		r.trackers[p.Key()] = &partTracker{queue: []*pageState{{}}}
	}, "cause: a sink is stalled: 1 page(s) wait for delivery")
	step(21*time.Hour, nil, `level=ERROR msg="t0 events: nothing has been committed for 21h0m0s`)
	step(22*time.Hour, nil, "")
	// Caught up: the alarm re-arms.
	cps.Set(p.Key(), Checkpoint{Cursor: "d", SavedAt: served.Add(22 * time.Hour), ServedUntil: served.Add(22 * time.Hour)})
	if err := cps.Flush(); err != nil {
		t.Fatal(err)
	}
	delete(r.trackers, p.Key())
	step(23*time.Hour, nil, "")
	served = served.Add(22 * time.Hour)
	step(13*time.Hour, nil, "level=WARN")
}
