package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// TestStateDirLockedSecondCommandExits2: while a collector runs on a
// state_dir, every other command that writes there exits 2 at once naming
// the holder; once it stopped they work.
func TestStateDirLockedSecondCommandExits2(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 50, Alerts: 5})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "pull_time: 1h\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { code, _, _ := runApp(t, ctx, "-c", cfg); done <- code }()
	holder := filepath.Join(dir, "state", "lock.holder")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(holder); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the collector never took the state_dir lock")
		}
	}
	for _, args := range [][]string{{"-once"}, {"replay", "dlq"}, {"state", "reset"}, {}} {
		start := time.Now()
		code, _, stderr := runApp(t, ctxT(t), append([]string{"-c", cfg}, args...)...)
		if code != exitUsage || !strings.Contains(stderr, "is in use by pid ") || !strings.Contains(stderr, "(sophos-connect run") {
			t.Fatalf("%v while a collector runs: exit %d: %s", args, code, stderr)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%v took %s to give up: it must exit at once", args, d)
		}
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("the first collector exited %d", code)
	}
	if code, _, stderr := runApp(t, ctxT(t), "-c", cfg, "state", "reset"); code != exitOK {
		t.Fatalf("state reset after the collector stopped: %d %s", code, stderr)
	}
}
