package winservice

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"
)

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
	if code := Loop(run, stop, 5*time.Second, 1, report); code != 0 || !drained {
		t.Fatalf("code %d drained %v", code, drained)
	}
	if !reflect.DeepEqual(states, []string{"running", "stopping"}) {
		t.Fatalf("states %v", states)
	}
}

func TestServiceLoopCollectorEndsFirst(t *testing.T) {
	code := Loop(func(context.Context) int { return 2 }, make(chan struct{}), time.Second, 1, func(string) {})
	if code != 2 {
		t.Fatalf("code %d, want the collector's 2 (a config error)", code)
	}
}

func TestServiceLoopDrainTimeout(t *testing.T) {
	stop := make(chan struct{})
	close(stop)
	block := make(chan struct{})
	defer close(block)
	code := Loop(func(context.Context) int { <-block; return 0 }, stop, 30*time.Millisecond, 1, func(string) {})
	if code != 1 {
		t.Fatalf("code %d, want the timeout code 1 when the drain times out", code)
	}
}

func TestEventType(t *testing.T) {
	for line, want := range map[string]string{
		"[System Log 01/12/2026 20:00:00] ERROR: sink siem: connection refused": "error",
		"[System Log 01/12/2026 20:00:00] WARN: insecure_skip_verify is on":     "warning",
		"[Events Log 01/12/2026 20:00:00] Pulling Sophos Events":                "info",
	} {
		if got := EventType(line); got != want {
			t.Errorf("%q → %s, want %s", line, got, want)
		}
	}
}

// TestArgs: the marker `service install` registers first is what makes the
// binary run as a service (wine gives no session-0 parent to guess from);
// without it the arguments pass through.
func TestArgs(t *testing.T) {
	if rest, marked := Args([]string{Marker, "-c", `C:\x.yaml`}); !marked || !reflect.DeepEqual(rest, []string{"-c", `C:\x.yaml`}) {
		t.Fatalf("marked: %v %q", marked, rest)
	}
	for _, args := range [][]string{nil, {"-c", "x.yaml"}, {"-once", Marker}} {
		if rest, marked := Args(args); marked || !reflect.DeepEqual(rest, args) {
			t.Errorf("%q: marked %v, rest %q", args, marked, rest)
		}
	}
}
