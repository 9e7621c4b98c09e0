package syslog

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
)

const testTenant = "3f8a2c71-5d1e-4b9a-8c07-6e2f19d4a5b8"

// testRecord is a realistic SIEM event (shape of reference/samples) with a
// unique id, a non-ASCII name, quotes and backslashes.
func testRecord(t testing.TB, i int) *pipeline.Record {
	t.Helper()
	stream, sev := pipeline.Events, []string{"low", "medium", "high"}[i%3]
	if i%4 == 3 {
		stream = pipeline.Alerts
	}
	raw := fmt.Sprintf(`{"id":"rec-%06d-5d1e-4b9a-8c07-6e2f19d4a5b8","customer_id":%q,"severity":%q,`+
		`"created_at":"2024-05-14T08:02:11.482Z","source_info":{"ip":"10.20.4.142"},"endpoint_type":"computer",`+
		`"endpoint_id":"1b6f3d2e-8a4c-4e71-9d05-c2a7e6b9f410","user_id":"663dede2d9c2ef0f9d4f55a8",`+
		`"when":"2024-05-14T08:02:%02d.%03dZ","source":"NORTHWIND\\mreyes","type":"Event::Endpoint::Threat::Detected",`+
		`"location":"WKS-FIN-0142","name":"Malware détecté: 'Troj/Agent-BKXQ' at \"C:\\Users\\Temp\\~df3a21.tmp\"",`+
		`"description":"Malware détecté: 'Troj/Agent-BKXQ' at \"C:\\Users\\Temp\\~df3a21.tmp\"",`+
		`"group":"MALWARE","duid":"e3b5a9c2-4f17-4d8e-9a06-1c7d2b8f5e40","ips_threat_data":{"localIp":"10.20.4.142"}}`,
		i, testTenant, sev, i%60, i%1000)
	r, err := pipeline.NewRecord(stream, testTenant, []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return &r
}

func testRecords(t testing.TB, from, n int) []*pipeline.Record {
	out := make([]*pipeline.Record, n)
	for i := range out {
		out[i] = testRecord(t, from+i)
	}
	return out
}

// testFormat is the encoder the tests use: cef once the encoders helper
// lands it, raw until then.
func testFormat() string {
	if _, err := encoding.New("cef", encoding.Options{}); err == nil {
		return "cef"
	}
	return "raw"
}

// newTestSink builds a sink for address with a fixed hostname.
func newTestSink(t testing.TB, c Config) *Sink {
	t.Helper()
	if c.Hostname == "" {
		c.Hostname = "collector-1"
	}
	if c.Format == "" {
		c.Format = testFormat()
	}
	s, err := New("test", c, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func configFor(address string) Config {
	c := DefaultConfig()
	c.Address = address
	c.Format = testFormat()
	c.Protocol = "rfc5424" // the tests read the id from the structured data
	c.DialTimeout = 0
	c.WriteTimeout = 0
	return c
}

// encodeMsg is what the MSG part of r's message must hold.
func encodeMsg(t testing.TB, format string, r *pipeline.Record) string {
	t.Helper()
	e, err := encoding.New(format, encoding.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Append(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitFor polls cond every 20 ms until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sdEscape is RFC 5424's PARAM-VALUE escaping, for the builder's input.
func sdEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(s)
}

// lockedBuffer collects a daemon's output: os/exec copies into it from its
// own goroutine while a failing test prints it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
