package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// jsonCaseVersions reads the cases JSON array file: "id@updatedAt" → count.
func jsonCaseVersions(t *testing.T, path string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var items []struct{ ID, UpdatedAt string }
	if err := json.Unmarshal(b, &items); err != nil {
		t.Fatalf("%s is not a valid JSON array: %v", path, err)
	}
	out := map[string]int{}
	for _, it := range items {
		out[it.ID+"@"+it.UpdatedAt]++
	}
	return out
}

// TestXDRCrashRecovery SIGKILLs the collector binary at random moments while
// it pulls detections and cases of an XDR, an MDR and an unlicensed tenant
// (cases changing status, detections arriving meanwhile), then runs -once:
// every detection and every (case id, updatedAt) is in the files, repeats
// are bounded by the pages in flight at each kill, and the unlicensed tenant
// does not fail the pass.
func TestXDRCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it repeatedly")
	}
	bin := buildBinary(t)
	emu, err := emulator.New(emulator.Options{Seed: 5, Tenants: 3, Partner: true, Events: 200, Alerts: 20, ClientID: testClientID, ClientSecret: testClientSecret,
		XDR: emulator.XDR{Detections: 400, Cases: 120, Kinds: []string{emulator.KindXDR, emulator.KindMDR, emulator.KindUnlicensed}}})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	dir := t.TempDir()
	const inflight, pageSize = 2, 25
	cfg := writeConfig(t, dir, emu, fmt.Sprintf("max_inflight_pages: %d\nworkers: 2\nsophos_streams_placeholder: x\n", inflight))
	// The streams and the small pages go under the sophos and sources keys.
	b, _ := os.ReadFile(cfg)
	y := strings.Replace(string(b), "sophos_streams_placeholder: x\n", "", 1)
	y = strings.Replace(y, "sophos:\n", "sophos:\n  streams: [alerts, events, detections, cases]\n", 1)
	y += fmt.Sprintf("sources:\n  detections: {page_size: %d, max_window: 24h}\n  cases: {page_size: %d}\n", pageSize, pageSize)
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	ids := emu.TenantIDs()
	rng := rand.New(rand.NewPCG(3, 4))
	kills := 0
	for kills < 6 {
		cmd := exec.Command(bin, "-c", cfg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(300+rng.IntN(1500)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		kills++
		emu.ChangeCaseStatus(ids[0], 3)
		emu.AddDetections(ids[1], 30)
		emu.AddLateDetection(ids[0], 2*time.Minute)
	}
	out, err := exec.Command(bin, "-c", cfg, "-once").CombinedOutput()
	if os.Getenv("XDR_DEBUG") != "" {
		b, _ := os.ReadFile(cfg)
		t.Logf("%s\n%s", b, out)
	}
	if err != nil {
		t.Fatalf("final -once run (the unlicensed tenant must not fail it): %v\n%s", err, out)
	}
	dets := jsonArrayIDs(t, filepath.Join(dir, "sophos_detections.json"))
	cases := jsonCaseVersions(t, filepath.Join(dir, "sophos_cases.json"))
	repeats := 0
	for _, tn := range ids[:2] {
		for _, id := range emu.DetectionIDs(tn) {
			if dets[id] == 0 {
				t.Errorf("detection %s of %s lost after %d kills", id, emu.TenantKind(tn), kills)
			}
			repeats += max(0, dets[id]-1)
		}
		for _, v := range emu.CaseVersions(tn) {
			if cases[v] == 0 {
				id, _, _ := strings.Cut(v, "@")
				var have []string
				for k := range cases {
					if strings.HasPrefix(k, id+"@") {
						have = append(have, k)
					}
				}
				t.Errorf("case version %s of %s lost (the files have %v)", v, emu.TenantKind(tn), have)
			}
		}
	}
	for _, n := range cases {
		repeats += n - 1
	}
	// Each kill repeats at most the pages in flight of each partition.
	if limit := kills * inflight * pageSize * 4; repeats > limit {
		t.Errorf("%d repeats after %d kills, more than %d", repeats, kills, limit)
	}
	if len(emu.DetectionIDs(ids[2])) != 0 {
		t.Error("the unlicensed tenant serves detections")
	}
	t.Logf("%d detections, %d case versions, %d repeats after %d kills", len(dets), len(cases), repeats, kills)
}
