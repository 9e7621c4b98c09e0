package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/seed"
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

// TestMigrateOutputRefusesAndKeepsOwner: migrate -o refuses to replace an
// existing file; with -force it replaces it keeping owner, group and mode.
func TestMigrateOutputRefusesAndKeepsOwner(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "sophos.conf")
	os.WriteFile(conf, []byte("client_id = my-id\nclient_secret = s3cret\npull_time = 30\n"), 0o600)
	out := filepath.Join(dir, "sophos-connect.yaml")
	if code, _, e := runApp(t, ctxT(t), "migrate", conf, "-o", out); code != 0 {
		t.Fatal(e)
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
		t.Fatalf("new file mode %v, want 0600", st.Mode().Perm())
	}
	os.WriteFile(out, []byte("# hand-edited\n"), 0o600)
	code, _, errOut := runApp(t, ctxT(t), "migrate", conf, "-o", out)
	if b, _ := os.ReadFile(out); code == 0 || !strings.Contains(errOut, "already exists: pass -force") || string(b) != "# hand-edited\n" {
		t.Fatalf("exit %d, %s; file now %q", code, errOut, b)
	}
	os.Chmod(out, 0o640)
	wantUID, wantGID := os.Getuid(), os.Getgid()
	if os.Geteuid() == 0 {
		wantUID, wantGID = 65534, 65534 // nobody:nogroup, as a service user would own it
		if err := os.Chown(out, wantUID, wantGID); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, e := runApp(t, ctxT(t), "migrate", conf, "-o", out, "-force"); code != 0 {
		t.Fatal(e)
	}
	st, _ := os.Stat(out)
	uid, gid := seed.FileOwner(st)
	if st.Mode().Perm() != 0o640 || uid != wantUID || gid != wantGID {
		t.Fatalf("after -force: mode %v uid %d gid %d, want 0640 %d %d", st.Mode().Perm(), uid, gid, wantUID, wantGID)
	}
	if b, _ := os.ReadFile(out); !strings.Contains(string(b), "pull_time: 30") {
		t.Fatalf("not replaced:\n%s", b)
	}
}

// TestSeedFilesRotate: the top-level rotate: key applies to the seed's txt
// and JSON files; across the rotated files every id is there exactly once
// and each JSON file is an array.
func TestSeedFilesRotate(t *testing.T) {
	emu := newEmu(t, emulator.Options{Seed: 14, Events: 2500, Alerts: 40})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "rotate: {max_bytes: 64KiB, keep: 0}\n")
	code, out, _ := runApp(t, ctxT(t), "validate", "-c", cfg)
	if code != 0 || !strings.Contains(out, "rotate=max_bytes:65536") {
		t.Fatalf("validate does not show the rotation:\n%s", out)
	}
	if code, _, errOut := runApp(t, ctxT(t), "-c", cfg, "-once"); code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	rotated, _ := filepath.Glob(filepath.Join(dir, "sophos_events-*.json"))
	if len(rotated) < 2 {
		t.Fatalf("rotated JSON files: %v", rotated)
	}
	ids := map[string]int{}
	for _, f := range append(rotated, filepath.Join(dir, "sophos_events.json")) {
		for id, n := range jsonArrayIDs(t, f) {
			ids[id] += n
		}
	}
	assertExactlyOnce(t, "events json across rotations", ids, groundTruth(emu, "event"))
	txt, _ := filepath.Glob(filepath.Join(dir, "sophos_events-*"))
	ids = map[string]int{}
	for _, f := range append(txt, filepath.Join(dir, "sophos_events")) {
		if strings.HasSuffix(f, ".json") {
			continue
		}
		for id, n := range txtIDs(t, f) {
			ids[id] += n
		}
	}
	assertExactlyOnce(t, "events txt across rotations", ids, groundTruth(emu, "event"))
}
