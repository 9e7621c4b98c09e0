package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// TestHealthzLiveFromTheFirstSecond: while authentication hangs (a slow
// token endpoint), /healthz already answers 200 and /readyz 503, so a
// container probe does not restart a collector that is starting.
func TestHealthzLiveFromTheFirstSecond(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 5, Alerts: 1, Faults: emulator.Faults{Slow: 4 * time.Second}})
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeConfig(t, dir, emu, "metrics_addr: "+addr+"\n")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); runApp(t, ctx, "-c", cfg) }()
	defer func() { cancel(); <-done }()
	get := func(path string) int {
		res, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	deadline := time.Now().Add(1500 * time.Millisecond)
	for get("/healthz") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("/healthz does not answer 200 within 1.5 s while authentication is slow")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz %d while still authenticating, want 503", code)
	}
}
