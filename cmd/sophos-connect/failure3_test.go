package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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

// TestValidateHidesURLCredentials: validate (and the config errors) never
// print a URL's credential query value (a HEC ?token=) or the password of a
// user:pass@host address, in any sink.
func TestValidateHidesURLCredentials(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 1, Alerts: 1})
	dir := t.TempDir()
	const tok, pass, hpass = "QUERYTOK3N-4f1d2e9a", "brokerPassw0rd-77", "httpUserPa55-x9"
	cfg := writeConfig(t, dir, emu, "txt_file_creation: false\njson_file_creation: false\nsinks:\n"+
		"  - name: hec\n    type: splunk_hec\n    url: https://hec.example:8088/services/collector?token="+tok+"\n    token: 0123456789abcdef\n"+
		"  - name: web\n    type: http\n    url: https://ops:"+hpass+"@web.example/ingest?api_key="+tok+"x\n")
	code, out, errOut := runApp(t, ctxT(t), "validate", "-c", cfg)
	for _, s := range []string{tok, hpass} {
		if strings.Contains(out+errOut, s) {
			t.Fatalf("validate (exit %d) printed %q:\n%s\n%s", code, s, out, errOut)
		}
	}
	// A broker written as user:pass@host is a config error that names it.
	cfg = writeConfig(t, t.TempDir(), emu, "txt_file_creation: false\njson_file_creation: false\nsinks:\n"+
		"  - name: k\n    type: kafka\n    brokers: [\"alice:"+pass+"@kafka.example:9092\"]\n    topic: t\n")
	code, out, errOut = runApp(t, ctxT(t), "validate", "-c", cfg)
	if strings.Contains(out+errOut, pass) {
		t.Fatalf("validate (exit %d) echoed the broker password:\n%s\n%s", code, out, errOut)
	}
}

// TestOnceFailsAtOnceOnADamagedSeedFile: the seed's events JSON file is not
// an array as the tool writes it. It is refused (never overwritten), and a
// -once run exits 2 at once naming it instead of waiting out -timeout.
func TestOnceFailsAtOnceOnADamagedSeedFile(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 5, Alerts: 1})
	dir := t.TempDir()
	damaged := []byte(`{"not": "an array"}`)
	path := filepath.Join(dir, "sophos_events.json")
	if err := os.WriteFile(path, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, emu, "")
	start := time.Now()
	code, _, errOut := runApp(t, ctxT(t), "-c", cfg, "-once", "-timeout", "40s")
	if took := time.Since(start); code != exitUsage || took > 20*time.Second || !strings.Contains(errOut, "sophos_events.json") {
		t.Fatalf("exit %d after %s, want 2 at once naming the file:\n%s", code, took.Round(time.Millisecond), errOut)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, damaged) {
		t.Fatal("the damaged file was changed")
	}
}
