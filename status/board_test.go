package status

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func TestBands(t *testing.T) {
	for _, c := range []struct {
		age  time.Duration
		band string
	}{{0, BandGreen}, {59 * time.Minute, BandGreen}, {time.Hour, BandAmber}, {19*time.Hour + 59*time.Minute, BandAmber}, {20 * time.Hour, BandRed}, {30 * time.Hour, BandRed}} {
		if got := BandFor(c.age); got != c.band {
			t.Errorf("BandFor(%s) = %s, want %s", c.age, got, c.band)
		}
	}
}

func TestMinutesRing(t *testing.T) {
	var m minutes
	m.add(t0, 5)
	m.add(t0.Add(30*time.Second), 5)
	m.add(t0.Add(10*time.Minute), 7)
	s := m.series(t0.Add(10 * time.Minute))
	if len(s) != 60 || s[59] != 7 || s[49] != 10 {
		t.Fatalf("series = %v", s)
	}
	if got := m.sum(t0.Add(10 * time.Minute)); got != 17 {
		t.Fatalf("sum = %d, want 17", got)
	}
	// 60 minutes after the first add, it has left the hour.
	if got := m.sum(t0.Add(60 * time.Minute)); got != 7 {
		t.Fatalf("sum an hour later = %d, want 7", got)
	}
	// A write after a long gap clears every old slot.
	m.add(t0.Add(5*time.Hour), 1)
	if got := m.sum(t0.Add(5 * time.Hour)); got != 1 {
		t.Fatalf("sum after a gap = %d, want 1", got)
	}
}

func TestSnapshot(t *testing.T) {
	b := NewBoard("1.2.3", t0)
	b.SetIdentity(Identity{ID: "p-1", IDType: "partner", DataRegion: "eu01"})
	b.AddSink("siem", "syslog")
	b.AddSink("files", "json")
	b.SetSinkCounters(func(s string) SinkCounters {
		if s == "siem" {
			return SinkCounters{Delivered: 10, Queued: 2, BufferedBytes: 300, DeadLettered: 1}
		}
		return SinkCounters{Delivered: 12}
	})
	b.Pulled("t1", "Acme", "event", 10, t0.Add(time.Minute))
	b.Pulled("t1", "Acme", "alert", 2, t0.Add(time.Minute))
	b.Committed("t1", "", "event", t0.Add(time.Minute))
	b.Committed("t2", "Zeta", "event", t0.Add(-21*time.Hour))
	b.Committed("t3", "Beta", "alert", t0.Add(-5*time.Hour))
	b.Failed("t2", "", "event", "401 Unauthorized", t0)
	b.SinkFailed("siem", "connection refused", t0)

	st := b.Snapshot(t0.Add(2 * time.Minute))
	if st.Version != "1.2.3" || st.Identity.ID != "p-1" || st.Totals.Tenants != 3 || st.Totals.RecordsPulled != 12 ||
		st.Totals.Delivered != 22 || st.Totals.DeadLettered != 1 || st.Totals.FailingStreams != 1 {
		t.Fatalf("header/totals: %+v", st)
	}
	var names []string
	for _, tn := range st.Tenants {
		names = append(names, tn.Name)
	}
	if !reflect.DeepEqual(names, []string{"Acme", "Beta", "Zeta"}) {
		t.Fatalf("tenants sorted by name: %v", names)
	}
	acme := st.Tenants[0]
	if len(acme.Streams) != 2 || acme.Streams[0].Stream != "alert" || acme.Streams[1].Band != BandGreen ||
		acme.Streams[1].RecordsLastHour != 10 || *acme.Streams[1].CheckpointAgeSeconds != 60 {
		t.Fatalf("acme: %+v", acme)
	}
	if acme.Streams[0].CheckpointAt != nil || acme.Streams[0].Band != BandNone {
		t.Fatalf("never committed: %+v", acme.Streams[0])
	}
	if z := st.Tenants[2].Streams[0]; z.Band != BandRed || z.LastError != "401 Unauthorized" || z.LastPull != nil {
		t.Fatalf("zeta: %+v", z)
	}
	if st.Tenants[1].Streams[0].Band != BandAmber {
		t.Fatalf("beta: %+v", st.Tenants[1])
	}
	if st.Sinks[0].Name != "siem" || st.Sinks[0].LastError != "connection refused" || st.Sinks[0].BufferedBytes != 300 {
		t.Fatalf("sinks: %+v", st.Sinks)
	}
	// A page pulled again clears the tenant's error; a write clears the sink's.
	b.Pulled("t2", "", "event", 1, t0.Add(3*time.Minute))
	b.SinkDelivered("siem", 1, t0.Add(3*time.Minute))
	st = b.Snapshot(t0.Add(3 * time.Minute))
	if st.Totals.FailingStreams != 0 || st.Sinks[0].LastError != "" {
		t.Fatalf("errors not cleared: %+v", st)
	}
	if len(st.Throughput) != 60 || st.Throughput[57] != 12 || st.Throughput[59] != 1 {
		t.Fatalf("throughput: %v", st.Throughput)
	}
}

// TestJSONShape pins the field names of /status.json, the README's
// documented interface: renaming one breaks scripts built on it.
func TestJSONShape(t *testing.T) {
	b := NewBoard("v", t0)
	b.AddSink("s", "txt")
	b.Pulled("t", "n", "event", 1, t0)
	b.Committed("t", "n", "event", t0)
	b.Failed("t", "n", "event", "x", t0)
	b.SinkFailed("s", "y", t0)
	b.SetMember(&Member{ID: "m", Group: "g", Partitions: []int{1}, Tenants: []string{"t"}})
	raw, _ := json.Marshal(b.Snapshot(t0))
	var doc map[string]any
	json.Unmarshal(raw, &doc)
	keys := func(m map[string]any) []string {
		var k []string
		for n := range m {
			k = append(k, n)
		}
		sort.Strings(k)
		return k
	}
	want := map[string][]string{
		"":         {"gaps", "identity", "member", "now", "sinks", "started_at", "tenants", "throughput_per_minute", "totals", "version"},
		"identity": {"data_region", "id", "id_type"},
		"member":   {"group", "id", "partitions", "tenants"},
		"totals":   {"dead_lettered", "delivered", "failing_streams", "records_pulled", "tenants"},
		"tenant":   {"id", "name", "streams"},
		"stream":   {"band", "checkpoint_age_seconds", "checkpoint_at", "gap", "last_error", "last_error_at", "last_pull", "reconcile", "records_last_hour", "stream"},
		"sink": {"buffered_bytes", "dead_lettered", "delivered", "last_delivered", "last_error", "last_error_at", "name",
			"oldest_undelivered_seconds", "queued", "state", "type", "undelivered"},
	}
	tenant := doc["tenants"].([]any)[0].(map[string]any)
	got := map[string][]string{
		"":         keys(doc),
		"identity": keys(doc["identity"].(map[string]any)),
		"member":   keys(doc["member"].(map[string]any)),
		"totals":   keys(doc["totals"].(map[string]any)),
		"tenant":   keys(tenant),
		"stream":   keys(tenant["streams"].([]any)[0].(map[string]any)),
		"sink":     keys(doc["sinks"].([]any)[0].(map[string]any)),
	}
	for k := range want {
		if !reflect.DeepEqual(got[k], want[k]) {
			t.Errorf("%q keys = %v, want %v", k, got[k], want[k])
		}
	}
}

func TestPageEmbedsDataSafely(t *testing.T) {
	b := NewBoard("v", t0)
	b.Pulled("t", `</script><script>alert(1)</script>`, "event", 1, t0)
	mux := http.NewServeMux()
	Register(mux, b, func() time.Time { return t0 })
	for _, path := range []string{"/", "/status"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		body := rec.Body.String()
		if rec.Code != 200 || !strings.Contains(body, `<table id="tenants">`) {
			t.Fatalf("%s: %d", path, rec.Code)
		}
		if strings.Contains(body, "<script>alert(1)") {
			t.Fatalf("%s: a tenant name broke out of the data element", path)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Fatalf("CSP = %q", csp)
		}
		// Self-contained: nothing loaded from elsewhere.
		for _, ref := range []string{"src=\"http", "href=\"http", "@import", "url("} {
			if strings.Contains(body, ref) {
				t.Fatalf("%s: external reference %q", path, ref)
			}
		}
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/nope", nil))
	if rec.Code != 404 {
		t.Fatalf("/nope: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/status.json", nil))
	var st Status
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || len(st.Tenants) != 1 {
		t.Fatalf("status.json: %v %s", err, rec.Body)
	}
}

func TestWriteTextFitsWidth(t *testing.T) {
	b := NewBoard("v", t0)
	b.AddSink("siem", "syslog")
	b.Committed("t-123", "A tenant with a very long name indeed, longer than any terminal would like", "event", t0)
	b.Failed("t-123", "", "event", "line one\nline two: a long explanation of what failed and how to fix it", t0)
	var out bytes.Buffer
	WriteText(&out, b.Snapshot(t0.Add(time.Minute)), 100)
	for _, l := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		if n := len([]rune(l)); n > 100 {
			t.Errorf("line of %d runes: %q", n, l)
		}
	}
	if !strings.Contains(out.String(), "…") || !strings.Contains(out.String(), "t-123") || !strings.Contains(out.String(), "UTC") && !strings.Contains(out.String(), time.Local.String()) {
		t.Fatalf("table:\n%s", out.String())
	}
}

// TestSinkStates: a sink's error stays until that sink delivers again; a
// sink with records waiting and no delivery for the stall threshold is
// stalled; a failing start-up check shows as failing_startup; the health
// /metrics exports agrees.
func TestSinkStates(t *testing.T) {
	b := NewBoard("v", t0)
	b.SetStallAfter(time.Minute)
	b.AddSink("siem", "syslog")
	state := func(at time.Time) SinkStatus { return b.Snapshot(at).Sinks[0] }
	if s := state(t0); s.State != SinkOK || s.OldestUndeliveredSeconds != nil || !b.Snapshot(t0).Healthy() {
		t.Fatalf("fresh sink: %+v", s)
	}
	b.SinkRouted("siem", 10, t0)
	b.SinkRouted("siem", 5, t0.Add(10*time.Second))
	b.SinkFailed("siem", "connection refused", t0.Add(20*time.Second))
	s := state(t0.Add(30 * time.Second))
	if s.State != SinkRetrying || s.Undelivered != 15 || *s.OldestUndeliveredSeconds != 30 || b.Snapshot(t0).Healthy() {
		t.Fatalf("retrying: %+v", s)
	}
	if s := state(t0.Add(61 * time.Second)); s.State != SinkStalled {
		t.Fatalf("nothing delivered for over a minute with records waiting: %+v", s)
	}
	h := b.SinkHealth(t0.Add(61 * time.Second))
	if len(h) != 1 || h[0].Up || h[0].OldestUndeliveredSeconds != 61 {
		t.Fatalf("health: %+v", h)
	}
	// Delivering the first ten settles the oldest group and clears the error.
	b.SinkDelivered("siem", 10, t0.Add(62*time.Second))
	s = state(t0.Add(62 * time.Second))
	if s.State != SinkOK || s.LastError != "" || s.Undelivered != 5 || *s.OldestUndeliveredSeconds != 52 || s.LastDelivered == nil {
		t.Fatalf("after a delivery: %+v", s)
	}
	b.SinkSettled("siem", 5) // dead-lettered
	if s := state(t0.Add(200 * time.Second)); s.State != SinkOK || s.Undelivered != 0 {
		t.Fatalf("nothing waits, so it is not stalled: %+v", s)
	}
	b.SinkStartup("siem", "401 token refused", t0)
	if s := state(t0); s.State != SinkFailingStartup || s.LastError != "401 token refused" {
		t.Fatalf("start-up failing: %+v", s)
	}
	b.SinkStartup("siem", "", t0)
	b.SinkDelivered("siem", 0, t0)
	if s := state(t0); s.State != SinkOK {
		t.Fatalf("start-up passed: %+v", s)
	}
	// A reload keeps a sink by name (its last delivery) and drops removed ones.
	b.AddSink("old", "txt")
	b.SetSinks([]string{"siem", "new"}, []string{"syslog", "kafka"})
	st := b.Snapshot(t0)
	if len(st.Sinks) != 2 || st.Sinks[0].LastDelivered == nil || st.Sinks[1].Name != "new" || st.Sinks[1].Type != "kafka" {
		t.Fatalf("after SetSinks: %+v", st.Sinks)
	}
}
