package main

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestServiceSpec(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte("sinks: []\n"), 0o600)
	t.Chdir(dir)
	spec, err := newServiceSpec(`C:\bin\sophos-connect.exe`, "c.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	// The service manager starts in System32: the config must be absolute.
	if spec.Name != "sophos-connect" || !reflect.DeepEqual(spec.Args, []string{serviceMarker, "-c", cfg}) || !strings.Contains(spec.Description, cfg) {
		t.Fatalf("spec: %+v", spec)
	}
	if _, err := newServiceSpec("x", filepath.Join(dir, "missing.yaml"), "n"); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing config: %v", err)
	}
	if _, err := newServiceSpec("x", "", "n"); err == nil || !strings.Contains(err.Error(), `sophos-connect\sophos-connect.yaml`) {
		t.Fatalf("no config: %v", err)
	}
}

// TestServiceArgs: the marker `service install` registers first is what
// makes the binary run as a service; without it the arguments pass through.
func TestServiceArgs(t *testing.T) {
	if rest, marked := serviceArgs([]string{serviceMarker, "-c", `C:\x.yaml`}); !marked || !reflect.DeepEqual(rest, []string{"-c", `C:\x.yaml`}) {
		t.Fatalf("marked: %v %q", marked, rest)
	}
	for _, args := range [][]string{nil, {"-c", "x.yaml"}, {"-once", serviceMarker}} {
		if rest, marked := serviceArgs(args); marked || !reflect.DeepEqual(rest, args) {
			t.Errorf("%q: marked %v, rest %q", args, marked, rest)
		}
	}
}

func TestServiceLoopStopDrains(t *testing.T) {
	var mu sync.Mutex
	var states []string
	report := func(s string) { mu.Lock(); states = append(states, s); mu.Unlock() }
	stop := make(chan struct{})
	drained := false
	run := func(ctx context.Context) int {
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond) // the pipeline drains and commits
		drained = true
		return 0
	}
	go func() { time.Sleep(20 * time.Millisecond); close(stop) }()
	if code := serviceLoop(run, stop, 5*time.Second, report); code != 0 || !drained {
		t.Fatalf("code %d drained %v", code, drained)
	}
	if !reflect.DeepEqual(states, []string{"running", "stopping"}) {
		t.Fatalf("states %v", states)
	}
}

func TestServiceLoopCollectorEndsFirst(t *testing.T) {
	code := serviceLoop(func(context.Context) int { return 2 }, make(chan struct{}), time.Second, func(string) {})
	if code != 2 {
		t.Fatalf("code %d, want the collector's 2 (a config error)", code)
	}
}

func TestServiceLoopDrainTimeout(t *testing.T) {
	stop := make(chan struct{})
	close(stop)
	block := make(chan struct{})
	defer close(block)
	code := serviceLoop(func(context.Context) int { <-block; return 0 }, stop, 30*time.Millisecond, func(string) {})
	if code != exitRuntime {
		t.Fatalf("code %d, want %d when the drain times out", code, exitRuntime)
	}
}

func TestEventType(t *testing.T) {
	for line, want := range map[string]string{
		"[System Log 01/12/2026 20:00:00] ERROR: sink siem: connection refused": "error",
		"[System Log 01/12/2026 20:00:00] WARN: insecure_skip_verify is on":     "warning",
		"[Events Log 01/12/2026 20:00:00] Pulling Sophos Events":                "info",
	} {
		if got := eventType(line); got != want {
			t.Errorf("%q → %s, want %s", line, got, want)
		}
	}
}

func TestServiceCommandOffWindows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("on Windows the command talks to the real service manager")
	}
	code, _, errOut := runApp(t, ctxT(t), "service", "start")
	if code != exitRuntime || !strings.Contains(errOut, "systemd") {
		t.Fatalf("service start on %s: %d %s", runtime.GOOS, code, errOut)
	}
	if code, _, _ := runApp(t, ctxT(t), "service"); code != exitUsage {
		t.Fatalf("service without an action: %d", code)
	}
}
