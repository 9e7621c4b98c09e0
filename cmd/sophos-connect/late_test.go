package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// lateArrivalRun pulls from an emulator whose every SIEM page makes an item
// arrive with created_at up to 2 min in the past (behind the watermark of a
// client that has caught up), in eight -once runs a minute apart by the
// API's clock, then one more after ten minutes. offset is the
// from_date_offset_minutes line ("" = the default). It returns what was
// delivered and what the API served.
func lateArrivalRun(t *testing.T, offset string) (got map[string]int, want map[string]bool) {
	faults, err := emulator.ParseFaults("late-arrivals=1")
	if err != nil {
		t.Fatal(err)
	}
	emu := newEmu(t, emulator.Options{Events: 300, Alerts: 20, Faults: faults})
	dir := t.TempDir()
	y := fmt.Sprintf("sophos:\n  client_id: %s\n  client_secret: %s\n  auth_url: %s\n  api_host: %s\n%s"+
		"save_file_location: %s\nstate_dir: %s\ntxt_file_creation: false\njson_file_creation: true\nlog_level: ERROR\n",
		testClientID, testClientSecret, emu.AuthURL(), emu.URL(), offset, dir, filepath.Join(dir, "state"))
	cfg := filepath.Join(dir, "sophos-connect.yaml")
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	tid := emu.TenantIDs()[0]
	for i := range 9 {
		if i == 8 {
			// The last run comes ten minutes on by the API's clock: every
			// item that arrived so far, late or not, is old enough to be
			// served. Items its own pages make arrive late are not (yet).
			emu.AdvanceClock(10 * time.Minute)
			want = groundTruth(emu, "event")
		} else {
			emu.AddItems(tid, "event", 5)
			emu.AdvanceClock(time.Minute)
		}
		if code, _, e := runApp(t, ctxT(t), "-c", cfg, "-e", "-once"); code != 0 {
			t.Fatal(e)
		}
	}
	return jsonArrayIDs(t, filepath.Join(dir, "sophos_events.json")), want
}

// TestLateArrivalsDefaultOffsetLosesNothing: with the default
// from_date_offset_minutes every late arrival is delivered, exactly once;
// with 0 (the official script's default) some are lost — so the test can
// tell the difference.
func TestLateArrivalsDefaultOffsetLosesNothing(t *testing.T) {
	got, want := lateArrivalRun(t, "")
	assertExactlyOnce(t, "default from_date_offset_minutes with late arrivals", got, want)

	got, want = lateArrivalRun(t, "  from_date_offset_minutes: 0\n")
	lost := 0
	for id := range want {
		if got[id] == 0 {
			lost++
		}
	}
	if lost == 0 {
		t.Fatal("from_date_offset_minutes: 0 lost no late arrival: the emulator's late-arrival mode is not exercised")
	}
	t.Logf("from_date_offset_minutes 0: %d of %d events lost to late arrivals", lost, len(want))
}
