package sophos

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// TestSIEMDrainMatchesEmulator pages through both streams with the cursor
// and gets exactly the emulator's ground truth, normalized.
func TestSIEMDrainMatchesEmulator(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 2500, Alerts: 120})
	c, _ := newTestClient(t, emu, nil)
	tn := oneTenant(t, c)
	if tn.ID != emu.TenantIDs()[0] {
		t.Fatalf("tenant %s, want %s", tn.ID, emu.TenantIDs()[0])
	}
	for _, st := range []pipeline.Stream{pipeline.Events, pipeline.Alerts} {
		ids, pages, cursor, recs := drain(t, c, tn, st, pipeline.Position{}, SIEMOptions{})
		want := emu.AllIDs(tn.ID, string(st))
		if !slices.Equal(ids, want) {
			t.Fatalf("%s: got %d ids, want the emulator's %d in order", st, len(ids), len(want))
		}
		if st == pipeline.Events && pages != 3 { // 2500 items at limit=1000
			t.Fatalf("events: %d pages, want 3", pages)
		}
		for _, r := range recs {
			if r.Stream != st || r.Tenant != tn.ID || r.Type == "" || r.CreatedAt == "" || r.Severity == "" || len(r.Raw) == 0 {
				t.Fatalf("%s record not normalized: %+v", st, r)
			}
		}
		// Caught up: the cursor returns nothing until new items arrive.
		p, err := c.SIEMPage(testCtx(t), tn, st, pipeline.Position{Cursor: cursor}, SIEMOptions{})
		if err != nil || len(p.Records) != 0 || p.HasMore || p.Cursor == "" {
			t.Fatalf("%s caught-up page: %+v %v", st, p, err)
		}
		emu.AddItems(tn.ID, string(st), 7)
		p, err = c.SIEMPage(testCtx(t), tn, st, pipeline.Position{Cursor: p.Cursor}, SIEMOptions{})
		if err != nil || len(p.Records) != 7 {
			t.Fatalf("%s new items: %v %v", st, p, err)
		}
		if p.Partition.Tenant != tn.ID || p.Partition.Stream != st || p.Bytes == 0 {
			t.Fatalf("page metadata: %+v", p.Partition)
		}
	}
	if n := emu.Requests()["GET /siem/v1/events 400"]; n != 0 {
		t.Fatalf("%d 400s", n)
	}
}

// TestSIEMLightAndExcludeTypes: light excludes the nine official noisy
// types from events only; exclude_types adds more.
func TestSIEMLightAndExcludeTypes(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 1500, Alerts: 60})
	c, _ := newTestClient(t, emu, nil)
	tn := oneTenant(t, c)
	all, _, _, allRecs := drain(t, c, tn, pipeline.Events, pipeline.Position{}, SIEMOptions{})
	noisy := 0
	types := map[string]int{}
	for _, r := range allRecs {
		types[r.Type]++
		if slices.Contains(LightExcludeTypes, r.Type) {
			noisy++
		}
	}
	if noisy == 0 {
		t.Fatal("the emulator served no noisy types: the test proves nothing")
	}
	var extra string // one more, non-noisy type to exclude
	for ty := range types {
		if !slices.Contains(LightExcludeTypes, ty) {
			extra = ty
			break
		}
	}
	light, _, _, recs := drain(t, c, tn, pipeline.Events, pipeline.Position{}, SIEMOptions{Light: true, ExcludeTypes: []string{extra}})
	if len(light) != len(all)-noisy-types[extra] {
		t.Fatalf("light: %d events, want %d - %d noisy - %d %s", len(light), len(all), noisy, types[extra], extra)
	}
	for _, r := range recs {
		if slices.Contains(LightExcludeTypes, r.Type) || r.Type == extra {
			t.Fatalf("excluded type served: %s", r.Type)
		}
	}
	alerts, _, _, _ := drain(t, c, tn, pipeline.Alerts, pipeline.Position{}, SIEMOptions{Light: true, ExcludeTypes: []string{extra}})
	if !slices.Equal(alerts, emu.AllIDs(tn.ID, "alert")) {
		t.Fatal("light/exclude_types must not filter alerts")
	}
}

// TestSIEMFromDateClamp: a since older than 24 h is clamped (no 400) and
// a since inside the window is honoured.
func TestSIEMFromDateClamp(t *testing.T) {
	emu := newEmu(t, emulator.Options{})
	c, _ := newTestClient(t, emu, nil)
	tn := oneTenant(t, c)
	ids, _, _, _ := drain(t, c, tn, pipeline.Events, pipeline.Position{Since: time.Now().Add(-72 * time.Hour)}, SIEMOptions{})
	if !slices.Equal(ids, emu.AllIDs(tn.ID, "event")) {
		t.Fatalf("clamped since: %d ids, want %d", len(ids), len(emu.AllIDs(tn.ID, "event")))
	}
	_, _, _, recent := drain(t, c, tn, pipeline.Events, pipeline.Position{Since: time.Now().Add(-2 * time.Hour)}, SIEMOptions{})
	if len(recent) == 0 || len(recent) >= len(ids) {
		t.Fatalf("since 2h: %d records of %d", len(recent), len(ids))
	}
	for _, r := range recent {
		if r.CreatedTime().Before(time.Now().Add(-2*time.Hour - time.Second)) {
			t.Fatalf("record created %s before since", r.CreatedAt)
		}
	}
	if n := emu.Requests()["GET /siem/v1/events 400"]; n != 0 {
		t.Fatalf("%d 400s", n)
	}
}

// TestSIEMFromDate400RetriedOnce: from_date is judged by the API's clock
// (the Date of its answers), so a client clock 3 minutes behind causes no
// 400. When the API's clock jumps ahead of what its answers told so far, the
// 400 is retried once at now−23h59m by the Date of that 400, and succeeds.
func TestSIEMFromDate400RetriedOnce(t *testing.T) {
	emu := newEmu(t, emulator.Options{})
	c, logs := newTestClient(t, emu, func(cfg *Config) {
		cfg.Now = func() time.Time { return time.Now().Add(-3 * time.Minute) }
	})
	tn := oneTenant(t, c)
	p, err := c.SIEMPage(testCtx(t), tn, pipeline.Events, pipeline.Position{}, SIEMOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Records) == 0 {
		t.Fatal("no records")
	}
	if req := emu.Requests(); req["GET /siem/v1/events 400"] != 0 {
		t.Fatalf("a host clock 3 min behind caused a 400: %v", req)
	}
	emu.AdvanceClock(3 * time.Minute)
	if _, err := c.SIEMPage(testCtx(t), tn, pipeline.Events, pipeline.Position{}, SIEMOptions{}); err != nil {
		t.Fatal(err)
	}
	req := emu.Requests()
	if req["GET /siem/v1/events 400"] != 1 || req["GET /siem/v1/events 200"] != 2 {
		t.Fatalf("want one 400 then one 200: %v", req)
	}
	if !strings.Contains(logs.String(), "from_date rejected (400), retrying once") {
		t.Fatal("the retry is not logged")
	}
	// A cursor request's 400 is not retried (nothing to clamp).
	_, err = c.SIEMPage(testCtx(t), tn, pipeline.Events, pipeline.Position{Cursor: "bm90LWEtY3Vyc29y"}, SIEMOptions{})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(err.Error(), "cursor as returned") {
		t.Fatalf("bad cursor: %v", err)
	}
}

// TestSIEMCursorOlderThan24h: after more than 24 h of downtime the old
// cursor silently restarts at the window: no error, the window's items, and
// CursorTime shows the watermark is older than 24 h.
func TestSIEMCursorOlderThan24h(t *testing.T) {
	var clk clock
	emu := newEmu(t, emulator.Options{Now: clk.Now, Events: 200, Alerts: 20})
	c, _ := newTestClient(t, emu, nil)
	tn := oneTenant(t, c)
	_, _, cursor, _ := drain(t, c, tn, pipeline.Events, pipeline.Position{}, SIEMOptions{})
	clk.Advance(25 * time.Hour)
	if ct, ok := CursorTime(cursor); !ok || clk.Now().Sub(ct) <= Window {
		t.Fatalf("cursor time %v %v", ct, ok)
	}
	emu.AddItems(tn.ID, "event", 5)
	ids, _, _, _ := drain(t, c, tn, pipeline.Events, pipeline.Position{Cursor: cursor}, SIEMOptions{})
	want := emu.AllIDs(tn.ID, "event")
	if len(want) < 5 || !slices.Equal(ids, want) {
		t.Fatalf("after the gap: %d ids, want the %d in the window", len(ids), len(want))
	}
}

// TestSIEMFaults429 drains through 429s with and without Retry-After.
func TestSIEMFaults429(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 1200, Alerts: 10, Faults: emulator.Faults{Rate429: 0.5, RetryAfter: time.Second}})
	c, logs := newTestClient(t, emu, nil)
	tn := oneTenant(t, c)
	ids, _, _, _ := drain(t, c, tn, pipeline.Events, pipeline.Position{}, SIEMOptions{Limit: 300})
	if !slices.Equal(ids, emu.AllIDs(tn.ID, "event")) {
		t.Fatal("ids differ")
	}
	n429 := 0
	for k, v := range emu.Requests() {
		if strings.HasSuffix(k, " 429") {
			n429 += v
		}
	}
	l := logs.String()
	if n429 == 0 || !strings.Contains(l, "status=429") || !strings.Contains(l, "retry_after=true") || !strings.Contains(l, "retry_after=false") {
		t.Fatalf("want 429s with and without Retry-After (%d):\n%s", n429, l)
	}
	for _, line := range strings.Split(l, "\n") {
		if strings.Contains(line, "retry_after=true") && !strings.Contains(line, "wait=1s") {
			t.Fatalf("Retry-After: 1 not honoured: %s", line)
		}
	}
}

// TestSIEMFaults503Bursts: bursts shorter than the attempt budget are
// ridden out; longer ones end in a clear 503 error.
func TestSIEMFaults503Bursts(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 1000, Faults: emulator.Faults{Rate503: 0.3, Burst503: 3}})
	c, _ := newTestClient(t, emu, nil)
	tn := oneTenant(t, c)
	ids, _, _, _ := drain(t, c, tn, pipeline.Events, pipeline.Position{}, SIEMOptions{Limit: 100})
	if !slices.Equal(ids, emu.AllIDs(tn.ID, "event")) {
		t.Fatal("ids differ")
	}
	if emu.Requests()["GET /siem/v1/events 503"] == 0 {
		t.Fatal("no 503 served: the test proves nothing")
	}

	emu2 := newEmu(t, emulator.Options{Faults: emulator.Faults{Rate503: 1, Burst503: 10}})
	c2, _ := newTestClient(t, emu2, func(cfg *Config) { cfg.Retry.MaxAttempts = 3 })
	_, err := c2.WhoAmI(testCtx(t))
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 503 || ae.Attempts != 3 || !strings.Contains(err.Error(), "after 3 attempts") || !strings.Contains(err.Error(), "unavailable") {
		t.Fatalf("want a 503 after 3 attempts: %v", err)
	}
	if n := emu2.Requests()["GET /whoami/v1 503"]; n != 3 {
		t.Fatalf("%d attempts, want 3", n)
	}
}

// TestSIEMMalformedPage: a cut body is a PageError naming tenant and
// stream; fetching the same position again succeeds.
func TestSIEMMalformedPage(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 3000, Alerts: 10, Faults: emulator.Faults{Malformed: 0.4}})
	c, _ := newTestClient(t, emu, nil)
	tn := oneTenant(t, c)
	var pe *PageError
	for i := 0; i < 30 && pe == nil; i++ {
		_, err := c.SIEMPage(testCtx(t), tn, pipeline.Events, pipeline.Position{}, SIEMOptions{Limit: 50})
		errors.As(err, &pe)
	}
	if pe == nil {
		t.Fatal("no malformed page in 30 fetches")
	}
	msg := pe.Error()
	if pe.Tenant != tn.ID || pe.Stream != "events" || !strings.Contains(msg, tn.ID) || !strings.Contains(msg, "events") || !strings.Contains(msg, "not valid JSON") {
		t.Fatalf("page error: %s", msg)
	}
	ids, _, _, _ := drain(t, c, tn, pipeline.Events, pipeline.Position{}, SIEMOptions{})
	if !slices.Equal(ids, emu.AllIDs(tn.ID, "event")) {
		t.Fatal("ids differ after refetching malformed pages")
	}
}

// TestTimeoutsAndContext: a response slower than Timeout fails each
// attempt with a clear timeout error; a cancelled context stops at once.
func TestTimeoutsAndContext(t *testing.T) {
	emu := newEmu(t, emulator.Options{Faults: emulator.Faults{Slow: 400 * time.Millisecond}})
	c, _ := newTestClient(t, emu, func(cfg *Config) {
		cfg.Timeout = 100 * time.Millisecond
		cfg.Retry.MaxAttempts = 2
	})
	start := time.Now()
	_, err := c.WhoAmI(testCtx(t))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no complete response within 100ms (timeout)") || !strings.Contains(err.Error(), "2 attempts") {
		t.Fatalf("timeout: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
	// A generous timeout rides the slowness out.
	c2, _ := newTestClient(t, emu, func(cfg *Config) { cfg.Timeout = 5 * time.Second })
	if _, err := c2.WhoAmI(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	// The caller's context wins over retries and timeouts.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = c2.WhoAmI(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("context: %v after %v", err, time.Since(start))
	}
}
