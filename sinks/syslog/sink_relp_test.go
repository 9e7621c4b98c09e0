package syslog

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
)

// relpConfig is the sink's defaults (cef in RFC 3164) towards rsyslog's
// imrelp on port.
func relpConfig(port int) Config {
	c := DefaultConfig()
	c.Address = fmt.Sprintf("relp://127.0.0.1:%d", port)
	c.Hostname = "collector-1"
	return c
}

// TestRsyslogRELP: records sent over RELP to the real imrelp, with the
// sink's defaults, each arrive exactly once, whole.
func TestRsyslogRELP(t *testing.T) {
	rs := startRsyslog(t, rsyslogOptions{relp: true})
	c := relpConfig(rs.relpPort)
	s := newTestSink(t, c)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n = 1000
	recs := testRecords(t, 0, n)
	writeAll(t, s, recs, 200)
	rs.waitLines(n, 20*time.Second)
	time.Sleep(100 * time.Millisecond) // would a duplicate follow?
	checkReceived(t, rs.lines(), recs, c)
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// recordID finds the record id in a received CEF message.
var recordID = regexp.MustCompile(`\bid=(rec-[0-9]+-[0-9a-f-]+)`)

// TestRsyslogRELPKilledMidStream: rsyslogd (main queue Direct, so an rsp
// 200 means written) is killed with SIGKILL while batches are in flight and
// restarted on the same port. The sink reports what was not acknowledged,
// the retries resend it over a new session, and nothing is missing from the
// output; repeats (acknowledgements lost with the receiver) are counted.
func TestRsyslogRELPKilledMidStream(t *testing.T) {
	rs := startRsyslog(t, rsyslogOptions{relp: true, direct: true})
	c := relpConfig(rs.relpPort)
	c.DialTimeout = config.Duration(time.Second)
	s := newTestSink(t, c)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n, batch = 4000, 100
	recs := testRecords(t, 0, n)
	var failures int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i += batch {
			failures += retryWrite(t, s, recs[i:i+batch], time.Minute)
		}
	}()
	// Kill while the stream runs, then restart.
	waitFor(t, 30*time.Second, "some records at rsyslog", func() bool { return len(rs.lines()) >= n/4 })
	rs.kill()
	killedAt := len(rs.lines())
	time.Sleep(300 * time.Millisecond)
	rs.start()
	wg.Wait()
	if t.Failed() {
		return
	}
	got := rs.lines()
	seen := map[string]int{}
	for _, l := range got {
		m := recordID.FindStringSubmatch(l.raw)
		if m == nil {
			t.Fatalf("no id in %q", l.raw)
		}
		seen[m[1]]++
	}
	repeats := 0
	for _, r := range recs {
		switch k := seen[r.ID]; {
		case k == 0:
			t.Errorf("record %s missing", r.ID)
		case k > 1:
			repeats += k - 1
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct records received, want %d", len(seen), n)
	}
	if failures == 0 || s.Reconnects() == 0 {
		t.Errorf("the kill went unnoticed: %d failed writes, %d reconnects", failures, s.Reconnects())
	}
	t.Logf("killed after %d messages; %d failed writes, %d reconnects; %d messages received, %d repeats", killedAt, failures, s.Reconnects(), len(got), repeats)
}

// TestRELPRefusesNonRELP: a plain syslog port is not mistaken for RELP.
func TestRELPRefusesNonRELP(t *testing.T) {
	rs := startRsyslog(t, rsyslogOptions{tcp: true})
	c := relpConfig(rs.tcpPort)
	c.DialTimeout = config.Duration(time.Second)
	s := newTestSink(t, c)
	err := s.Start(context.Background())
	if err == nil {
		t.Fatal("Start succeeded against imtcp")
	}
	if !strings.Contains(err.Error(), "is this a RELP port?") {
		t.Fatalf("unclear error: %v", err)
	}
}

// TestRsyslogRELPTLS: relp+tls:// to imrelp with TLS and client
// certificates required: all records arrive once; a sink without a client
// certificate is refused at Start.
func TestRsyslogRELPTLS(t *testing.T) {
	pki := newTestPKI(t)
	rs := startRsyslog(t, rsyslogOptions{relpTLS: pki})
	c := relpConfig(rs.relpPort)
	c.Address = fmt.Sprintf("relp+tls://127.0.0.1:%d", rs.relpPort)
	c.TLS = config.TLS{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey}
	s := newTestSink(t, c)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n = 300
	recs := testRecords(t, 0, n)
	writeAll(t, s, recs, 100)
	rs.waitLines(n, 20*time.Second)
	time.Sleep(100 * time.Millisecond)
	checkReceived(t, rs.lines(), recs, c)

	c.TLS = config.TLS{CAFile: pki.caFile}
	c.DialTimeout = config.Duration(2 * time.Second)
	if err := newTestSink(t, c).Start(context.Background()); err == nil {
		t.Fatal("Start without a client certificate succeeded")
	} else {
		t.Log(err)
	}
}
