package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// TestCronFromRootDirectory runs the binary the way cron does — working
// directory /, the config named by an absolute path whose paths are all
// relative — twice with new items between: the files, the log and the
// checkpoints live beside the config, and every id is written exactly once
// (a state_dir resolved against the working directory would start over and
// repeat everything).
func TestCronFromRootDirectory(t *testing.T) {
	bin := buildBinary(t)
	emu := newEmu(t, emulator.Options{Seed: 3, Tenants: 2, Partner: true, Events: 1500, Alerts: 100})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "save_file_location: out\nstate_dir: state\nlog_level: INFO\n")
	run := func(round string) {
		cmd := exec.Command(bin, "-c", cfg, "-once")
		cmd.Dir = "/"
		cmd.Env = append(os.Environ(), "SOPHOS_CLIENT_ID=", "SOPHOS_CLIENT_SECRET=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", round, err, out)
		}
	}
	run("first run")
	emu.AddItems(emu.TenantIDs()[1], "event", 300)
	run("second run")
	for _, f := range []string{"state/checkpoints.json", "out/Sophos_log.log", "out/sophos_events.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			matches, _ := filepath.Glob(filepath.Join(dir, "state", "*"))
			t.Fatalf("%s not beside the config: %v (state has %v)", f, err, matches)
		}
	}
	assertExactlyOnce(t, "events json", jsonArrayIDs(t, filepath.Join(dir, "out/sophos_events.json")), groundTruth(emu, "event"))
	assertExactlyOnce(t, "events txt", txtIDs(t, filepath.Join(dir, "out/sophos_events")), groundTruth(emu, "event"))
	assertExactlyOnce(t, "alerts txt", txtIDs(t, filepath.Join(dir, "out/sophos_alerts")), groundTruth(emu, "alert"))
}

// TestValidatePrintsResolvedPaths: validate shows every output path as an
// absolute path beside the config and says whether it can be written.
func TestValidatePrintsResolvedPaths(t *testing.T) {
	emu := newEmu(t, emulator.Options{})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "save_file_location: out\nstate_dir: st\nsinks:\n  - {name: nd, type: json, layout: lines, path: nd/x.json}\n")
	t.Chdir(t.TempDir())
	code, out, errOut := runApp(t, ctxT(t), "validate", "-c", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	for _, want := range []string{
		"state_dir              " + filepath.Join(dir, "st") + "  ok",
		"log file               " + filepath.Join(dir, "out", "Sophos_log.log") + "  ok",
		"sink seed-events-json  " + filepath.Join(dir, "out", "sophos_events.json") + "  ok",
		"sink nd                " + filepath.Join(dir, "nd", "x.json") + "  ok",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
	// A directory that cannot be created (a file is in the way) fails validate.
	os.WriteFile(filepath.Join(dir, "blocker"), nil, 0o644)
	cfg = writeConfig(t, dir, emu, "state_dir: blocker/state\n")
	code, out, errOut = runApp(t, ctxT(t), "validate", "-c", cfg)
	if code == 0 || !strings.Contains(out, "NOT WRITABLE") || !strings.Contains(errOut, "cannot be written") {
		t.Fatalf("exit %d, want a failure naming the path:\n%s%s", code, out, errOut)
	}
}
