package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/seed"
	"github.com/sophos-connect/sophos-connect/sinks/elasticsearch/elasticsearchtest"
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
	// Wait until the first pass committed: the collector is up and idle.
	committed := filepath.Join(dir, "state", "checkpoints.json")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(committed); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the collector never committed its first pass")
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

// TestOnceCursorFaultFailsOnlyThatPartition: one tenant's events stream
// answers with its own cursor and has_more forever. -once ends (exit 1)
// naming that partition; the other tenant is delivered completely; the
// faulty partition keeps its last good cursor and resumes once fixed.
func TestOnceCursorFaultFailsOnlyThatPartition(t *testing.T) {
	emu := newEmu(t, emulator.Options{Tenants: 2, Partner: true, Events: 2500, Alerts: 20,
		Faults: emulator.Faults{SameCursor: true, Tenant: "2"}})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "txt_file_creation: false\n")
	code, _, stderr := runApp(t, ctxT(t), "-c", cfg, "-once")
	bad := emu.TenantIDs()[1]
	if code != exitRuntime || !strings.Contains(stderr, "1 partition(s) could not be pulled completely") || !strings.Contains(stderr, bad+") events") {
		t.Fatalf("exit %d, want 1 naming tenant 2's events: %s", code, stderr)
	}
	got := jsonArrayIDs(t, filepath.Join(dir, "sophos_events.json"))
	good := emu.TenantIDs()[0]
	for _, id := range emu.AllIDs(good, "event") {
		if got[id] != 1 {
			t.Fatalf("healthy tenant's event %s delivered %d times", id, got[id])
		}
	}
	n := 0
	for _, id := range emu.AllIDs(bad, "event") {
		n += got[id]
	}
	if n != 1000 {
		t.Fatalf("faulty tenant: %d events delivered, want the first page (1000) only", n)
	}
}

// TestMalformedItemsAreDeadLetteredTheRestDelivered: a fraction of the API's
// items lose their id. Each goes to the dead-letter file with its raw bytes;
// every other item is delivered once, the run completes with exit 3.
func TestMalformedItemsAreDeadLetteredTheRestDelivered(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 800, Alerts: 30, Faults: emulator.Faults{MissingID: 0.1}})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "txt_file_creation: false\n")
	code, _, stderr := runApp(t, ctxT(t), "-c", cfg, "-once")
	if code != exitIncomplete || !strings.Contains(stderr, "dead-lettered") {
		t.Fatalf("exit %d, want 3: %s", code, stderr)
	}
	dead := map[string]int{}
	if err := pipelineReadDLQ(filepath.Join(dir, "state"), func(stream, reason string, record []byte) {
		if !strings.Contains(reason, "item has no id") || !strings.Contains(string(record), `"type":`) {
			t.Fatalf("entry %s %q %s", stream, reason, record)
		}
		dead[stream]++
	}); err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{"event", "alert"} {
		got := jsonArrayIDs(t, filepath.Join(dir, "sophos_"+st+"s.json"))
		all := groundTruth(emu, st)
		delivered := 0
		for id := range all {
			if got[id] > 1 {
				t.Fatalf("%s delivered %d times", id, got[id])
			}
			delivered += got[id]
		}
		if dead[st] == 0 || delivered+dead[st] != len(all) {
			t.Fatalf("%ss: %d delivered + %d dead-lettered != %d served", st, delivered, dead[st], len(all))
		}
	}
}

func pipelineReadDLQ(state string, fn func(stream, reason string, record []byte)) error {
	return pipeline.ReadDeadLetters(filepath.Join(state, pipeline.DeadLetterName), func(e pipeline.DeadLetterEntry) error {
		fn(string(e.Stream), e.Reason, e.Record)
		return nil
	})
}

// TestInsecureSkipVerifyIsWarned: validate prints a WARNING line and a run
// logs a WARN at start for every insecure_skip_verify: true.
func TestInsecureSkipVerifyIsWarned(t *testing.T) {
	es := elasticsearchtest.New(elasticsearchtest.Options{})
	defer es.Close()
	emu := newEmu(t, emulator.Options{Events: 5, Alerts: 1})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "log_level: INFO\ntxt_file_creation: false\njson_file_creation: false\nsinks:\n  - name: search\n    type: elasticsearch\n    addresses: ["+es.URL+"]\n    tls: {insecure_skip_verify: true}\n")
	code, out, stderr := runApp(t, ctxT(t), "validate", "-c", cfg)
	if code != 0 || !strings.Contains(out, "WARNING: sinks[0].tls.insecure_skip_verify (line ") {
		t.Fatalf("validate: %d\n%s%s", code, out, stderr)
	}
	code, _, stderr = runApp(t, ctxT(t), "-c", cfg, "-once", "-since", "1h")
	if code != 0 || !strings.Contains(stderr, "WARNING: sinks[0].tls.insecure_skip_verify (line ") {
		t.Fatalf("run: %d\n%s", code, stderr)
	}
}

// TestLogLinesCannotBeForged: CR, LF, ESC, BEL and other controls from the
// API are escaped in the log file and on stderr, so one call is one line.
func TestLogLinesCannotBeForged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.log")
	var stderr strings.Builder
	log, closeLog, err := seed.NewLogger("INFO", path, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	log.Error("dead-lettered event x\r\n[System Log 01/01/2026 00:00:00] forged\x1b[2J\x07\x00\u0085 end", "id", "a\nb")
	closeLog()
	b, _ := os.ReadFile(path)
	for _, out := range []string{string(b), stderr.String()} {
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		last := lines[len(lines)-1]
		if !strings.HasSuffix(last, `event x\r\n[System Log 01/01/2026 00:00:00] forged\x1b[2J\x07\x00\x85 end id=a\nb`) {
			t.Fatalf("log line not escaped: %q", out)
		}
		for _, c := range "\r\x1b\x07\x00\u0085" {
			if strings.ContainsRune(out, c) {
				t.Fatalf("raw control %U in the log: %q", c, out)
			}
		}
	}
}

// TestOutputFileMode: output files are created 0640 by default; file_mode
// changes it for the seed's files and for txt/json sinks without their own.
func TestOutputFileMode(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 20, Alerts: 2})
	for _, tc := range []struct {
		extra string
		want  os.FileMode
	}{{"", 0o640}, {"file_mode: \"0600\"\n", 0o600}} {
		dir := t.TempDir()
		lines := filepath.Join(dir, "lines.ndjson")
		cfg := writeConfig(t, dir, emu, tc.extra+"sinks:\n  - {name: lines, type: json, layout: lines, path: "+lines+"}\n")
		if code, _, stderr := runApp(t, ctxT(t), "-c", cfg, "-once"); code != 0 {
			t.Fatal(stderr)
		}
		for _, f := range []string{"sophos_events", "sophos_alerts.json", "lines.ndjson", "Sophos_log.log"} {
			st, err := os.Stat(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != tc.want {
				t.Fatalf("%q: %s has mode %o, want %o", tc.extra, f, st.Mode().Perm(), tc.want)
			}
		}
	}
}

// TestEchoedSecretNeverLogged: a token endpoint that echoes the request
// body (with the secret URL-encoded) in its 401: neither stderr nor the log
// file holds the secret in any form.
func TestEchoedSecretNeverLogged(t *testing.T) {
	secret := `s3cr+t/&=é"x`
	emu := newEmu(t, emulator.Options{ClientID: testClientID, ClientSecret: secret, Faults: emulator.Faults{EchoToken: true}})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "log_level: VERBOSE\n")
	b, _ := os.ReadFile(cfg)
	nb := strings.Replace(string(b), "client_secret: "+testClientSecret, "client_secret: '"+secret+"'", 1)
	if !strings.Contains(nb, secret) {
		t.Fatal("the test secret is not in the config")
	}
	os.WriteFile(cfg, []byte(nb), 0o600)
	code, stdout, stderr := runApp(t, ctxT(t), "-c", cfg, "-once")
	// Refused credentials are a configuration error (exit 2, issue 27).
	if code != exitUsage || !strings.Contains(stderr, "[redacted]") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	logFile, _ := os.ReadFile(filepath.Join(dir, "Sophos_log.log"))
	j, _ := json.Marshal(secret)
	for _, text := range []string{stdout, stderr, string(logFile)} {
		for _, f := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret), string(j[1 : len(j)-1])} {
			if strings.Contains(text, f) {
				t.Fatalf("secret leaked as %q: %s", f, text)
			}
		}
	}
}

// TestReadyzRedWhileCommitsFail: a checkpoint file that cannot be replaced
// (here a directory in its place) turns /readyz red with the cause; once
// the state dir is fixed it is ready again.
func TestReadyzRedWhileCommitsFail(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	emu := newEmu(t, emulator.Options{Events: 30, Alerts: 3})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "pull_time: 1\nmetrics_addr: "+addr+"\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { code, _, _ := runApp(t, ctx, "-c", cfg); done <- code }()
	readyz := func() (int, string) {
		res, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("timed out waiting for " + what)
			}
		}
	}
	cp := filepath.Join(dir, "state", "checkpoints.json")
	waitUntil("the first commit", func() bool { _, err := os.Stat(cp); return err == nil })
	waitUntil("ready", func() bool { code, _ := readyz(); return code == 200 })
	os.Remove(cp)
	os.MkdirAll(filepath.Join(cp, "x"), 0o700)
	emu.AddItems(emu.TenantIDs()[0], "event", 5)
	waitUntil("/readyz red", func() bool {
		code, body := readyz()
		return code == 503 && strings.Contains(body, "checkpoints cannot be committed")
	})
	os.RemoveAll(cp)
	waitUntil("ready again", func() bool { code, _ := readyz(); return code == 200 })
	cancel()
	<-done
}

// TestForeignTenantHostRefused: one tenant's apiHost points at another host
// over plain http. That tenant is refused with an ERROR naming the host, no
// request carrying the token reaches it, the other tenants are delivered,
// and -once exits 1 naming the refused tenant.
func TestForeignTenantHostRefused(t *testing.T) {
	emu := newEmu(t, emulator.Options{Tenants: 2, Partner: true, Events: 40, Alerts: 4,
		Faults: emulator.Faults{ForeignHost: true, Tenant: "2"}})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "txt_file_creation: false\n")
	code, _, stderr := runApp(t, ctxT(t), "-c", cfg, "-once")
	bad := emu.TenantIDs()[1]
	if code != exitRuntime || !strings.Contains(stderr, "refusing tenant "+bad) || !strings.Contains(stderr, "http://localhost:") {
		t.Fatalf("exit %d, want 1 with an ERROR naming tenant 2 and its host: %s", code, stderr)
	}
	if n := emu.ForeignRequests(); n != 0 {
		t.Fatalf("%d request(s) carried the bearer token to the foreign host", n)
	}
	got := jsonArrayIDs(t, filepath.Join(dir, "sophos_events.json"))
	for _, id := range emu.AllIDs(emu.TenantIDs()[0], "event") {
		if got[id] != 1 {
			t.Fatalf("healthy tenant's event %s delivered %d times", id, got[id])
		}
	}
}
