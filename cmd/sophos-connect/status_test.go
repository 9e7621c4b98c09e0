package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
	"github.com/sophos-connect/sophos-connect/status"
)

// seedCheckpoints writes a checkpoint file with partitions of tenants that
// no longer answer (left the partner account): their age keeps growing on
// the status page, which is what an operator must notice.
func seedCheckpoints(t *testing.T, stateDir string, now time.Time) {
	t.Helper()
	doc := map[string]any{"version": 1, "partitions": map[string]any{
		"gone-tenant-red/event":   map[string]any{"cursor": "c1", "saved_at": now.Add(-21 * time.Hour), "tenant_name": "Departed Ltd"},
		"gone-tenant-amber/alert": map[string]any{"cursor": "c2", "saved_at": now.Add(-5 * time.Hour), "tenant_name": "Lagging GmbH"},
	}}
	b, _ := json.Marshal(doc)
	os.MkdirAll(stateDir, 0o700)
	if err := os.WriteFile(filepath.Join(stateDir, "checkpoints.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func getStatus(t *testing.T, addr string) (status.Status, []byte) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/status.json")
	if err != nil {
		return status.Status{}, nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	var st status.Status
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil {
		t.Fatalf("/status.json: %v", err)
	}
	return st, b
}

// startStatusCollector runs a collector with metrics_addr against a partner
// emulator until every emulator tenant's partitions have committed.
func startStatusCollector(t *testing.T) (addr, cfg string, emu *emulator.Server, st status.Status, raw []byte, stop func()) {
	emu = newEmu(t, emulator.Options{Tenants: 3, Partner: true, Events: 400, Alerts: 30})
	dir := t.TempDir()
	seedCheckpoints(t, filepath.Join(dir, "state"), time.Now())
	addr = freeAddr(t)
	cfg = writeConfig(t, dir, emu, fmt.Sprintf("metrics_addr: %s\npull_time: 1h\n", addr))
	ctx, cancel := context.WithCancel(ctxT(t))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if code, _, errOut := runApp(t, ctx, "-c", cfg); code != 0 {
			t.Errorf("collector exited %d: %s", code, errOut)
		}
	}()
	stop = func() { cancel(); <-done }
	deadline := time.Now().Add(40 * time.Second)
	for {
		st, raw = getStatus(t, addr)
		committed := 0
		for _, tn := range st.Tenants {
			for _, s := range tn.Streams {
				if s.CheckpointAt != nil && s.LastPull != nil {
					committed++
				}
			}
		}
		if committed == 2*len(emu.TenantIDs()) && st.Totals.Delivered > 0 {
			var queued int64
			for _, s := range st.Sinks {
				queued += s.Queued
			}
			if queued == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("collector did not catch up; status: %s", raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStatusJSONFromCollector checks /status.json of a collector pulling
// from the emulator against the emulator's own counts.
func TestStatusJSONFromCollector(t *testing.T) {
	addr, cfg, emu, st, raw, stop := startStatusCollector(t)
	defer stop()
	if st.Version != version || st.Identity.ID == "" || st.Identity.IDType != "partner" || st.StartedAt.IsZero() {
		t.Fatalf("header: %+v", st)
	}
	// Partner credentials have no region of their own: the tenants' ones
	// (issue 27 found an empty identity.data_region).
	if r := st.Identity.DataRegion; r == "" || !strings.Contains(r, ",") {
		t.Errorf("identity.data_region %q, want the partner's tenants' regions (the emulator spreads them over two)", r)
	}
	byID := map[string]status.TenantStatus{}
	for _, tn := range st.Tenants {
		byID[tn.ID] = tn
	}
	var total int64
	for _, tid := range emu.TenantIDs() {
		tn, ok := byID[tid]
		if !ok || tn.Name == "" || len(tn.Streams) != 2 {
			t.Fatalf("tenant %s: %+v", tid, tn)
		}
		for _, s := range tn.Streams {
			want := int64(len(emu.AllIDs(tid, s.Stream)))
			if s.RecordsLastHour != want || s.Band != status.BandGreen || s.LastError != "" {
				t.Errorf("%s/%s: %+v, want %d records", tid, s.Stream, s, want)
			}
			total += want
		}
	}
	if st.Totals.RecordsPulled != total {
		t.Errorf("records pulled %d, want %d", st.Totals.RecordsPulled, total)
	}
	if b := byID["gone-tenant-red"].Streams; len(b) != 1 || b[0].Band != status.BandRed || b[0].LastPull != nil || *b[0].CheckpointAgeSeconds < 21*3600 {
		t.Errorf("departed tenant: %+v", b)
	}
	if b := byID["gone-tenant-amber"].Streams; len(b) != 1 || b[0].Band != status.BandAmber {
		t.Errorf("lagging tenant: %+v", b)
	}
	// The seed's four file sinks: each holds its stream's records.
	if len(st.Sinks) != 4 {
		t.Fatalf("sinks: %+v", st.Sinks)
	}
	for _, s := range st.Sinks {
		if s.Type == "" || s.Delivered == 0 || s.Queued != 0 || s.DeadLettered != 0 {
			t.Errorf("sink %+v", s)
		}
	}
	var sum int64
	for _, v := range st.Throughput {
		sum += v
	}
	if sum != total {
		t.Errorf("throughput sums to %d, want %d", sum, total)
	}
	page, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	pageBody, err := io.ReadAll(page.Body)
	page.Body.Close()
	if err != nil || len(pageBody) < 1000 {
		t.Fatalf("status page: %d bytes, %v", len(pageBody), err)
	}
	for what, b := range map[string][]byte{"status.json": raw, "page": pageBody} {
		if strings.Contains(string(b), testClientSecret) || strings.Contains(string(b), "Bearer") || strings.Contains(string(b), emu.AuthURL()) {
			t.Errorf("%s leaks a credential or the auth URL", what)
		}
	}

	// `status` against the running collector.
	code, out, errOut := runApp(t, ctxT(t), "status", "-addr", addr)
	if code != 0 || !strings.Contains(out, "Departed Ltd") || !strings.Contains(out, "seed-events-txt") || !strings.Contains(out, "red") {
		t.Fatalf("status: %d %s %s", code, out, errOut)
	}
	code, out, _ = runApp(t, ctxT(t), "status", "-json", "-c", cfg)
	var viaCmd status.Status
	if code != 0 || json.Unmarshal([]byte(out), &viaCmd) != nil || len(viaCmd.Tenants) != len(st.Tenants) {
		t.Fatalf("status -json: %d %s", code, out)
	}

	// With the collector stopped, `status` reads the state dir.
	stop()
	code, out, errOut = runApp(t, ctxT(t), "status", "-c", cfg)
	if code != 0 || !strings.Contains(out, "no collector answers") || !strings.Contains(out, "Departed Ltd") || !strings.Contains(out, emu.TenantIDs()[0]) {
		t.Fatalf("status offline: %d %s %s", code, out, errOut)
	}
	// Nothing runs: no sink may show ok (issue 27).
	if !strings.Contains(out, "NOT OK: sink seed-alerts-txt not_running") || regexp.MustCompile(`(?m)^seed-\S+\s+\S+\s+ok\s`).MatchString(out) {
		t.Fatalf("status offline shows a sink ok:\n%s", out)
	}
}

func chromiumPath(t *testing.T) string {
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed (CI is set, so this is a failure: .ci/run installs Debian's chromium)")
	}
	t.Skip("chromium is not installed: apt-get install chromium to run the browser test")
	return ""
}

// headless runs Chromium the way this machine allows (no sandbox as root,
// no background networking) with a fresh profile.
func headless(t *testing.T, bin string, args ...string) string {
	t.Helper()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=3000"}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append(base, args...)...).Output()
	if err != nil {
		t.Fatalf("chromium %v: %v", args, err)
	}
	return string(out)
}

// TestStatusPageInBrowser loads the status page of a collector pulling from
// the emulator in headless Chromium and checks the DOM its script built:
// a row per tenant × stream, the bands of old checkpoints, the sink rows,
// the filter and the sort; then saves a screenshot (STATUS_SCREENSHOT=FILE
// keeps it, as the README's picture was made).
func TestStatusPageInBrowser(t *testing.T) {
	bin := chromiumPath(t)
	addr, _, emu, st, _, stop := startStatusCollector(t)
	defer stop()
	t.Logf("browser test with %s", bin)

	dom := headless(t, bin, "--dump-dom", "http://"+addr+"/")
	rows := regexp.MustCompile(`<tr class="tenant-row" data-tenant="([^"]+)" data-stream="([^"]+)" data-band="([^"]+)">`).FindAllStringSubmatch(dom, -1)
	if want := 2*len(emu.TenantIDs()) + 2; len(rows) != want {
		t.Fatalf("%d tenant rows in the DOM, want %d:\n%s", len(rows), want, dom)
	}
	bands := map[string]string{}
	for _, r := range rows {
		bands[r[1]+"/"+r[2]] = r[3]
	}
	if bands["gone-tenant-red/event"] != "red" || bands["gone-tenant-amber/alert"] != "amber" || bands[emu.TenantIDs()[0]+"/event"] != "green" {
		t.Fatalf("bands: %v", bands)
	}
	if !strings.Contains(dom, `class="band band-red"`) || !strings.Contains(dom, "Departed Ltd") {
		t.Fatal("the red band is not rendered")
	}
	sinkRows := regexp.MustCompile(`<tr class="sink-row" data-sink="([^"]+)" data-state="ok">`).FindAllStringSubmatch(dom, -1)
	if len(sinkRows) != len(st.Sinks) {
		t.Fatalf("%d sink rows, want %d", len(sinkRows), len(st.Sinks))
	}
	if !strings.Contains(dom, "<rect") {
		t.Fatal("no throughput chart")
	}

	// Filtered and sorted views.
	dom = headless(t, bin, "--dump-dom", "http://"+addr+"/?filter=departed")
	if rows := regexp.MustCompile(`class="tenant-row"`).FindAllString(dom, -1); len(rows) != 1 {
		t.Fatalf("filter: %d rows", len(rows))
	}
	dom = headless(t, bin, "--dump-dom", "http://"+addr+"/?sort=age&desc=1")
	first := regexp.MustCompile(`class="tenant-row" data-tenant="([^"]+)"`).FindStringSubmatch(dom)
	if first == nil || first[1] != "gone-tenant-red" {
		t.Fatalf("sorted by age, descending: first row %v", first)
	}

	shot := os.Getenv("STATUS_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "status.png")
	} else if !filepath.IsAbs(shot) {
		wd, _ := os.Getwd()
		shot = filepath.Join(wd, shot)
	}
	headless(t, bin, "--hide-scrollbars", "--window-size=1280,900", "--screenshot="+shot, "http://"+addr+"/")
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 10_000 {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
}
