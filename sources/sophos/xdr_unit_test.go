package sophos

import (
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// xdrSource is a source for one XDR tenant with fast polls.
func xdrSource(t *testing.T, emu *emulator.Server, d DetectionsOptions, c CasesOptions) (*Source, *logBuf, Tenant) {
	t.Helper()
	cl, logs := newTestClient(t, emu, nil)
	d.PollInitial, d.PollMax = time.Millisecond, 5*time.Millisecond
	src, err := NewSource(cl, SourceOptions{Streams: []pipeline.Stream{pipeline.Detections, pipeline.Cases}, Detections: d, Cases: c})
	if err != nil {
		t.Fatal(err)
	}
	return src, logs, oneTenant(t, cl)
}

// pullAll fetches a partition until has_more is false (a pass), returning
// the ids, the pages and the last cursor.
func pullAll(t *testing.T, src *Source, tn Tenant, st pipeline.Stream, cursor string) ([]string, int, string) {
	t.Helper()
	p := pipeline.Partition{Tenant: tn.ID, Stream: st}
	var ids []string
	for pages := 1; pages < 1000; pages++ {
		page, err := src.Fetch(testCtx(t), p, pipeline.Position{Cursor: cursor, Since: time.Now().Add(-24 * time.Hour)})
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		if page.Cursor == "" || (page.HasMore && page.Cursor == cursor) {
			t.Fatalf("page %d: cursor %q cannot be committed", pages, page.Cursor)
		}
		for _, r := range page.Records {
			ids = append(ids, r.ID)
		}
		cursor = page.Cursor
		if !page.HasMore {
			return ids, pages, cursor
		}
	}
	t.Fatal("never caught up")
	return nil, 0, ""
}

func onceEach(t *testing.T, what string, got, want []string) {
	t.Helper()
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
	}
	for _, id := range want {
		if seen[id] != 1 {
			t.Errorf("%s: %s seen %d times", what, id, seen[id])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d records, want %d", what, len(got), len(want))
	}
}

// TestDetectionWindowsSplit: 24 h behind, windows of 2 h are issued one
// after the other, each a query of its own, and every detection comes once.
func TestDetectionWindowsSplit(t *testing.T) {
	emu := newEmu(t, emulator.Options{XDR: emulator.XDR{Detections: 120}})
	src, _, tn := xdrSource(t, emu, DetectionsOptions{MaxWindow: 2 * time.Hour, PageSize: 7}, CasesOptions{})
	before := emu.RequestCount("POST /detections/v1/queries/detections")
	ids, pages, _ := pullAll(t, src, tn, pipeline.Detections, "")
	onceEach(t, "detections", ids, emu.DetectionIDs(tn.ID))
	if q := emu.RequestCount("POST /detections/v1/queries/detections") - before; q < 12 || q > 14 {
		t.Errorf("%d queries for 24 h in 2 h windows, want 12 to 14", q)
	}
	if pages < 120/7 {
		t.Errorf("%d pages of 7 for 120 detections", pages)
	}
}

// TestDetectionRunsFailedAndExpired: a failed run is issued again; a run
// that expired between two pages (a restart, a long pause) is issued again
// for the same window and repeats are dropped by id.
func TestDetectionRunsFailedAndExpired(t *testing.T) {
	clk := &clock{}
	emu := newEmu(t, emulator.Options{Now: clk.Now, XDR: emulator.XDR{Detections: 40, Quirks: emulator.XDRQuirks{FailRuns: 2, RunTTL: time.Minute}}})
	src, logs, tn := xdrSource(t, emu, DetectionsOptions{PageSize: 10, MaxWindow: 24 * time.Hour}, CasesOptions{})
	p := pipeline.Partition{Tenant: tn.ID, Stream: pipeline.Detections}
	page, err := src.Fetch(testCtx(t), p, pipeline.Position{Since: clk.Now().Add(-24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "failed (try"); n != 2 {
		t.Errorf("%d failed runs re-issued, want 2:\n%s", n, logs.String())
	}
	ids := []string{}
	for _, r := range page.Records {
		ids = append(ids, r.ID)
	}
	clk.Advance(2 * time.Minute) // the run expires before the next page is read
	rest, _, _ := pullAll(t, src, tn, pipeline.Detections, page.Cursor)
	if !strings.Contains(logs.String(), "is gone (404), issuing the window") {
		t.Errorf("expired run not re-issued:\n%s", logs.String())
	}
	onceEach(t, "detections", append(ids, rest...), emu.DetectionIDs(tn.ID))
}

// TestDetectionsThrottled: 429s (with and without Retry-After) and 503
// bursts on every detections and cases route are backed off and retried as
// for SIEM v1; nothing is lost or repeated.
func TestDetectionsThrottled(t *testing.T) {
	f, err := emulator.ParseFaults("429=0.2,retry-after=1ms,503=0.1,503-burst=2")
	if err != nil {
		t.Fatal(err)
	}
	emu := newEmu(t, emulator.Options{Faults: f, XDR: emulator.XDR{Detections: 60, Cases: 30}})
	src, _, tn := xdrSource(t, emu, DetectionsOptions{PageSize: 9}, CasesOptions{PageSize: 10})
	ids, _, _ := pullAll(t, src, tn, pipeline.Detections, "")
	onceEach(t, "detections", ids, emu.DetectionIDs(tn.ID))
	cases, _, _ := pullAll(t, src, tn, pipeline.Cases, "")
	if len(cases) != 30 {
		t.Errorf("%d cases, want 30", len(cases))
	}
	if emu.Requests()["429"]+emu.Requests()["503"] == 0 && len(emu.Requests()) > 0 {
		t.Logf("requests: %v", emu.Requests())
	}
}

// TestCasesSweepMemory: every sweep re-reads the window; only a new
// (id, updatedAt) is forwarded, the page size the API accepted is kept, and
// the memory stays within its budget.
func TestCasesSweepMemory(t *testing.T) {
	emu := newEmu(t, emulator.Options{XDR: emulator.XDR{Cases: 130}})
	src, logs, tn := xdrSource(t, emu, DetectionsOptions{}, CasesOptions{PageSize: 120, MaxRemembered: 100})
	first, pages, cur := pullAll(t, src, tn, pipeline.Cases, "")
	if len(first) != 130 || pages != 5 {
		t.Fatalf("first sweep: %d cases in %d pages, want 130 in 5 (pageSize 120 and 60 refused, 30 accepted)", len(first), pages)
	}
	if !strings.Contains(logs.String(), "pageSize 120 refused (400), trying 60") {
		t.Errorf("page size not lowered:\n%s", logs.String())
	}
	// 130 cases with a budget of 100: only the 30 oldest-created are re-sent,
	// not the whole window; one WARN says so.
	second, _, cur := pullAll(t, src, tn, pipeline.Cases, cur)
	if len(second) != 30 || strings.Count(logs.String(), "more than 100 cases in the window") != 1 {
		t.Errorf("second sweep with the budget exceeded: %d cases, want 30 (the forgotten ones)", len(second))
	}
	changed := emu.ChangeCaseStatus(tn.ID, 3)
	emu.AddCases(tn.ID, 0)
	third, _, _ := pullAll(t, src, tn, pipeline.Cases, cur)
	if len(third) < 3 {
		t.Errorf("third sweep %v, want at least the 3 changed %v", third, changed)
	}
	for _, id := range changed {
		if !contains(third, id) {
			t.Errorf("changed case %s not forwarded", id)
		}
	}
}

// TestNotLicensedOnceThenDaily: an unlicensed tenant is asked once, then
// skipped without a request until the retry time, then asked again.
func TestNotLicensedOnceThenDaily(t *testing.T) {
	clk := &clock{}
	emu := newEmu(t, emulator.Options{Now: clk.Now, XDR: emulator.XDR{Kinds: []string{emulator.KindUnlicensed}}})
	src, logs, tn := xdrSource(t, emu, DetectionsOptions{}, CasesOptions{})
	p := pipeline.Partition{Tenant: tn.ID, Stream: pipeline.Cases}
	for i := 0; i < 5; i++ {
		_, err := src.Fetch(testCtx(t), p, pipeline.Position{})
		if _, ok := err.(*NotLicensedError); !ok {
			t.Fatalf("fetch %d: %v, want NotLicensedError", i, err)
		}
	}
	if n := emu.RequestCount("GET /cases/v1/cases"); n != 1 {
		t.Errorf("%d requests in 5 passes, want 1", n)
	}
	if n := strings.Count(logs.String(), "level=WARN msg=\"sophos: not licensed"); n != 1 {
		t.Errorf("%d WARN lines, want 1", n)
	}
	clk.Advance(25 * time.Hour)
	src.Fetch(testCtx(t), p, pipeline.Position{})
	if n := emu.RequestCount("GET /cases/v1/cases"); n != 2 {
		t.Errorf("after a day: %d requests, want 2 (retried daily)", n)
	}
}
