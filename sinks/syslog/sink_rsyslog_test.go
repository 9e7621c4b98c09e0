package syslog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/influxdata/go-syslog/v3/rfc3164"
	"github.com/influxdata/go-syslog/v3/rfc5424"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

// writeAll writes recs in batches and requires every Write to succeed.
func writeAll(t *testing.T, s *Sink, recs []*pipeline.Record, batch int) {
	t.Helper()
	for i := 0; i < len(recs); i += batch {
		if err := s.Write(context.Background(), recs[i:min(i+batch, len(recs))]); err != nil {
			t.Fatalf("Write(records %d…): %v", i, err)
		}
	}
}

// retryWrite is the pipeline's retry: Write again what failed (the whole
// batch on a plain error, the listed records on a BatchError) until all is
// delivered.
func retryWrite(t *testing.T, s *Sink, batch []*pipeline.Record, timeout time.Duration) (failures int) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := s.Write(context.Background(), batch)
		if err == nil {
			return failures
		}
		failures++
		var be *pipeline.BatchError
		if errors.As(err, &be) {
			var left []*pipeline.Record
			for _, it := range be.Items {
				if pipeline.IsPermanent(it.Err) {
					t.Fatalf("record %d failed permanently: %v", it.Index, it.Err)
				}
				left = append(left, batch[it.Index])
			}
			batch = left
		} else if pipeline.IsPermanent(err) {
			t.Fatalf("permanent failure: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %v: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkReceived requires each record exactly once at rsyslog, with the
// content the sink must have sent, as rsyslog parsed it and as go-syslog's
// parser reads the raw message.
func checkReceived(t *testing.T, got []receivedLine, recs []*pipeline.Record, c Config) {
	t.Helper()
	if len(got) != len(recs) {
		t.Fatalf("rsyslog received %d messages, want %d", len(got), len(recs))
	}
	byID := map[string]*pipeline.Record{}
	for _, r := range recs {
		byID[r.ID] = r
	}
	seen := map[string]int{}
	format := c.Format
	sev, _ := newSeverityMap(c.SeverityMap, c.defaultSeverity())
	for _, l := range got {
		var id, msg string
		if c.protocol() == "rfc3164" {
			m, err := rfc3164.NewParser(rfc3164.WithYear(rfc3164.CurrentYear{})).Parse([]byte(l.raw))
			if err != nil {
				t.Fatalf("rfc3164 parser rejects what rsyslog received: %v\n%q", err, l.raw)
			}
			sm := m.(*rfc3164.SyslogMessage)
			msg = deref(sm.Message)
			wantApp := "sophos-connect"
			if c.format() == "cef" {
				// The CEF convention has no tag: receivers take "CEF" for
				// one, and the MSG is everything after the hostname.
				wantApp = "CEF"
				_, msg, _ = strings.Cut(l.raw, " collector-1 ")
			}
			// RFC 3164 has no structured data: find the record by its MSG.
			for rid, r := range byID {
				if strings.Contains(msg, rid) && seen[rid] == 0 {
					id = r.ID
					break
				}
			}
			if l.appName != wantApp || l.hostname != "collector-1" {
				t.Fatalf("rsyslog parsed app %q host %q", l.appName, l.hostname)
			}
		} else {
			m, err := rfc5424.NewParser().Parse([]byte(l.raw))
			if err != nil {
				t.Fatalf("rfc5424 parser rejects what rsyslog received: %v\n%q", err, l.raw)
			}
			sm := m.(*rfc5424.SyslogMessage)
			sd := (*sm.StructuredData)[DefaultSDID]
			id, msg = sd["id"], deref(sm.Message)
			r := byID[id]
			if r == nil {
				t.Fatalf("unknown id %q in %q", id, l.raw)
			}
			if sd["tenant"] != r.Tenant || deref(sm.MsgID) != string(r.Stream) {
				t.Fatalf("SD/MSGID wrong in %q", l.raw)
			}
			// rsyslog's own RFC 5424 parser agrees.
			if l.msgID != string(r.Stream) || l.appName != "sophos-connect" || l.hostname != "collector-1" ||
				l.sd != fmt.Sprintf(`[%s id="%s" tenant="%s"]`, DefaultSDID, r.ID, r.Tenant) {
				t.Fatalf("rsyslog parsed msgid %q app %q host %q sd %q", l.msgID, l.appName, l.hostname, l.sd)
			}
		}
		r := byID[id]
		if r == nil {
			t.Fatalf("no record matches %q", l.raw)
		}
		if want := strconv.Itoa(int(sev.of(r.Severity))); l.severity != want {
			t.Fatalf("severity %s, want %s for %q", l.severity, want, r.Severity)
		}
		if want := encodeMsg(t, format, r); msg != want {
			t.Fatalf("MSG of %s\n got %q\nwant %q", id, msg, want)
		}
		seen[id]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("record %s received %d times", id, n)
		}
	}
	if len(seen) != len(recs) {
		t.Errorf("%d distinct records received, want %d", len(seen), len(recs))
	}
}

func TestRsyslogTCP(t *testing.T) {
	for _, tt := range []struct{ protocol, framing string }{
		{"rfc5424", "octet-counting"},
		{"rfc5424", "lf"},
		{"rfc3164", "octet-counting"},
	} {
		t.Run(tt.protocol+"/"+tt.framing, func(t *testing.T) {
			rs := startRsyslog(t, rsyslogOptions{tcp: true})
			c := configFor(fmt.Sprintf("tcp://127.0.0.1:%d", rs.tcpPort))
			c.Protocol, c.Framing, c.Format = tt.protocol, tt.framing, testFormat()
			s := newTestSink(t, c)
			if err := s.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			const n = 300
			recs := testRecords(t, 0, n)
			writeAll(t, s, recs, 50)
			rs.waitLines(n, 20*time.Second)
			time.Sleep(100 * time.Millisecond) // would a duplicate follow?
			checkReceived(t, rs.lines(), recs, c)
		})
	}
}

func TestRsyslogUDP(t *testing.T) {
	rs := startRsyslog(t, rsyslogOptions{udp: true})
	c := configFor(fmt.Sprintf("udp://127.0.0.1:%d", rs.udpPort))
	c.Format = testFormat()
	s := newTestSink(t, c)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n, batch = 200, 25
	recs := testRecords(t, 0, n)
	for i := 0; i < n; i += batch {
		// Wait for each batch: the test is about the sink, not about the
		// kernel dropping datagrams when rsyslog falls behind.
		writeAll(t, s, recs[i:i+batch], batch)
		rs.waitLines(i+batch, 10*time.Second)
	}
	time.Sleep(100 * time.Millisecond)
	checkReceived(t, rs.lines(), recs, c)

	// One record far over the 8192-byte default: cut between CEF pairs,
	// keeping the header and id=, counted, reported as truncated (the
	// pipeline dead-letters the full record), and still a valid message.
	big := testRecord(t, n)
	big.Raw = []byte(strings.Replace(string(big.Raw), `"group":"MALWARE"`, `"group":"`+strings.Repeat("é", 5000)+`"`, 1))
	err := s.Write(context.Background(), []*pipeline.Record{big})
	var be *pipeline.BatchError
	if !errors.As(err, &be) || len(be.Items) != 1 || !strings.HasPrefix(be.Items[0].Err.Error(), "truncated: ") {
		t.Fatalf("want the record reported as truncated, got %v", err)
	}
	got := rs.waitLines(n+1, 10*time.Second)
	last := got[len(got)-1].raw
	if s.Truncated() != 1 || len(last) > 8192 || !utf8.ValidString(last) {
		t.Fatalf("truncated=%d, last message %d bytes, valid UTF-8 %v", s.Truncated(), len(last), utf8.ValidString(last))
	}
	if _, err := rfc5424.NewParser().Parse([]byte(last)); err != nil {
		t.Fatalf("truncated message does not parse: %v", err)
	}
	full := encodeMsg(t, testFormat(), big)
	_, msg, _ := strings.Cut(last, "] ")
	// The test record's id is its first pair: the cut message is a prefix
	// of the full one ending just before the oversized group= pair.
	if !strings.HasPrefix(full, msg) || !strings.Contains(msg, "|id="+big.ID+" ") || !strings.HasPrefix(full[len(msg):], " group=éé") {
		t.Fatalf("not cut at a pair boundary with the id kept:\n%.600s\nfull:\n%.600s", last, full)
	}
}

func TestRsyslogTLS(t *testing.T) {
	pki := newTestPKI(t)
	rs := startRsyslog(t, rsyslogOptions{tls: pki})
	addr := fmt.Sprintf("tcp+tls://127.0.0.1:%d", rs.tcpPort)

	t.Run("delivers", func(t *testing.T) {
		c := configFor(addr)
		c.Format = testFormat()
		c.TLS = config.TLS{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey}
		s := newTestSink(t, c)
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		const n = 200
		recs := testRecords(t, 0, n)
		writeAll(t, s, recs, 40)
		rs.waitLines(n, 20*time.Second)
		time.Sleep(100 * time.Millisecond)
		checkReceived(t, rs.lines(), recs, c)
	})

	t.Run("wrong CA", func(t *testing.T) {
		c := configFor(addr)
		c.TLS = config.TLS{CAFile: pki.otherCAFile, CertFile: pki.clientCert, KeyFile: pki.clientKey}
		err := newTestSink(t, c).Start(context.Background())
		if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Fatalf("want an error naming %s and the unknown authority, got %v", addr, err)
		}
		t.Log(err)
	})

	// TLS 1.3 lets the client finish its handshake before the server checks
	// the client certificate: without the sink's post-handshake check,
	// Start and Write would succeed and rsyslog would drop the session.
	t.Run("no client certificate", func(t *testing.T) {
		c := configFor(addr)
		c.TLS = config.TLS{CAFile: pki.caFile}
		err := newTestSink(t, c).Start(context.Background())
		if err == nil || !strings.Contains(err.Error(), "wants a client certificate") {
			t.Fatalf("want a client certificate error, got %v", err)
		}
		t.Log(err)
	})

	t.Run("client certificate from another CA", func(t *testing.T) {
		other := newTestPKI(t)
		c := configFor(addr)
		c.TLS = config.TLS{CAFile: pki.caFile, CertFile: other.clientCert, KeyFile: other.clientKey}
		err := newTestSink(t, c).Start(context.Background())
		if err == nil || !strings.Contains(err.Error(), "refused the client certificate") {
			t.Fatalf("want a refused certificate error, got %v", err)
		}
		t.Log(err)
	})

	t.Run("wrong server name", func(t *testing.T) {
		c := configFor(addr)
		c.TLS = config.TLS{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey, ServerName: "siem.example"}
		err := newTestSink(t, c).Start(context.Background())
		if err == nil || !strings.Contains(err.Error(), "not siem.example") {
			t.Fatalf("want a name mismatch error, got %v", err)
		}
		t.Log(err)
	})
}

// TestRsyslogKilledMidStream kills rsyslogd between batches of a stream
// and restarts it on the same port: the sink fails the batch it cannot
// deliver, the pipeline-style retry delivers it through a new connection,
// and every record arrives exactly once.
func TestRsyslogKilledMidStream(t *testing.T) {
	rs := startRsyslog(t, rsyslogOptions{tcp: true})
	c := configFor(fmt.Sprintf("tcp://127.0.0.1:%d", rs.tcpPort))
	c.Format = testFormat()
	c.DialTimeout = config.Duration(time.Second)
	s := newTestSink(t, c)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n, batch = 200, 20
	recs := testRecords(t, 0, n)
	writeAll(t, s, recs[:100], batch)
	rs.waitLines(100, 20*time.Second)

	rs.kill()
	err := s.Write(context.Background(), recs[100:120])
	if err == nil {
		t.Fatal("Write to a killed receiver succeeded")
	}
	t.Logf("while rsyslogd is down: %v", err)
	rs.start()
	retryWrite(t, s, recs[100:120], 20*time.Second)
	writeAll(t, s, recs[120:], batch)

	rs.waitLines(n, 20*time.Second)
	time.Sleep(100 * time.Millisecond)
	checkReceived(t, rs.lines(), recs, c)
	if s.Reconnects() < 1 {
		t.Errorf("Reconnects() = %d, want at least 1", s.Reconnects())
	}
}

// TestRsyslogRestartedWhileIdle restarts rsyslogd between two batches: the
// connection looks fine to a writer (the kernel would take the bytes), but
// the sink sees the close before writing and the next batch is delivered
// through a new connection without any error. Plain TCP and TLS.
func TestRsyslogRestartedWhileIdle(t *testing.T) {
	for _, withTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "tcp", true: "tcp+tls"}[withTLS], func(t *testing.T) {
			o := rsyslogOptions{tcp: true}
			if withTLS {
				o.tls = newTestPKI(t)
			}
			rs := startRsyslog(t, o)
			c := configFor(fmt.Sprintf("tcp://127.0.0.1:%d", rs.tcpPort))
			if withTLS {
				c.Address = fmt.Sprintf("tcp+tls://127.0.0.1:%d", rs.tcpPort)
				c.TLS = config.TLS{CAFile: o.tls.caFile, CertFile: o.tls.clientCert, KeyFile: o.tls.clientKey}
			}
			s := newTestSink(t, c)
			if err := s.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			recs := testRecords(t, 0, 100)
			writeAll(t, s, recs[:50], 50)
			rs.waitLines(50, 20*time.Second)
			for round := range 3 {
				rs.kill()
				rs.start()
				part := recs[50+round*10 : 60+round*10]
				if err := s.Write(context.Background(), part); err != nil {
					t.Fatalf("round %d: Write after the receiver restarted: %v", round, err)
				}
				rs.waitLines(60+round*10, 20*time.Second)
			}
			time.Sleep(100 * time.Millisecond)
			checkReceived(t, rs.lines(), recs[:80], c)
			if s.Reconnects() != 3 {
				t.Errorf("Reconnects() = %d, want 3", s.Reconnects())
			}
		})
	}
}
