package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

const (
	testClientID     = "e2e-client"
	testClientSecret = "e2e-secret-DO-NOT-PRINT"
)

// writeConfig writes a config pointing at the emulator; extra YAML may
// override the defaults below.
func writeConfig(t *testing.T, dir string, emu *emulator.Server, extra string) string {
	t.Helper()
	// from_date_offset_minutes: 0 so items added now are served at once
	// (the default 5 is tested with late arrivals in late_test.go).
	y := fmt.Sprintf("sophos:\n  client_id: %s\n  client_secret: %s\n  auth_url: %s\n  api_host: %s\n  from_date_offset_minutes: 0\n",
		testClientID, testClientSecret, emu.AuthURL(), emu.URL())
	defaults := [][2]string{
		{"save_file_location", dir}, {"txt_file_creation", "true"}, {"json_file_creation", "true"},
		{"state_dir", filepath.Join(dir, "state")}, {"log_level", "ERROR"}, {"pull_time", "1"},
	}
	for _, kv := range defaults {
		if !regexp.MustCompile(`(?m)^` + kv[0] + `:`).MatchString(extra) {
			y += kv[0] + ": " + kv[1] + "\n"
		}
	}
	y += extra
	p := filepath.Join(dir, "sophos-connect.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runApp(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb}
	code := a.main(ctx, args)
	return code, out.String(), errb.String()
}

// jsonArrayIDs reads the seed's JSON array file and counts each item id.
func jsonArrayIDs(t *testing.T, path string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var items []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &items); err != nil {
		t.Fatalf("%s is not a valid JSON array: %v", path, err)
	}
	ids := map[string]int{}
	for _, it := range items {
		ids[it.ID]++
	}
	return ids
}

var txtIDRE = regexp.MustCompile(`\[(?:EventID|AlertID): ([^\]]*)\]`)

// txtIDs reads a seed txt file and counts each id.
func txtIDs(t *testing.T, path string) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "[") {
			continue // a multi-line value (the seed writes names raw)
		}
		if m := txtIDRE.FindStringSubmatch(line); m != nil {
			ids[m[1]]++
		}
	}
	return ids
}

func groundTruth(emu *emulator.Server, stream string) map[string]bool {
	want := map[string]bool{}
	for _, tid := range emu.TenantIDs() {
		for _, id := range emu.AllIDs(tid, stream) {
			want[id] = true
		}
	}
	return want
}

func assertExactlyOnce(t *testing.T, what string, got map[string]int, want map[string]bool) {
	t.Helper()
	missing, dup, extra := 0, 0, 0
	for id := range want {
		switch got[id] {
		case 0:
			missing++
		case 1:
		default:
			dup++
		}
	}
	for id := range got {
		if !want[id] {
			extra++
		}
	}
	if missing+dup+extra > 0 || len(want) == 0 {
		t.Fatalf("%s: %d ids served, %d missing, %d repeated, %d unknown", what, len(want), missing, dup, extra)
	}
}

// TestEndToEndPartnerOnce: three tenants behind partner credentials, more
// than 20,000 events and alerts over many pages, into the seed's txt and
// json files: every id exactly once; a second -once after new items adds
// only the new ones.
func TestEndToEndPartnerOnce(t *testing.T) {
	emu, err := emulator.New(emulator.Options{Seed: 7, Tenants: 3, Partner: true, Events: 6000, Alerts: 1000, ClientID: testClientID, ClientSecret: testClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	check := func(round string) {
		for _, s := range []struct{ stream, txt, js string }{
			{"event", "sophos_events", "sophos_events.json"},
			{"alert", "sophos_alerts", "sophos_alerts.json"},
		} {
			want := groundTruth(emu, s.stream)
			assertExactlyOnce(t, round+" "+s.js, jsonArrayIDs(t, filepath.Join(dir, s.js)), want)
			assertExactlyOnce(t, round+" "+s.txt, txtIDs(t, filepath.Join(dir, s.txt)), want)
		}
	}
	if code, _, stderr := runApp(t, ctx, "-c", cfg, "-once"); code != 0 {
		t.Fatalf("first run: exit %d\n%s", code, stderr)
	}
	if n := len(groundTruth(emu, "event")) + len(groundTruth(emu, "alert")); n < 20000 {
		t.Fatalf("only %d items served", n)
	}
	check("first run")

	tenants := emu.TenantIDs()
	emu.AddItems(tenants[0], "event", 1500)
	emu.AddItems(tenants[2], "alert", 7)
	if code, _, stderr := runApp(t, ctx, "-c", cfg, "-once"); code != 0 {
		t.Fatalf("second run: exit %d\n%s", code, stderr)
	}
	check("second run")
}

// TestCrashRecovery SIGKILLs the collector at random moments while items
// keep arriving, restarting it each time: afterwards nothing served is
// missing, and repeats are bounded by the pages in flight at each kill.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it repeatedly")
	}
	bin := filepath.Join(t.TempDir(), "sophos-connect")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	emu, err := emulator.New(emulator.Options{Seed: 11, Tenants: 2, Partner: true, Events: 4000, Alerts: 400, Rate: 300, ClientID: testClientID, ClientSecret: testClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	dir := t.TempDir()
	const inflight = 2
	cfg := writeConfig(t, dir, emu, fmt.Sprintf("max_inflight_pages: %d\nworkers: 2\n", inflight))

	rng := rand.New(rand.NewPCG(1, 2))
	kills := 0
	deadline := time.Now().Add(20 * time.Second)
	for kills < 8 && time.Now().Before(deadline) {
		cmd := exec.Command(bin, "-c", cfg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(100+rng.IntN(900)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		kills++
	}
	// Catch up once, cleanly.
	snapshotE, snapshotA := groundTruth(emu, "event"), groundTruth(emu, "alert")
	cmd := exec.Command(bin, "-c", cfg, "-once")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("final -once run: %v\n%s", err, out)
	}
	for _, s := range []struct {
		file string
		want map[string]bool
	}{{"sophos_events.json", snapshotE}, {"sophos_alerts.json", snapshotA}} {
		got := jsonArrayIDs(t, filepath.Join(dir, s.file))
		missing, repeats := 0, 0
		for id := range s.want {
			if got[id] == 0 {
				missing++
			}
		}
		for _, n := range got {
			repeats += n - 1
		}
		if missing > 0 {
			t.Fatalf("%s: %d of %d served ids missing after %d kills", s.file, missing, len(s.want), kills)
		}
		// Each kill repeats at most the pages in flight (max_inflight_pages
		// of at most 1000 items).
		if limit := kills * inflight * 1000; repeats > limit {
			t.Fatalf("%s: %d repeats after %d kills, more than %d", s.file, repeats, kills, limit)
		}
		t.Logf("%s: %d ids, %d repeats after %d kills", s.file, len(got), repeats, kills)
	}
}

// TestDedupeReplayForwardsNoRepeats resets the checkpoints (a replay of the
// whole 24 h window) between two runs with a dedupe stage: the second run
// forwards zero repeats, and new items still pass.
func TestDedupeReplayForwardsNoRepeats(t *testing.T) {
	emu, err := emulator.New(emulator.Options{Seed: 9, Tenants: 2, Partner: true, Events: 3000, Alerts: 300, ClientID: testClientID, ClientSecret: testClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "transforms:\n  - type: dedupe\n    ttl: 25h\n")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if code, _, e := runApp(t, ctx, "-c", cfg, "-once"); code != 0 {
		t.Fatal(e)
	}
	if code, out, e := runApp(t, ctx, "state", "reset", "-c", cfg); code != 0 || !strings.Contains(out, "removed 4 checkpoint") {
		t.Fatalf("state reset: %s %s", out, e)
	}
	emu.AddItems(emu.TenantIDs()[1], "event", 25)
	if code, _, e := runApp(t, ctx, "-c", cfg, "-once"); code != 0 {
		t.Fatal(e)
	}
	for _, s := range []struct{ stream, js, txt string }{{"event", "sophos_events.json", "sophos_events"}, {"alert", "sophos_alerts.json", "sophos_alerts"}} {
		want := groundTruth(emu, s.stream)
		assertExactlyOnce(t, "after replay "+s.js, jsonArrayIDs(t, filepath.Join(dir, s.js)), want)
		assertExactlyOnce(t, "after replay "+s.txt, txtIDs(t, filepath.Join(dir, s.txt)), want)
	}
}
