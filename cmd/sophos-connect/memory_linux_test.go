//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// TestMemoryBoundHostileTenants runs the collector binary against 16 tenants
// that all answer hostile bodies — half a 100 MB string inside one item,
// half a gzip bomb that decompresses to 1 GiB — and measures the process's
// peak RSS (the kernel's ru_maxrss). Every response is read against
// max_page_bytes (32 MiB) and one large body at a time, so the peak stays
// under the in-flight budget plus a constant instead of growing with the
// tenants (3.76 GB and 940 MB before).
func TestMemoryBoundHostileTenants(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	emu := newEmu(t, emulator.Options{Tenants: 16, Partner: true, Events: 5, Alerts: 1,
		Faults: emulator.Faults{HugeItem: 100 << 20, GzipBomb: 1 << 30}})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "")
	start := time.Now()
	cmd := exec.Command(bin, "-c", cfg, "-once", "-timeout", "3m")
	var outBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outBuf, &outBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The child's own high-water mark (VmHWM of its mm, which exec made
	// new), polled until it exits. Not rusage's ru_maxrss: Linux carries
	// the pre-exec mm's peak into it, and os/exec's vfork shares the test
	// binary's memory until exec, so it measured this test process (230 MiB
	// after a few hundred tests) instead of the collector.
	var peak int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		cmd.Wait()
	}()
	for polling := true; polling; {
		select {
		case <-done:
			polling = false
		case <-time.After(20 * time.Millisecond):
		}
		if hwm := vmHWM(cmd.Process.Pid); hwm > peak {
			peak = hwm
		}
	}
	out := outBuf.Bytes()
	code := cmd.ProcessState.ExitCode()
	if peak == 0 {
		t.Fatal("could not read the collector's VmHWM from /proc")
	}
	t.Logf("exit %d after %s, peak RSS %d MiB", code, time.Since(start).Round(time.Millisecond), peak>>20)
	if code != exitRuntime || !strings.Contains(string(out), "max_page_bytes") {
		t.Fatalf("exit %d, want 1 with the partitions failed naming max_page_bytes:\n%.3000s", code, out)
	}
	// Budget: 16 MiB of pages in flight + one 32 MiB body read (twice while
	// its buffer grows) + the runtime and binary (~50 MiB, see Performance).
	const bound = 16<<20 + 2*32<<20 + 80<<20
	if peak > bound {
		t.Fatalf("peak RSS %d MiB with 16 hostile tenants, want ≤ %d MiB", peak>>20, bound>>20)
	}
}

// vmHWM is a live process's peak resident set (bytes), 0 once it is gone.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
