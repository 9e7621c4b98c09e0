package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// TestOrphanedDiskBufferIsNeverAbandoned: renaming a sink that has a disk
// buffer used to abandon its records silently (their pages were committed
// when they reached the buffer; exit 0, no word). Now the start fails
// (exit 2) naming the buffer, its record count and the two ways out;
// `buffer list` shows it; `buffer.adopt` delivers every record once
// through the renamed sink (a real rsyslog); `buffer drop` deletes it only
// when confirmed.
func TestOrphanedDiskBufferIsNeverAbandoned(t *testing.T) {
	peer := newRsyslogPeer(t)
	emu := newEmu(t, emulator.Options{Seed: 5, Events: 300, Alerts: 30})
	dir := t.TempDir()
	sinkYAML := func(name, extra string) string {
		return strings.Replace(strings.Replace(peer.sinkYAML(), "name: siem", "name: "+name, 1), "buffer: {type: disk}", "buffer: {type: disk"+extra+"}", 1)
	}
	base := "txt_file_creation: false\njson_file_creation: false\nsinks:\n"
	cfg := writeConfig(t, dir, emu, base+sinkYAML("old-siem", ""))
	ctx := ctxT(t)

	// The receiver is down: every record waits in old-siem's disk buffer.
	peer.down(t)
	if code, _, e := runApp(t, ctx, "-c", cfg, "-once", "-timeout", "20s"); code != exitIncomplete {
		t.Fatalf("run with the receiver down: exit %d, want %d\n%s", code, exitIncomplete, e)
	}
	peer.up(t)

	// Renamed: the start is refused, naming the buffer and the ways out.
	os.WriteFile(cfg, []byte(strings.Replace(mustRead(t, cfg), "name: old-siem", "name: siem", 1)), 0o600)
	code, _, e := runApp(t, ctx, "-c", cfg, "-once")
	if code != exitUsage {
		t.Fatalf("renamed sink: exit %d, want %d\n%s", code, exitUsage, e)
	}
	for _, want := range []string{filepath.Join("buffer", "old-siem") + " holds 330 record(s) of sink \"old-siem\"", "adopt: <old name>", "sophos-connect buffer drop <old name>"} {
		if !strings.Contains(e, want) {
			t.Errorf("error lacks %q:\n%s", want, e)
		}
	}
	if code, out, _ := runApp(t, ctx, "-c", cfg, "buffer", "list"); code != exitRuntime || !strings.Contains(out, "old-siem") || !strings.Contains(out, "330") {
		t.Fatalf("buffer list: exit %d\n%s", code, out)
	}
	if _, out, _ := runApp(t, ctx, "-c", cfg, "status"); !strings.Contains(out, "holds 330 record(s) of sink old-siem, no longer in the config") {
		t.Fatalf("status does not show the orphaned buffer:\n%s", out)
	}
	// Unconfirmed drop (stdin is not a terminal here): nothing deleted.
	if code, _, _ := runApp(t, ctx, "-c", cfg, "buffer", "drop", "old-siem"); code != exitUsage {
		t.Fatalf("unconfirmed drop: exit %d", code)
	}

	// Adopted: every record arrives once through the renamed sink.
	os.WriteFile(cfg, []byte(strings.Replace(mustRead(t, cfg), "buffer: {type: disk}", "buffer: {type: disk, adopt: old-siem}", 1)), 0o600)
	if code, _, e := runApp(t, ctx, "-c", cfg, "-once"); code != 0 {
		t.Fatalf("adopting run: exit %d\n%s", code, e)
	}
	got := peer.received(t)
	want := map[string]bool{}
	for id := range groundTruth(emu, "event") {
		want["event/"+id] = true
	}
	for id := range groundTruth(emu, "alert") {
		want["alert/"+id] = true
	}
	assertExactlyOnce(t, "adopted records", got, want)
	if _, err := os.Stat(filepath.Join(dir, "state", "buffer", "old-siem")); !os.IsNotExist(err) {
		t.Fatalf("the adopted buffer is still there: %v", err)
	}

	// Drop: a confirmed drop deletes an orphan and the start goes on.
	peer.down(t)
	emu.AddItems(emu.TenantIDs()[0], "event", 20)
	os.WriteFile(cfg, []byte(strings.Replace(mustRead(t, cfg), "name: siem", "name: gone", 1)), 0o600)
	runApp(t, ctx, "-c", cfg, "-once", "-timeout", "20s")
	os.WriteFile(cfg, []byte(strings.Replace(mustRead(t, cfg), "name: gone", "name: siem", 1)), 0o600)
	if code, _, _ := runApp(t, ctx, "-c", cfg, "-once"); code != exitUsage {
		t.Fatalf("second orphan: exit %d, want %d", code, exitUsage)
	}
	if code, out, e := runApp(t, ctx, "-c", cfg, "buffer", "drop", "-yes", "gone"); code != 0 || !strings.Contains(out, "20 record(s) deleted") {
		t.Fatalf("buffer drop -yes: exit %d\n%s%s", code, out, e)
	}
	peer.up(t)
	if code, _, e := runApp(t, ctx, "-c", cfg, "-once"); code != 0 {
		t.Fatalf("after the drop: exit %d\n%s", code, e)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
