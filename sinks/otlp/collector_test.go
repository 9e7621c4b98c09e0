package otlp

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
)

// collector is a real OpenTelemetry Collector (test/services/otelcol: the
// otlp receiver and the file exporter of release v0.165.0) writing every
// request it takes to out, one JSON line per request.
type collector struct {
	t    testing.TB
	bin  string
	dir  string
	addr string
	out  string
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

// startCollector runs $OTELCOL_BIN (built by .ci/run); without it the test
// is skipped, or fails under CI.
func startCollector(t testing.TB) *collector {
	t.Helper()
	bin := os.Getenv("OTELCOL_BIN")
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("OTELCOL_BIN is not set: .ci/run builds the collector from test/services/otelcol and exports it")
		}
		t.Skip("no OpenTelemetry Collector: build one with `cd test/services/otelcol && go build -o /tmp/otelcol .` and set OTELCOL_BIN=/tmp/otelcol")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	c := &collector{t: t, bin: bin, dir: dir, addr: addr, out: filepath.Join(dir, "logs.jsonl")}
	cfg := fmt.Sprintf(`receivers:
  otlp:
    protocols:
      http:
        endpoint: %s
exporters:
  file:
    path: %s
    append: true
    flush_interval: 50ms
service:
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [file]
`, addr, c.out)
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c.start()
	t.Cleanup(func() {
		if c.cmd != nil {
			c.cmd.Process.Kill()
			c.cmd.Wait()
		}
	})
	return c
}

func (c *collector) endpoint() string { return "http://" + c.addr }

func (c *collector) start() {
	c.t.Helper()
	c.log = &bytes.Buffer{}
	c.cmd = exec.Command(c.bin, "--config", filepath.Join(c.dir, "config.yaml"))
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; {
		// an empty request: the receiver answers it once the pipeline runs
		res, err := http.Post(c.endpoint()+"/v1/logs", "application/json", strings.NewReader("{}"))
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the collector did not come up at %s: %v\n%s", c.addr, err, c.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop shuts the collector down gracefully (SIGTERM: it answers the
// requests it has, flushes the file and exits).
func (c *collector) stop() {
	c.t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		c.t.Fatalf("the collector did not stop\n%s", c.log)
	}
	c.cmd = nil
}

// records reads every LogRecord back from the file exporter's output.
func (c *collector) records() []*logspb.LogRecord {
	c.t.Helper()
	f, err := os.Open(c.out)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	var out []*logspb.LogRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var ld logspb.LogsData
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(sc.Bytes(), &ld); err != nil {
			c.t.Fatalf("the collector's output line does not decode: %v: %.200s", err, sc.Text())
		}
		for _, rl := range ld.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				out = append(out, sl.LogRecords...)
			}
		}
	}
	if err := sc.Err(); err != nil {
		c.t.Fatal(err)
	}
	return out
}

func idCounts(recs []*logspb.LogRecord) map[string]int {
	got := map[string]int{}
	for _, lr := range recs {
		for _, kv := range lr.Attributes {
			if kv.Key == AttrID {
				got[kv.Value.GetStringValue()]++
			}
		}
	}
	return got
}

// TestCollectorExactlyOnceThroughOutage runs the real pipeline into a real
// OpenTelemetry Collector and stops the collector in the middle of the run
// (the sink retries against a closed port), then starts it again. Every
// record is read back from the collector's file exactly once, with its
// body, time, severity and attributes intact.
func TestCollectorExactlyOnceThroughOutage(t *testing.T) {
	col := startCollector(t)
	c := testConfig(col.endpoint())
	c.MaxBytes = 100_000 // many requests: the outage falls between them
	failed := &atomic.Int64{}
	s := &countFailures{Sink: started(t, c), failed: failed, release: make(chan struct{})}
	run := outtest.RunPipeline(t, s, 5000, 180*time.Second, func() {
		// after two delivered writes the next one waits until the
		// collector is down, so the outage always falls mid-run
		for deadline := time.Now().Add(60 * time.Second); s.ok.Load() < 2; {
			if time.Now().After(deadline) {
				t.Error("nothing reached the collector")
				close(s.release)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		col.stop()
		close(s.release)
		time.Sleep(time.Second) // the sink meets a closed port and retries
		col.start()
	})
	col.stop() // flush
	if !run.Committed || run.Stats.DeadLettered != 0 {
		t.Fatalf("run %+v", run)
	}
	recs := col.records()
	if repeats := outtest.ExactlyOnce(t, run.Want, idCounts(recs), nil); repeats != 0 {
		t.Fatalf("%d records arrived more than once", repeats)
	}
	if failed.Load() == 0 {
		t.Fatal("no write failed: the outage did not bite")
	}
	for _, lr := range recs[:10] {
		body := lr.Body.GetStringValue()
		if outtest.RecordID([]byte(body)) == "" || lr.TimeUnixNano == 0 || lr.SeverityText == "" || lr.EventName == "" {
			t.Fatalf("record read back: %v", lr)
		}
	}
	t.Logf("%d records through a collector restart (%d failed writes), read back from its file", len(recs), failed.Load())
}

// countFailures counts the writes that failed (the outage); after two
// delivered writes it holds the next until release is closed.
type countFailures struct {
	*Sink
	failed  *atomic.Int64
	ok      atomic.Int64
	release chan struct{}
}

func (c *countFailures) Write(ctx context.Context, batch []*pipeline.Record) error {
	if c.ok.Load() >= 2 {
		<-c.release
	}
	err := c.Sink.Write(ctx, batch)
	if err != nil {
		c.failed.Add(1)
	} else {
		c.ok.Add(1)
	}
	return err
}
