package main

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	ok := map[string]time.Time{
		"":                     now.Add(-24*time.Hour + 5*time.Minute),
		"6h":                   now.Add(-6 * time.Hour),
		"90m":                  now.Add(-90 * time.Minute),
		"2026-11-26T08:00:00Z": time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC),
	}
	ok[strconv.FormatInt(now.Add(-3*time.Hour).Unix(), 10)] = now.Add(-3 * time.Hour)
	for in, want := range ok {
		got, err := parseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"25h", "2026-11-24T08:00:00Z", "tomorrow", "-1h", "12.5"} {
		if _, err := parseSince(bad, now); err == nil {
			t.Errorf("parseSince(%q) accepted", bad)
		}
	}
}

// TestSinceLimitsFirstRun: -since 2h on a first run pulls only what was
// created in the last two hours.
func TestSinceLimitsFirstRun(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 2300, Alerts: 10})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "")
	if code, _, e := runApp(t, ctxT(t), "-c", cfg, "-e", "-once", "-since", "2h"); code != 0 {
		t.Fatal(e)
	}
	got := jsonArrayIDs(t, filepath.Join(dir, "sophos_events.json"))
	// The backlog spreads 2300 events over 23 h: about 200 in the last 2 h.
	if len(got) < 150 || len(got) > 260 {
		t.Fatalf("-since 2h delivered %d events, want about 200 of %d", len(got), len(groundTruth(emu, "event")))
	}
}
