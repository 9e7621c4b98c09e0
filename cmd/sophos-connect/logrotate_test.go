package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// needTool finds a Debian tool; without it the test skips on a developer
// machine but fails under CI (.ci/deploy-tools.sh installs it).
func needTool(t *testing.T, name string, paths ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := name + " not found: install it (apt-get install " + name + ")"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// seedFiles are the files examples/logrotate*.conf rotate.
var seedFiles = []string{"sophos_alerts", "sophos_events", "sophos_alerts.json", "sophos_events.json", "Sophos_log.log"}

// logrotateConf turns an example into a test config: dir instead of
// /var/log/sophos-connect, no owner on create, kill -HUP pid for systemctl.
func logrotateConf(t *testing.T, example, dir string, pid int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", example))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(b), "/var/log/sophos-connect", dir)
	s = regexp.MustCompile(`create 0640 \S+ \S+`).ReplaceAllString(s, "create 0640")
	s = regexp.MustCompile(`systemctl reload sophos-connect.service[^\n]*`).ReplaceAllString(s, fmt.Sprintf("kill -HUP %d", pid))
	if (strings.Contains(s, "postrotate") && !strings.Contains(s, fmt.Sprintf("kill -HUP %d", pid))) || !strings.Contains(s, dir) {
		t.Fatalf("the example changed shape; update this test:\n%s", s)
	}
	p := filepath.Join(t.TempDir(), "logrotate.conf")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// rotatedSet reads a file and its rotations (name.1, name.2.gz, ...): each
// is checked (no NUL byte; JSON arrays parse) and its ids counted.
func rotatedSet(t *testing.T, dir, name string) (ids map[string]int, files int) {
	t.Helper()
	ids = map[string]int{}
	matches, _ := filepath.Glob(filepath.Join(dir, name+".*"))
	all := []string{filepath.Join(dir, name)}
	for _, m := range matches {
		if regexp.MustCompile(`\.\d+(\.gz)?$`).MatchString(m) && !strings.HasSuffix(m, ".json") {
			all = append(all, m)
		}
	}
	for _, f := range all {
		b, err := os.ReadFile(f)
		if os.IsNotExist(err) && len(all) == 1 {
			return ids, 0 // not written yet
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if b, err = io.ReadAll(zr); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
		}
		if bytes.IndexByte(b, 0) >= 0 {
			t.Fatalf("%s holds NUL bytes", f)
		}
		if strings.Contains(name, ".json") && len(b) == 0 {
			continue // truncated by copytruncate, not written since (or just created)
		}
		if strings.Contains(name, ".json") {
			var items []struct{ ID string }
			if err := json.Unmarshal(b, &items); err != nil {
				t.Fatalf("%s is not a JSON array: %v\n%.300s", f, err, b)
			}
			for _, it := range items {
				ids[it.ID]++
			}
		} else {
			for _, m := range txtIDRE.FindAllStringSubmatch(string(b), -1) {
				ids[m[1]]++
			}
		}
	}
	return ids, len(all)
}

// startBinary runs the collector binary; stop sends SIGTERM and waits (a
// cleanup kills it if the test ends first).
func startBinary(t *testing.T, bin string, args ...string) (*exec.Cmd, *syncBuf, func() error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stderr := &syncBuf{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	var err error
	stop := func(sig os.Signal) error {
		once.Do(func() {
			cmd.Process.Signal(sig)
			select {
			case err = <-exited:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				err = fmt.Errorf("did not stop within 60s of %v", sig)
				<-exited
			}
		})
		return err
	}
	t.Cleanup(func() { stop(os.Kill) })
	return cmd, stderr, func() error { return stop(syscall.SIGTERM) }
}

// runLogrotate runs Debian's logrotate on conf, forced (as cron's daily
// run would be when due), with its own state file.
func runLogrotate(t *testing.T, bin, conf string) {
	t.Helper()
	state := filepath.Join(filepath.Dir(conf), "state")
	out, err := exec.Command(bin, "-f", "-s", state, conf).CombinedOutput()
	if err != nil {
		t.Fatalf("logrotate: %v\n%s", err, out)
	}
}

// TestLogrotateCreateAndHUP: the collector runs continuously while items
// keep arriving, and Debian's logrotate rotates its files three times with
// examples/logrotate.conf (create, compress, delaycompress, postrotate
// SIGHUP). Every id is then in exactly one file, every JSON file is a
// JSON array, and the log file goes on in the new file.
func TestLogrotateCreateAndHUP(t *testing.T) {
	lr := needTool(t, "logrotate", "/usr/sbin/logrotate", "/sbin/logrotate")
	bin := buildBinary(t)
	emu := newEmu(t, emulator.Options{Seed: 12, Tenants: 2, Partner: true, Events: 300, Alerts: 30})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "log_level: INFO\npull_time: 1\n")
	cmd, stderr, stop := startBinary(t, bin, "-c", cfg)
	conf := logrotateConf(t, "logrotate.conf", dir, cmd.Process.Pid)

	// Items keep arriving in both tenants the whole time.
	stopAdding := make(chan struct{})
	var adding sync.WaitGroup
	adding.Add(1)
	go func() {
		defer adding.Done()
		tk := time.NewTicker(30 * time.Millisecond)
		defer tk.Stop()
		for i := 0; ; i++ {
			select {
			case <-stopAdding:
				return
			case <-tk.C:
				tid := emu.TenantIDs()[i%2]
				emu.AddItems(tid, "event", 7)
				if i%5 == 0 {
					emu.AddItems(tid, "alert", 1)
				}
			}
		}
	}()
	eventually(t, "the first pass", stderr, func() bool { return countTxt(t, filepath.Join(dir, "sophos_events")) > 0 })
	for round := 0; round < 3; round++ {
		runLogrotate(t, lr, conf)
		time.Sleep(1300 * time.Millisecond) // a pass or more between rotations
	}
	close(stopAdding)
	adding.Wait()
	events, alerts := groundTruth(emu, "event"), groundTruth(emu, "alert")
	eventually(t, "every item delivered", stderr, func() bool {
		ids, _ := rotatedSet(t, dir, "sophos_events.json")
		return len(ids) >= len(events)
	})
	time.Sleep(1200 * time.Millisecond) // one more pass: nothing new may appear
	if err := stop(); err != nil {
		t.Fatalf("collector: %v\n%s", err, stderr.String())
	}
	for _, f := range []struct {
		name string
		want map[string]bool
	}{{"sophos_events", events}, {"sophos_events.json", events}, {"sophos_alerts", alerts}, {"sophos_alerts.json", alerts}} {
		ids, n := rotatedSet(t, dir, f.name)
		if n < 3 {
			t.Errorf("%s: only %d files: logrotate did not rotate it", f.name, n)
		}
		assertExactlyOnce(t, f.name+" and its rotations", ids, f.want)
	}
	if strings.Count(stderr.String(), "SIGHUP: reopened") < 3 {
		t.Errorf("want 3 SIGHUPs handled:\n%s", stderr.String())
	}
	cur, _ := os.ReadFile(filepath.Join(dir, "Sophos_log.log"))
	if !strings.Contains(string(cur), "SIGHUP: reopened") {
		t.Errorf("the log file was not reopened after rotation:\n%s", cur)
	}
}

// TestLogrotateCopytruncate: examples/logrotate-copytruncate.conf (no
// signal) three times; items arrive between rotations. The collector sees
// each truncation before its next write: the text goes on at byte 0, the
// JSON array starts again with "[", and every id is in exactly one file.
// (Records written during logrotate's copy would be lost — logrotate(8)
// documents that window — so this test rotates between passes.)
func TestLogrotateCopytruncate(t *testing.T) {
	lr := needTool(t, "logrotate", "/usr/sbin/logrotate", "/sbin/logrotate")
	bin := buildBinary(t)
	emu := newEmu(t, emulator.Options{Seed: 13, Tenants: 2, Partner: true, Events: 300, Alerts: 30})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "log_level: INFO\npull_time: 1\n")
	cmd, stderr, stop := startBinary(t, bin, "-c", cfg)
	conf := logrotateConf(t, "logrotate-copytruncate.conf", dir, cmd.Process.Pid)
	delivered := func() bool {
		ev, _ := rotatedSet(t, dir, "sophos_events.json")
		al, _ := rotatedSet(t, dir, "sophos_alerts")
		return len(ev) == len(groundTruth(emu, "event")) && len(al) == len(groundTruth(emu, "alert"))
	}
	for round := 0; round < 3; round++ {
		eventually(t, "delivery before rotation", stderr, delivered)
		runLogrotate(t, lr, conf)
		for i, tid := range emu.TenantIDs() {
			emu.AddItems(tid, "event", 40+i)
			emu.AddItems(tid, "alert", 3)
		}
	}
	eventually(t, "delivery after the last rotation", stderr, delivered)
	if err := stop(); err != nil {
		t.Fatalf("collector: %v\n%s", err, stderr.String())
	}
	events, alerts := groundTruth(emu, "event"), groundTruth(emu, "alert")
	for _, f := range []struct {
		name string
		want map[string]bool
	}{{"sophos_events", events}, {"sophos_events.json", events}, {"sophos_alerts", alerts}, {"sophos_alerts.json", alerts}} {
		ids, n := rotatedSet(t, dir, f.name)
		if n < 4 {
			t.Errorf("%s: only %d files", f.name, n)
		}
		assertExactlyOnce(t, f.name+" and its rotations", ids, f.want)
	}
	if !strings.Contains(stderr.String(), "was truncated (copytruncate?)") {
		t.Errorf("no truncation noticed:\n%s", stderr.String())
	}
}

// TestLogrotateCoversEveryExampleFile: both shipped logrotate files rotate
// every file the examples write in the logs directory — the seed's txt
// files, the log, and any sink's .log, .txt, .json and .ndjson file (the SOC
// example's cef.log, the MSP example's archive.ndjson) — and nothing else.
func TestLogrotateCoversEveryExampleFile(t *testing.T) {
	bin := needTool(t, "logrotate", "/usr/sbin/logrotate")
	for _, example := range []string{"logrotate.conf", "logrotate-copytruncate.conf"} {
		t.Run(example, func(t *testing.T) {
			dir := t.TempDir()
			sleeper := exec.Command("sleep", "60")
			if err := sleeper.Start(); err != nil {
				t.Fatal(err)
			}
			defer sleeper.Process.Kill()
			want := []string{"sophos_alerts", "sophos_events", "Sophos_log.log", "cef.log", "sophos_events.json", "archive.ndjson", "alerts.txt"}
			for _, n := range append(want, "notes.dat") {
				os.WriteFile(filepath.Join(dir, n), []byte("x\n"), 0o640)
			}
			conf := logrotateConf(t, example, dir, sleeper.Process.Pid)
			out, err := exec.Command(bin, "-f", "-s", filepath.Join(t.TempDir(), "status"), conf).CombinedOutput()
			if err != nil {
				t.Fatalf("logrotate: %v\n%s", err, out)
			}
			rotated := func(n string) bool {
				_, err1 := os.Stat(filepath.Join(dir, n+".1"))
				_, err2 := os.Stat(filepath.Join(dir, n+".1.gz")) // no delaycompress
				return err1 == nil || err2 == nil
			}
			for _, n := range want {
				if !rotated(n) {
					t.Errorf("%s was not rotated", n)
				}
			}
			if rotated("notes.dat") {
				t.Error("a file no example writes was rotated")
			}
		})
	}
}
