package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// TestSeedLogLines: the seed's notes are written with its wording alone on
// their line, its tags and timestamp layout; extra information is on lines
// of its own.
func TestSeedLogLines(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 30, Alerts: 3})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "log_level: VERBOSE\n")
	if code, _, e := runApp(t, ctxT(t), "-c", cfg, "-once"); code != 0 {
		t.Fatal(e)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "Sophos_log.log"))
	const ts = `\d\d/\d\d/\d{4} \d\d:\d\d:\d\d\] `
	for _, want := range []string{
		`^\[System Log ` + ts + `New Log File Created$`,
		`^\[System Log ` + ts + `Initiating Sophos Alerts and Events Pull$`,
		`^\[System Log ` + ts + `WhoAmI Authentication Successful$`,
		`^\[Events Log ` + ts + `No events json file existed, created a new events json file$`,
		`^\[Alerts Log ` + ts + `No alerts json file existed, created a new alerts json file$`,
		`^\[Alerts Log ` + ts + `Pulling Sophos Alerts$`,
		`^\[Events Log ` + ts + `Pulling Sophos Events$`,
		`^\[Events Log ` + ts + `Added 30 new Event IDs$`,
		`^\[Alerts Log ` + ts + `Added 3 new Alert IDs$`,
		`^\[System Log ` + ts + `33 new logs added$`,
	} {
		if !regexp.MustCompile(`(?m)` + want).Match(b) {
			t.Errorf("log lacks a line matching %s:\n%s", want, b)
		}
	}
	// A second run: the JSON files exist, so no creation note.
	os.Remove(filepath.Join(dir, "Sophos_log.log"))
	if code, _, e := runApp(t, ctxT(t), "-c", cfg, "-once"); code != 0 {
		t.Fatal(e)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "Sophos_log.log"))
	if regexp.MustCompile(`json file existed`).Match(b) {
		t.Errorf("second run logged a JSON file creation:\n%s", b)
	}
}
