// Package testcases runs the regression cases in this directory: one folder
// per defect found in the field, run end to end (a fake Sophos Central
// serving the folder's API items → the collector with the folder's config →
// the files and network receivers it writes to). README.md describes the
// folder format; adding a case needs no Go code.
package testcases

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/collector"
	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

// update rewrites each case's expected.* (except expected.error) with what
// the run wrote: go test ./testcases/ -run 'TestCases/<name>' -update
var update = flag.Bool("update", false, "write what each case's run produced into its expected.* files")

// TestCases walks every folder here that holds a config.yaml.
func TestCases(t *testing.T) {
	dirs, err := filepath.Glob("*/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no regression cases found (testcases/<name>/config.yaml)")
	}
	sort.Strings(dirs)
	for _, cfg := range dirs {
		dir := filepath.Dir(cfg)
		t.Run(dir, func(t *testing.T) { runCase(t, dir) })
	}
}

// A case folder: config.yaml, input.jsonl (or dead-letter.ndjson),
// expected.* and a one-line README; tenants.json optional.
func runCase(t *testing.T, dir string) {
	readme, err := os.ReadFile(filepath.Join(dir, "README"))
	if err != nil || len(bytes.TrimSpace(readme)) == 0 || bytes.Count(bytes.TrimSpace(readme), []byte("\n")) > 0 {
		t.Fatalf("%s/README must be one line saying which defect the case pins (%v)", dir, err)
	}
	expected, _ := filepath.Glob(filepath.Join(dir, "expected.*"))
	if len(expected) == 0 {
		t.Fatalf("%s has no expected.* file", dir)
	}
	items := readItems(t, filepath.Join(dir, "input.jsonl"))
	tenants, _ := os.ReadFile(filepath.Join(dir, "tenants.json"))
	fake := newFakeCentral(t, items, tenants)

	work := t.TempDir()
	rx := newReceivers(t)
	cfgPath := writeConfig(t, dir, work, fake.URL, rx)
	c, err := config.Load(cfgPath)
	var runErr error
	if err != nil {
		runErr = err
	} else if dlq, rerr := os.ReadFile(filepath.Join(dir, "dead-letter.ndjson")); rerr == nil {
		os.MkdirAll(c.StateDir, 0o700)
		if err := os.WriteFile(filepath.Join(c.StateDir, pipeline.DeadLetterName), dlq, 0o600); err != nil {
			t.Fatal(err)
		}
		_, runErr = collector.Replay(ctxT(t), c, collector.ReplayOptions{Attempts: 1, Log: slog.New(slog.DiscardHandler)})
	} else if runErr = collector.Check(c, nil); runErr == nil {
		runErr = collector.Run(ctxT(t), c, collector.Options{Once: true, Timeout: 30 * time.Second,
			Since: time.Now().Add(-time.Hour), Log: slog.New(slog.DiscardHandler)})
	}
	rx.settle()

	host, _ := os.Hostname()
	for _, exp := range expected {
		name := strings.TrimPrefix(filepath.Base(exp), "expected.")
		want, _ := os.ReadFile(exp)
		want = bytes.ReplaceAll(want, []byte("${HOSTNAME}"), []byte(host))
		if name == "error" {
			if runErr == nil || !strings.Contains(runErr.Error(), strings.TrimSpace(string(want))) {
				t.Errorf("error: got %v, want one containing %q", runErr, strings.TrimSpace(string(want)))
			}
			continue
		}
		got, ok := rx.output(name)
		if !ok {
			got, err = os.ReadFile(filepath.Join(work, name))
			if err != nil {
				t.Errorf("expected.%s: the run wrote no %s (%v)", name, name, err)
				continue
			}
		}
		if *update {
			if err := os.WriteFile(exp, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if !matches(got, want) {
			t.Errorf("%s differs from expected.%s\n--- got\n%s\n--- want\n%s", name, name, got, want)
		}
	}
	if _, ok := readOptional(filepath.Join(dir, "expected.error")); !ok && runErr != nil {
		t.Errorf("run: %v", runErr)
	}
}

// matches compares got with an expected file in which ${*} stands for any
// run of characters within a line (a send time, say).
func matches(got, want []byte) bool {
	parts := bytes.Split(want, []byte("${*}"))
	if len(parts) == 1 {
		return bytes.Equal(got, want)
	}
	var re strings.Builder
	re.WriteString(`\A`)
	for i, p := range parts {
		if i > 0 {
			re.WriteString(`[^\n]*?`)
		}
		re.WriteString(regexp.QuoteMeta(string(p)))
	}
	re.WriteString(`\z`)
	return regexp.MustCompile(re.String()).Match(got)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func readOptional(path string) ([]byte, bool) {
	b, err := os.ReadFile(path)
	return b, err == nil
}

// readItems reads input.jsonl: one API item per line (blank lines skipped).
func readItems(t *testing.T, path string) []json.RawMessage {
	b, ok := readOptional(path)
	if !ok {
		return nil
	}
	var out []json.RawMessage
	for i, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if !json.Valid(line) {
			t.Fatalf("%s:%d: not a JSON value", path, i+1)
		}
		out = append(out, json.RawMessage(line))
	}
	return out
}

// writeConfig writes the case's config.yaml into work with ${UDP}, ${TCP}
// and ${HTTP} replaced by the receivers' addresses, after a sophos: block
// pointing at the fake and the defaults a case did not set.
func writeConfig(t *testing.T, dir, work, url string, rx *receivers) string {
	b, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	y := rx.expand(string(b))
	head := fmt.Sprintf("sophos:\n  client_id: testcase-id\n  client_secret: testcase-secret\n  auth_url: %s/api/v2/oauth2/token\n  api_host: %s\n", url, url)
	for _, kv := range [][2]string{
		{"save_file_location", work}, {"state_dir", filepath.Join(work, "state")}, {"log_level", "ERROR"},
		{"txt_file_creation", "false"}, {"json_file_creation", "false"},
	} {
		if !regexp.MustCompile(`(?m)^` + kv[0] + `:`).MatchString(y) {
			head += kv[0] + ": " + kv[1] + "\n"
		}
	}
	p := filepath.Join(work, "sophos-connect.yaml")
	if err := os.WriteFile(p, []byte(head+y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// fakeCentral is the smallest Sophos Central that serves a case: a token,
// whoami (tenant credentials, or partner ones when tenants.json is given),
// the tenant listing, and one page of items per stream honouring
// exclude_types (a second call, with the cursor, gets an empty page).
type fakeCentral struct{ *httptest.Server }

func newFakeCentral(t *testing.T, items []json.RawMessage, tenants []byte) *fakeCentral {
	f := &fakeCentral{}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v2/oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"access_token":"testcase-token","token_type":"bearer","expires_in":3600}`)
	})
	mux.HandleFunc("/whoami/v1", func(w http.ResponseWriter, r *http.Request) {
		if len(tenants) > 0 {
			fmt.Fprintf(w, `{"id":"partner-1","idType":"partner","apiHosts":{"global":%q}}`, f.URL)
			return
		}
		fmt.Fprintf(w, `{"id":"tenant-1","idType":"tenant","apiHosts":{"global":%q,"dataRegion":%q}}`, f.URL, f.URL)
	})
	mux.HandleFunc("/partner/v1/tenants", func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.ReplaceAll(tenants, []byte("${URL}"), []byte(f.URL)))
	})
	page := func(w http.ResponseWriter, r *http.Request) {
		cursor := base64.StdEncoding.EncodeToString([]byte("V2_CURSOR|" + time.Now().UTC().Format(time.RFC3339Nano)))
		var out []json.RawMessage
		if r.URL.Query().Get("cursor") == "" {
			excluded := map[string]bool{}
			for _, x := range strings.Split(r.URL.Query().Get("exclude_types"), ",") {
				excluded[x] = true
			}
			for _, it := range items {
				var v struct {
					Type string `json:"type"`
				}
				json.Unmarshal(it, &v)
				if !excluded[v.Type] {
					out = append(out, it)
				}
			}
		}
		var b bytes.Buffer
		b.WriteString(`{"has_more":false,"next_cursor":"` + cursor + `","items":[`)
		for i, it := range out {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(it)
		}
		b.WriteString("]}")
		w.Write(b.Bytes())
	}
	mux.HandleFunc("/siem/v1/events", page)
	mux.HandleFunc("/siem/v1/alerts", page)
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

// receivers capture what network sinks send: UDP datagrams (each followed
// by "\n" in expected.udp), a TCP byte stream (expected.tcp) and HTTP
// request bodies (each followed by "\n" in expected.http).
type receivers struct {
	mu      sync.Mutex
	outs    map[string]*bytes.Buffer
	last    time.Time
	udp     net.PacketConn
	tcp     net.Listener
	http    *httptest.Server
	started map[string]bool
}

func newReceivers(t *testing.T) *receivers {
	rx := &receivers{outs: map[string]*bytes.Buffer{}, started: map[string]bool{}}
	var err error
	if rx.udp, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if rx.tcp, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 1<<16)
		for {
			n, _, err := rx.udp.ReadFrom(buf)
			if err != nil {
				return
			}
			rx.add("udp", append(buf[:n:n], '\n'))
		}
	}()
	go func() {
		for {
			c, err := rx.tcp.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 1<<16)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						rx.add("tcp", buf[:n])
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	rx.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rx.add("http", append(b, '\n'))
	}))
	t.Cleanup(func() { rx.udp.Close(); rx.tcp.Close(); rx.http.Close() })
	return rx
}

func (rx *receivers) add(name string, b []byte) {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	if rx.outs[name] == nil {
		rx.outs[name] = &bytes.Buffer{}
	}
	rx.outs[name].Write(b)
	rx.last = time.Now()
}

// expand replaces the receivers' placeholders in a config.
func (rx *receivers) expand(y string) string {
	for k, v := range map[string]string{"${UDP}": rx.udp.LocalAddr().String(), "${TCP}": rx.tcp.Addr().String(), "${HTTP}": rx.http.URL} {
		if strings.Contains(y, k) {
			rx.started[strings.Trim(strings.ToLower(k), "${}")] = true
			y = strings.ReplaceAll(y, k, v)
		}
	}
	return y
}

// settle waits until nothing arrived for 200 ms (loopback datagrams and
// streams still on their way when the run returned).
func (rx *receivers) settle() {
	time.Sleep(100 * time.Millisecond)
	for {
		rx.mu.Lock()
		quiet := time.Since(rx.last) > 200*time.Millisecond
		rx.mu.Unlock()
		if quiet {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// output is what a receiver got; ok is false for names that are no
// receiver's (files) or receivers the config did not use.
func (rx *receivers) output(name string) ([]byte, bool) {
	if !rx.started[name] {
		return nil, false
	}
	rx.mu.Lock()
	defer rx.mu.Unlock()
	if b := rx.outs[name]; b != nil {
		return bytes.Clone(b.Bytes()), true
	}
	return []byte{}, true
}
