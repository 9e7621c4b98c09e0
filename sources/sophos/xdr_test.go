package sophos

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// recSink keeps what it is given: "tenant/stream/id" (cases: "…/id@updatedAt")
// → times delivered. block, when set, makes Write hang until ctx ends after
// limit records (a collector killed mid-pass).
type recSink struct {
	mu    sync.Mutex
	got   map[string]int
	n     int
	limit int // 0 = never block

	withDetections int // cases whose raw item carries detections with mitreAttacks
}

func newRecSink() *recSink { return &recSink{got: map[string]int{}} }

func recKey(r *pipeline.Record) string {
	k := r.Tenant + "/" + string(r.Stream) + "/" + r.ID
	if r.Stream == pipeline.Cases {
		k += "@" + rawjson.String(rawjson.Get(r.Raw, "updatedAt"))
	}
	return k
}

func (s *recSink) Start(context.Context) error { return nil }
func (s *recSink) Close() error                { return nil }
func (s *recSink) Write(ctx context.Context, batch []*pipeline.Record) error {
	s.mu.Lock()
	if s.limit > 0 && s.n+len(batch) > s.limit {
		s.mu.Unlock()
		<-ctx.Done() // never delivered: the process "dies" here
		return ctx.Err()
	}
	for _, r := range batch {
		if d := rawjson.Get(r.Raw, "detections"); r.Stream == pipeline.Cases && d != nil && strings.Contains(string(d), `"mitreAttacks"`) {
			s.withDetections++
		}
		s.got[recKey(r)]++
		s.n++
	}
	s.mu.Unlock()
	return nil
}

// count returns the delivered keys of a tenant × stream with their counts.
func (s *recSink) keys(tenant string, st pipeline.Stream) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	pre := tenant + "/" + string(st) + "/"
	for k, n := range s.got {
		if strings.HasPrefix(k, pre) {
			out[strings.TrimPrefix(k, pre)] = n
		}
	}
	return out
}

// xdrHarness is partner credentials over an XDR, an MDR and an unlicensed
// tenant, and a collector whose state lives in dir.
type xdrHarness struct {
	emu             *emulator.Server
	dir             string
	logs            *logBuf
	xdr, mdr, unlic string
}

func newXDRHarness(t *testing.T) *xdrHarness {
	emu := newEmu(t, emulator.Options{Partner: true, Tenants: 3, Events: 200, Alerts: 20, XDR: emulator.XDR{
		Detections: 150, Cases: 80, Kinds: []string{emulator.KindXDR, emulator.KindMDR, emulator.KindUnlicensed}}})
	ids := emu.TenantIDs()
	return &xdrHarness{emu: emu, dir: t.TempDir(), logs: &logBuf{}, xdr: ids[0], mdr: ids[1], unlic: ids[2]}
}

// run is one collector process: a -once pass (or until ctx ends) into sink.
func (h *xdrHarness) run(t *testing.T, ctx context.Context, sink *recSink, streams ...pipeline.Stream) (pipeline.Stats, *pipeline.Metrics, error) {
	t.Helper()
	if len(streams) == 0 {
		streams = []pipeline.Stream{pipeline.Detections, pipeline.Cases}
	}
	c, _ := newTestClient(t, h.emu, nil)
	c.log = slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	src, err := NewSource(c, SourceOptions{Streams: streams,
		Detections: DetectionsOptions{PageSize: 20, MaxWindow: 6 * time.Hour, PollInitial: time.Millisecond, PollMax: 5 * time.Millisecond},
		Cases:      CasesOptions{PageSize: 200, Detections: true}})
	if err != nil {
		t.Fatal(err)
	}
	cps, err := pipeline.OpenCheckpoints(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	dlq, err := pipeline.OpenDeadLetter(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	m := pipeline.NewMetrics()
	st, err := pipeline.Run(ctx, pipeline.Options{Source: src, Checkpoints: cps, DeadLetter: dlq, Metrics: m, Once: true,
		Workers: 3, MaxInflightPages: 2, DrainTimeout: 300 * time.Millisecond, Log: slog.New(slog.NewTextHandler(h.logs, nil)),
		Sinks: []pipeline.SinkSpec{{Name: "rec", Type: "test", Sink: sink, Batch: pipeline.BatchPolicy{MaxEvents: 1000}}}})
	return st, m, err
}

func exactlyOnce(t *testing.T, what string, got map[string]int, want []string) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: the emulator serves nothing", what)
	}
	for _, k := range want {
		if got[k] != 1 {
			t.Errorf("%s: %s delivered %d times, want once", what, k, got[k])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: delivered %d distinct, want %d", what, len(got), len(want))
	}
}

// TestXDRPartnerDoneWhen is the scenario against the emulator:
// partner credentials with an XDR, an MDR and an unlicensed tenant.
func TestXDRPartnerDoneWhen(t *testing.T) {
	h := newXDRHarness(t)
	all := []pipeline.Stream{pipeline.Alerts, pipeline.Detections, pipeline.Cases}

	// Pass 1: every detection once, every (case id, updatedAt) once; the
	// unlicensed tenant is one log line and a status mark, and the pass succeeds.
	sink := newRecSink()
	st, m, err := h.run(t, testCtx(t), sink, all...)
	if err != nil || st.FailedPartitions != 0 {
		t.Fatalf("pass 1: %v (failed partitions %d)\n%s", err, st.FailedPartitions, h.logs.String())
	}
	for _, tn := range []string{h.xdr, h.mdr} {
		exactlyOnce(t, "detections of "+h.emu.TenantKind(tn), sink.keys(tn, pipeline.Detections), h.emu.DetectionIDs(tn))
		exactlyOnce(t, "cases of "+h.emu.TenantKind(tn), sink.keys(tn, pipeline.Cases), h.emu.CaseVersions(tn))
	}
	if n := len(sink.keys(h.unlic, pipeline.Detections)) + len(sink.keys(h.unlic, pipeline.Cases)); n != 0 {
		t.Errorf("unlicensed tenant delivered %d records", n)
	}
	if n := strings.Count(h.logs.String(), "not licensed"); n != 1 {
		t.Errorf("%d 'not licensed' log lines, want 1:\n%s", n, h.logs.String())
	}
	marks := 0
	for _, tn := range m.Board.Snapshot(time.Now()).Tenants {
		for _, s := range tn.Streams {
			if s.NotAvailable != "" {
				marks++
				if tn.ID != h.unlic || s.LastError != "" {
					t.Errorf("mark on %s %s (last error %q)", tn.ID, s.Stream, s.LastError)
				}
			}
		}
	}
	if marks != 2 {
		t.Errorf("%d status marks, want 2 (detections and cases of the unlicensed tenant)", marks)
	}
	if !strings.Contains(h.logs.String(), "looks MDR-managed") {
		t.Errorf("no MDR hint for the MDR tenant:\n%s", h.logs.String())
	}
	if !strings.Contains(h.logs.String(), "pageSize 200 refused (400)") {
		t.Errorf("page size 200 was not lowered on the 400")
	}
	// Cases carry their detections, MITRE included.
	if sink.withDetections == 0 || sink.withDetections != len(sink.keys(h.xdr, pipeline.Cases))+len(sink.keys(h.mdr, pipeline.Cases)) {
		t.Errorf("%d cases carried their detections with MITRE mapping", sink.withDetections)
	}

	// Pass 2: three cases change status and a detection arrives late inside
	// the overlap: exactly those are forwarded, nothing else again.
	changed := h.emu.ChangeCaseStatus(h.xdr, 3)
	late := h.emu.AddLateDetection(h.xdr, 3*time.Minute)
	sink2 := newRecSink()
	if st, _, err := h.run(t, testCtx(t), sink2, all...); err != nil || st.FailedPartitions != 0 {
		t.Fatalf("pass 2: %v\n%s", err, h.logs.String())
	}
	cases2 := sink2.keys(h.xdr, pipeline.Cases)
	if len(cases2) != 3 {
		t.Errorf("pass 2 forwarded %d cases (%v), want exactly the 3 changed %v", len(cases2), cases2, changed)
	}
	for k := range cases2 {
		id, _, _ := strings.Cut(k, "@")
		if !contains(changed, id) {
			t.Errorf("pass 2 forwarded unchanged case %s", k)
		}
	}
	if d := sink2.keys(h.xdr, pipeline.Detections); len(d) != 1 || d[late] != 1 {
		t.Errorf("pass 2 detections %v, want only the late one %s once", d, late)
	}
	if n := len(sink2.keys(h.mdr, pipeline.Cases)) + len(sink2.keys(h.mdr, pipeline.Detections)); n != 0 {
		t.Errorf("pass 2 forwarded %d records of the quiet MDR tenant", n)
	}
	if n := strings.Count(h.logs.String(), "not licensed"); n != 2 {
		t.Errorf("after two runs: %d 'not licensed' log lines, want one per run", n)
	}
}

// TestXDRKilledMidPass stops a collector mid-pass with records undelivered
// (as a SIGKILL would: nothing after the last commit survives) and starts
// again: nothing is lost and repeats stay within the pages in flight.
func TestXDRKilledMidPass(t *testing.T) {
	h := newXDRHarness(t)
	streams := []pipeline.Stream{pipeline.Detections, pipeline.Cases}
	for _, tn := range []string{h.xdr, h.mdr} {
		h.emu.AddDetections(tn, 200)
	}
	total := newRecSink()
	for kill := 0; kill < 3; kill++ {
		sink := newRecSink()
		sink.limit = 45 + kill*70
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		h.run(t, ctx, sink) // killed: the error is expected
		cancel()
		merge(total, sink)
		h.emu.ChangeCaseStatus(h.xdr, 2)
	}
	sink := newRecSink()
	if _, _, err := h.run(t, testCtx(t), sink, streams...); err != nil {
		t.Fatalf("final pass: %v", err)
	}
	merge(total, sink)
	for _, tn := range []string{h.xdr, h.mdr} {
		got := total.keys(tn, pipeline.Detections)
		repeats := 0
		for _, id := range h.emu.DetectionIDs(tn) {
			if got[id] == 0 {
				t.Errorf("detection %s lost", id)
			}
			repeats += max(0, got[id]-1)
		}
		// Each kill repeats at most the pages in flight (2 × 20 per partition).
		if limit := 3 * 2 * 20; repeats > limit {
			t.Errorf("%d detection repeats after 3 kills, more than %d", repeats, limit)
		}
		cases := total.keys(tn, pipeline.Cases)
		for _, v := range h.emu.CaseVersions(tn) {
			if cases[v] == 0 {
				t.Errorf("case version %s lost", v)
			}
		}
	}
}

func merge(into, from *recSink) {
	from.mu.Lock()
	defer from.mu.Unlock()
	into.mu.Lock()
	defer into.mu.Unlock()
	for k, n := range from.got {
		into.got[k] += n
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
