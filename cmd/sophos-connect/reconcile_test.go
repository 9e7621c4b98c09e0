package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sophos-connect/sophos-connect/reconcile"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
	"github.com/sophos-connect/sophos-connect/status"
)

// TestReconcileNamesWithheldAlertsAndRepairs: the emulator withholds five
// alerts from the SIEM stream (the Common API lists them). reconcile names
// exactly those five and exits 1; -repair delivers them once, marked
// repaired, through the pipeline; then reconcile says complete and exits 0.
func TestReconcileNamesWithheldAlertsAndRepairs(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 200, Alerts: 20})
	tid := emu.TenantIDs()[0]
	withheld := emu.WithholdAlerts(tid, 5)
	if len(withheld) != 5 {
		t.Fatalf("withheld %v", withheld)
	}
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "")
	if code, _, e := runApp(t, ctxT(t), "-c", cfg, "-once"); code != 0 {
		t.Fatal(e)
	}
	alerts := filepath.Join(dir, "sophos_alerts.json")
	for _, id := range withheld {
		if jsonArrayIDs(t, alerts)[id] != 0 {
			t.Fatalf("withheld alert %s was delivered by the SIEM stream", id)
		}
	}

	code, out, e := runApp(t, ctxT(t), "-c", cfg, "reconcile", "-json")
	if code != 1 {
		t.Fatalf("reconcile exited %d, want 1: %s %s", code, out, e)
	}
	var res []reconcile.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err, out)
	}
	want := slices.Clone(withheld)
	slices.Sort(want)
	var sawAlerts, sawEvents bool
	for _, r := range res {
		switch r.Stream {
		case "alerts":
			sawAlerts = true
			if !slices.Equal(r.MissingIDs, want) || r.Complete || r.Upstream != 20 || r.Read != 15 {
				t.Fatalf("alerts: missing %v (want exactly %v), complete %v, upstream %d, read %d", r.MissingIDs, want, r.Complete, r.Upstream, r.Read)
			}
		case "events":
			sawEvents = true
			if !r.Complete || r.Upstream != -1 || r.Read != 200 || !strings.Contains(r.Checked, "no events count to compare with upstream") {
				t.Fatalf("events: %+v", r)
			}
		}
	}
	if !sawAlerts || !sawEvents {
		t.Fatalf("results %+v", res)
	}
	code, out, _ = runApp(t, ctxT(t), "-c", cfg, "reconcile")
	if code != 1 || !strings.Contains(out, "5 missing") || !strings.Contains(out, withheld[0][:8]) {
		t.Fatalf("table (exit %d):\n%s", code, out)
	}

	// -repair delivers the five once, through the pipeline, marked repaired.
	if code, _, e := runApp(t, ctxT(t), "-c", cfg, "reconcile", "-repair"); code != 0 {
		t.Fatalf("reconcile -repair exited %d: %s", code, e)
	}
	got := jsonArrayIDs(t, alerts)
	for _, id := range withheld {
		if got[id] != 1 {
			t.Fatalf("repaired alert %s delivered %d times, want once", id, got[id])
		}
	}
	txt, _ := os.ReadFile(filepath.Join(dir, "sophos_alerts"))
	for _, id := range withheld {
		if strings.Count(string(txt), id) != 1 {
			t.Fatalf("txt file: alert %s not written once", id)
		}
	}
	raw, _ := os.ReadFile(alerts)
	if n := strings.Count(string(raw), `"sophos_connect_repaired": true`); n != 5 {
		t.Fatalf("%d items marked repaired, want 5", n)
	}
	// Now complete: exit 0; a second repair has nothing to deliver.
	if code, out, e := runApp(t, ctxT(t), "-c", cfg, "reconcile", "-repair"); code != 0 || strings.Contains(out, "missing") {
		t.Fatalf("after repair: exit %d\n%s%s", code, out, e)
	}
	if got := jsonArrayIDs(t, alerts); got[withheld[0]] != 1 {
		t.Fatal("a second repair delivered again")
	}
}

// TestReconcileCompleteExitsZero: nothing withheld, everything delivered:
// every tenant and stream is complete, exit 0.
func TestReconcileCompleteExitsZero(t *testing.T) {
	emu := newEmu(t, emulator.Options{Tenants: 2, Partner: true, Events: 150, Alerts: 12})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "")
	if code, _, e := runApp(t, ctxT(t), "-c", cfg, "-once"); code != 0 {
		t.Fatal(e)
	}
	code, out, e := runApp(t, ctxT(t), "-c", cfg, "reconcile")
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out, e)
	}
	if strings.Count(out, "complete") != 4 || strings.Contains(out, "missing") {
		t.Fatalf("want 2 tenants × 2 streams complete:\n%s", out)
	}
}

// TestPeriodicReconcile: with reconcile: {every: 1s} a running collector
// reconciles by itself: sophos_connect_reconcile_missing and the status
// page's column show the five withheld alerts.
func TestPeriodicReconcile(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 100, Alerts: 20})
	tid := emu.TenantIDs()[0]
	emu.WithholdAlerts(tid, 5)
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeConfig(t, dir, emu, "metrics_addr: "+addr+"\npull_time: 1h\nreconcile: {every: 1s}\n")
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	done := make(chan string, 1)
	go func() { _, _, e := runApp(t, ctx, "-c", cfg); done <- e }()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no reconciliation shown\n%s", <-done)
		}
		b, err := httpGet("http://" + addr + "/metrics")
		if err != nil {
			continue
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		if sumMetric(fams, "sophos_connect_reconcile_missing", map[string]string{"tenant": tid, "stream": "alert"}) != 5 {
			continue
		}
		if sumMetric(fams, "sophos_connect_reconcile_missing", map[string]string{"tenant": tid, "stream": "event"}) != 0 {
			t.Fatal("events reported missing")
		}
		var st status.Status
		b, err = httpGet("http://" + addr + "/status.json")
		if err != nil || json.Unmarshal(b, &st) != nil {
			continue
		}
		for _, s := range st.Tenants[0].Streams {
			if s.Stream == "alert" && (s.Reconcile == nil || s.Reconcile.Complete || s.Reconcile.Missing != 5) {
				t.Fatalf("status column: %+v", s.Reconcile)
			}
			if s.Stream == "event" && (s.Reconcile == nil || !s.Reconcile.Complete) {
				t.Fatalf("status column (events): %+v", s.Reconcile)
			}
		}
		break
	}
	cancel()
	if e := <-done; !strings.Contains(e, "reconcile: tenant "+tid+" alerts: 5 missing") {
		t.Fatalf("no ERROR names the missing alerts:\n%s", e)
	}
}

// TestReconcileDetectionCounts: with the detections stream, reconcile
// compares the Detections API's hourly counts with the detections read per
// hour: complete after a run; with the ledger lost, the hours are named
// and the exit code is 1.
func TestReconcileDetectionCounts(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 50, Alerts: 5})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "")
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), "sophos:\n", "sophos:\n  streams: [alerts, events, detections]\n", 1)), 0o600)
	if code, _, e := runApp(t, ctxT(t), "-c", cfg, "-once"); code != 0 {
		t.Fatal(e)
	}
	detections := func() reconcile.Result {
		code, out, e := runApp(t, ctxT(t), "-c", cfg, "reconcile", "-json")
		var res []reconcile.Result
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("exit %d: %v\n%s%s", code, err, out, e)
		}
		for _, r := range res {
			if r.Stream == "detections" {
				if (code == 0) != r.Complete {
					t.Fatalf("exit %d with detections complete=%v", code, r.Complete)
				}
				return r
			}
		}
		t.Fatalf("no detections result: %s", out)
		return reconcile.Result{}
	}
	r := detections()
	if !r.Complete || r.Upstream < 10 {
		t.Fatalf("after a run: %+v", r)
	}
	// The ledger lost: every judged hour with detections is named.
	os.RemoveAll(filepath.Join(dir, "state", "ledger"))
	r = detections()
	var short uint64
	for _, h := range r.Short {
		short += h.Routed - h.Delivered
	}
	if r.Complete || short != uint64(r.Upstream) {
		t.Fatalf("without the ledger: missing %d of %d upstream: %+v", short, r.Upstream, r)
	}
}
