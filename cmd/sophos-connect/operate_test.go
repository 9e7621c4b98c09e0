package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// syncBuf is a bytes.Buffer safe to read while the app writes to it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// startApp runs the collector in-process until the returned stop is called;
// hup (may be nil) plays SIGHUP.
func startApp(t *testing.T, hup chan os.Signal, args ...string) (errOut *syncBuf, wait func() int, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errOut = &syncBuf{}
	a := &app{stdout: &syncBuf{}, stderr: errOut}
	if hup != nil {
		a.hup = hup
	}
	done := make(chan int, 1)
	go func() { done <- a.main(ctx, args) }()
	var once sync.Once
	code := -1
	wait = func() int {
		once.Do(func() {
			select {
			case code = <-done:
			case <-time.After(60 * time.Second):
				t.Errorf("the collector did not stop; log:\n%s", errOut)
			}
		})
		return code
	}
	stop = func() int { cancel(); return wait() }
	t.Cleanup(func() { stop() })
	return errOut, wait, stop
}

func eventually(t *testing.T, what string, log fmt.Stringer, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; log:\n%s", what, log)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// lineReceiver is a TCP syslog receiver (LF framing) that records the id
// of every record it gets.
type lineReceiver struct {
	ln  net.Listener
	mu  sync.Mutex
	ids map[string]int
}

func listenLines(t *testing.T, addr string) *lineReceiver {
	t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port was free a moment ago
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	r := &lineReceiver{ln: ln, ids: map[string]int{}}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				sc.Buffer(make([]byte, 1<<20), 1<<20)
				for sc.Scan() {
					line := sc.Bytes()
					if i := bytes.IndexByte(line, '{'); i >= 0 {
						if k, ok := recordKey(line[i:]); ok {
							r.mu.Lock()
							r.ids[k]++
							r.mu.Unlock()
						}
					}
				}
			}()
		}
	}()
	return r
}

func (r *lineReceiver) got() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.ids))
	for k, v := range r.ids {
		out[k] = v
	}
	return out
}

// streamKeys is the ground truth as "stream/id" keys (an alert and its
// event twin share an id).
func streamKeys(emu *emulator.Server) map[string]bool {
	out := map[string]bool{}
	for _, st := range []string{"event", "alert"} {
		for id := range groundTruth(emu, st) {
			out[st+"/"+id] = true
		}
	}
	return out
}

// countTxt counts the ids of a seed txt file, 0 while it does not exist.
func countTxt(t *testing.T, path string) int {
	if _, err := os.Stat(path); err != nil {
		return 0
	}
	return len(txtIDs(t, path))
}

func syslogSinkYAML(addr string) string {
	return fmt.Sprintf(`sinks:
  - name: siem
    type: syslog
    address: tcp://%s
    framing: lf
    format: raw
    retry: {initial: 50ms, max: 200ms}
`, addr)
}

// TestSinkDownAtStartIsNotFatal: the syslog receiver is not listening when
// the collector starts. Start-up logs an ERROR naming the sink (on stderr
// and in the log file), the seed's files keep receiving, and once the
// receiver listens every record reaches it exactly once.
func TestSinkDownAtStartIsNotFatal(t *testing.T) {
	emu := newEmu(t, emulator.Options{Seed: 8, Tenants: 2, Partner: true, Events: 400, Alerts: 40})
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeConfig(t, dir, emu, syslogSinkYAML(addr))
	maddr := freeAddr(t)
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(b, "metrics_addr: "+maddr+"\n"...), 0o600)
	log, _, stop := startApp(t, nil, "-c", cfg)
	eventually(t, "the start-up ERROR", log, func() bool {
		return strings.Contains(log.String(), "ERROR: sink siem (syslog) failed its start-up check")
	})
	readyz := func() int {
		resp, err := http.Get("http://" + maddr + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	eventually(t, "/readyz to answer", log, func() bool { return readyz() != 0 })
	if code := readyz(); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d while a sink is down at start, want 503", code)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "Sophos_log.log"))
	if !strings.Contains(string(b), "sink siem (syslog) failed its start-up check") {
		t.Errorf("the start-up error is not in the log file:\n%s", b)
	}
	events := groundTruth(emu, "event")
	eventually(t, "the seed's txt file", log, func() bool { return countTxt(t, filepath.Join(dir, "sophos_events")) == len(events) })
	rcv := listenLines(t, addr)
	all := streamKeys(emu)
	eventually(t, "the receiver to get everything", log, func() bool { return len(rcv.got()) == len(all) })
	eventually(t, "/readyz once the sink passed its check", log, func() bool { return readyz() == http.StatusOK })
	if code := stop(); code != 0 {
		t.Fatalf("exit %d\n%s", code, log)
	}
	assertExactlyOnce(t, "syslog receiver", rcv.got(), all)
	assertExactlyOnce(t, "events txt", txtIDs(t, filepath.Join(dir, "sophos_events")), events)
}

// TestRequireHealthyMakesStartupFatal: with -require-healthy the same dead
// receiver stops start-up with the cause.
func TestRequireHealthyMakesStartupFatal(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 10, Alerts: 2})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, syslogSinkYAML(freeAddr(t)))
	code, _, errOut := runApp(t, ctxT(t), "-c", cfg, "-once", "-require-healthy")
	if code != 1 || !strings.Contains(errOut, "sink siem (syslog) failed its start-up check (-require-healthy)") || !strings.Contains(errOut, "connection refused") {
		t.Fatalf("exit %d:\n%s", code, errOut)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "Sophos_log.log"))
	if !strings.Contains(string(b), "-require-healthy") {
		t.Errorf("the fatal start-up error is not in the log file:\n%s", b)
	}
}

// TestOnceTimeout: -once with a receiver that never comes up ends at
// -timeout with exit 1, naming the sink and how many records it lacks;
// the seed's file got everything and nothing is committed for the pages
// the receiver lacks (a later run delivers them).
func TestOnceTimeout(t *testing.T) {
	emu := newEmu(t, emulator.Options{Seed: 9, Events: 300, Alerts: 30})
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeConfig(t, dir, emu, syslogSinkYAML(addr))
	start := time.Now()
	code, _, errOut := runApp(t, ctxT(t), "-c", cfg, "-once", "-timeout", "3s")
	took := time.Since(start)
	if code != 1 || !regexp.MustCompile(`-timeout 3s reached: undelivered — siem: \d+ record\(s\)`).MatchString(errOut) {
		t.Fatalf("exit %d after %s:\n%s", code, took, errOut)
	}
	if took > 6*time.Second {
		t.Fatalf("-timeout 3s took %s", took)
	}
	// The receiver is back: the next run delivers what the first lacked.
	rcv := listenLines(t, addr)
	if code, _, errOut := runApp(t, ctxT(t), "-c", cfg, "-once"); code != 0 {
		t.Fatalf("second run: exit %d\n%s", code, errOut)
	}
	all := streamKeys(emu)
	// The receiver reads asynchronously: the last lines may still be in its socket.
	eventually(t, "the receiver to read what the second run sent", &syncBuf{}, func() bool { return len(rcv.got()) == len(all) })
	assertExactlyOnce(t, "syslog receiver", rcv.got(), all)
}

// TestSIGHUPReload: an invalid config is refused and the old one keeps
// running; a valid change (a new sink) is applied without a restart and
// without losing or repeating a record of the seed's file.
func TestSIGHUPReload(t *testing.T) {
	emu := newEmu(t, emulator.Options{Seed: 10, Events: 300, Alerts: 30})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "log_level: INFO\n")
	good, _ := os.ReadFile(cfg)
	hup := make(chan os.Signal, 1)
	log, _, stop := startApp(t, hup, "-c", cfg)
	tenant := emu.TenantIDs()[0]
	txt := filepath.Join(dir, "sophos_events")
	eventually(t, "the first pass", log, func() bool { return countTxt(t, txt) == len(groundTruth(emu, "event")) })

	// SIGHUP with the file unchanged (logrotate): files reopened, no reload.
	hup <- nil
	eventually(t, "the reopen", log, func() bool { return strings.Contains(log.String(), "SIGHUP: reopened") })

	os.WriteFile(cfg, append(append([]byte{}, good...), "sinkz: []\n"...), 0o600)
	hup <- nil
	eventually(t, "the refusal", log, func() bool {
		return strings.Contains(log.String(), "SIGHUP: the changed config is refused, the running one stays") && strings.Contains(log.String(), "sinkz: unknown key")
	})
	emu.AddItems(tenant, "event", 50)
	eventually(t, "items after the refusal", log, func() bool { return countTxt(t, txt) == len(groundTruth(emu, "event")) })

	extra := filepath.Join(dir, "extra.ndjson")
	os.WriteFile(cfg, append(append([]byte{}, good...), fmt.Sprintf("sinks:\n  - {name: extra, type: json, layout: lines, path: %s}\n", extra)...), 0o600)
	hup <- nil
	eventually(t, "the reload", log, func() bool {
		return strings.Contains(log.String(), "SIGHUP: the config changed")
	})
	emu.AddItems(tenant, "event", 70)
	eventually(t, "items in the new sink", log, func() bool {
		b, _ := os.ReadFile(extra)
		return bytes.Count(b, []byte("\n")) >= 70
	})
	eventually(t, "items in the old sink", log, func() bool { return countTxt(t, txt) == len(groundTruth(emu, "event")) })
	if code := stop(); code != 0 {
		t.Fatalf("exit %d\n%s", code, log)
	}
	assertExactlyOnce(t, "events txt across the reloads", txtIDs(t, txt), groundTruth(emu, "event"))
	if strings.Count(log.String(), "Configurations:") != 2 {
		t.Errorf("want two runs (start + one reload):\n%s", log)
	}
}

// TestDeliveredMetricOncePerRecord: a disk-buffered sink counts each record
// once in sophos_connect_sink_delivered_total (it used to count the
// buffering and the drain), and "N new logs added" counts what was settled.
func TestDeliveredMetricOncePerRecord(t *testing.T) {
	emu := newEmu(t, emulator.Options{Seed: 11, Events: 500, Alerts: 50})
	dir := t.TempDir()
	addr := freeAddr(t)
	out := filepath.Join(dir, "buffered.ndjson")
	cfg := writeConfig(t, dir, emu, fmt.Sprintf("log_level: INFO\nmetrics_addr: %s\npull_time: 1h\ntxt_file_creation: false\njson_file_creation: false\nsinks:\n  - {name: nd, type: json, layout: lines, path: %s, buffer: {type: disk}}\n", addr, out))
	log, _, stop := startApp(t, nil, "-c", cfg)
	total := float64(len(streamKeys(emu)))
	eventually(t, "the buffered sink to drain", log, func() bool {
		b, _ := os.ReadFile(out)
		return float64(bytes.Count(b, []byte("\n"))) == total
	})
	scrapeMetric := func() float64 {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, _ := p.TextToMetricFamilies(resp.Body)
		return sumMetric(fams, "sophos_connect_sink_delivered_total", map[string]string{"sink": "nd"})
	}
	eventually(t, "the metric", log, func() bool { return scrapeMetric() >= total })
	time.Sleep(200 * time.Millisecond)
	if got := scrapeMetric(); got != total {
		t.Fatalf("sink_delivered_total{sink=nd} = %v, want %v (once per record)", got, total)
	}
	stop()
	if !strings.Contains(log.String(), fmt.Sprintf("%d new logs added", int(total))) {
		t.Fatalf("want %d new logs added:\n%s", int(total), log)
	}
}
