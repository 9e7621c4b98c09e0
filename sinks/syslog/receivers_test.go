package syslog

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/go-syslog/v3/rfc5424"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
)

// receiver is a real syslog daemon under test, with one input per
// transport ("" port: not offered).
type receiver struct {
	name  string
	addr  map[string]string // transport → sink address
	lines func() []receivedLine
}

// leefID finds the record id in a LEEF message.
var leefID = regexp.MustCompile(`\tsophosId=([^\t]+)`)

// header3164CEF is the CEF convention's header: "<PRI>Mmm dd hh:mm:ss HOST ".
var header3164CEF = regexp.MustCompile(`^<[0-9]{1,3}>[A-Z][a-z]{2} [ 1-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] (\S+) `)

// TestReceivers sends every format over tcp, tls and udp to rsyslog and
// syslog-ng, each with its stock network input, using the sink's defaults
// (only address, tls and format set): every record must arrive as exactly
// one message, whole, and the receiver must parse CEF's header.
func TestReceivers(t *testing.T) {
	pki := newTestPKI(t)
	clientTLS := config.TLS{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey}
	var receivers []receiver
	{
		// rsyslog: imtcp (plain, then the ossl TLS driver) and imudp.
		tcp := startRsyslog(t, rsyslogOptions{tcp: true})
		tls := startRsyslog(t, rsyslogOptions{tls: pki})
		udp := startRsyslog(t, rsyslogOptions{udp: true})
		receivers = append(receivers, receiver{"rsyslog", map[string]string{
			"tcp": fmt.Sprintf("tcp://127.0.0.1:%d", tcp.tcpPort),
			"tls": fmt.Sprintf("tcp+tls://127.0.0.1:%d", tls.tcpPort),
			"udp": fmt.Sprintf("udp://127.0.0.1:%d", udp.udpPort),
		}, func() []receivedLine { return append(append(tcp.lines(), tls.lines()...), udp.lines()...) }})
		ng := startSyslogNG(t, pki)
		receivers = append(receivers, receiver{"syslog-ng", map[string]string{
			"tcp": fmt.Sprintf("tcp://127.0.0.1:%d", ng.tcpPort),
			"tls": fmt.Sprintf("tcp+tls://127.0.0.1:%d", ng.tlsPort),
			"udp": fmt.Sprintf("udp://127.0.0.1:%d", ng.udpPort),
		}, ng.lines})
	}
	for _, rc := range receivers {
		for _, transport := range []string{"tcp", "tls", "udp"} {
			for _, format := range encoding.Formats {
				t.Run(rc.name+"/"+transport+"/"+format, func(t *testing.T) {
					c := DefaultConfig()
					c.Address, c.Format = rc.addr[transport], format
					c.Hostname = "h-" + rc.name + "-" + transport + "-" + format
					if transport == "tls" {
						c.TLS = clientTLS
					}
					s := newTestSink(t, c)
					if err := s.Start(context.Background()); err != nil {
						t.Fatal(err)
					}
					const n = 40
					recs := testRecords(t, 0, n)
					for i := 0; i < n; i += 10 {
						writeAll(t, s, recs[i:i+10], 10)
						time.Sleep(5 * time.Millisecond) // UDP: let the daemon keep up
					}
					var got []receivedLine
					mine := func() []receivedLine {
						var out []receivedLine
						for _, l := range rc.lines() {
							if strings.Contains(l.raw, " "+c.Hostname+" ") {
								out = append(out, l)
							}
						}
						return out
					}
					waitFor(t, 20*time.Second, fmt.Sprintf("%d messages at %s", n, rc.name), func() bool { got = mine(); return len(got) >= n })
					time.Sleep(100 * time.Millisecond) // would more follow?
					checkOneEach(t, mine(), recs, c)
				})
			}
		}
	}
}

// checkOneEach requires every record exactly once, each message holding
// exactly the record's encoding, with the header the defaults choose.
func checkOneEach(t *testing.T, got []receivedLine, recs []*pipeline.Record, c Config) {
	t.Helper()
	if len(got) != len(recs) {
		t.Fatalf("received %d messages for %d records; first: %.300q", len(got), len(recs), got[0].raw)
	}
	want := map[string]string{}
	for _, r := range recs {
		want[r.ID] = encodeMsg(t, c.format(), r)
	}
	seen := map[string]bool{}
	for _, l := range got {
		var id, msg string
		if c.protocol() == "rfc3164" { // cef and leef: the CEF/LEEF convention
			m := header3164CEF.FindStringSubmatch(l.raw)
			if m == nil || m[1] != c.Hostname {
				t.Fatalf("not a CEF-convention header: %.120q", l.raw)
			}
			msg = l.raw[len(m[0]):]
			if c.format() == "leef" {
				// rsyslog stores a received tab as #011 (its
				// parser.escapeControlCharacterTab default); QRadar
				// reads the tab itself.
				msg = strings.ReplaceAll(msg, "#011", "\t")
				if m := leefID.FindStringSubmatch(msg); m != nil {
					id = m[1]
				}
			} else if id = recordID.FindString(msg); id != "" {
				id = strings.TrimPrefix(id, "id=")
			}
			if want := strings.ToUpper(c.format()); l.appName != want || l.hostname != c.Hostname {
				t.Fatalf("receiver parsed program %q host %q, want %s and %s", l.appName, l.hostname, want, c.Hostname)
			}
		} else {
			m, err := rfc5424.NewParser().Parse([]byte(l.raw))
			if err != nil {
				t.Fatalf("not an RFC 5424 message: %v\n%.300q", err, l.raw)
			}
			sm := m.(*rfc5424.SyslogMessage)
			id, msg = (*sm.StructuredData)[DefaultSDID]["id"], deref(sm.Message)
		}
		w, ok := want[id]
		if !ok {
			t.Fatalf("no record with id %q: %.300q", id, l.raw)
		}
		if seen[id] {
			t.Fatalf("record %s received twice", id)
		}
		seen[id] = true
		if msg != w {
			t.Fatalf("record %s arrived changed:\n got %.400q\nwant %.400q", id, msg, w)
		}
	}
}

// TestSyslogNGGluesOctetCounting is why plain tcp:// defaults to lf: the
// old default, octet counting, reaches syslog-ng's stock network() source
// as fewer, glued messages — the failure checkOneEach exists to catch.
func TestSyslogNGGluesOctetCounting(t *testing.T) {
	ng := startSyslogNG(t, nil)
	c := DefaultConfig()
	c.Address, c.Framing, c.Hostname = fmt.Sprintf("tcp://127.0.0.1:%d", ng.tcpPort), framingOctet, "h-glued"
	s := newTestSink(t, c)
	const n = 20
	writeAll(t, s, testRecords(t, 0, n), n)
	s.Close()
	time.Sleep(500 * time.Millisecond)
	got := ng.lines()
	if len(got) >= n {
		t.Fatalf("syslog-ng split %d octet-counted messages into %d: the lf default would not be needed", n, len(got))
	}
	t.Logf("%d octet-counted messages arrived at syslog-ng's network() as %d", n, len(got))
}

// TestReceiversMultilineCEF: a CEF value with a line break (the official
// encoder keeps it raw) still arrives as one message over lf framing, the
// break escaped as #012, at both receivers.
func TestReceiversMultilineCEF(t *testing.T) {
	rs := startRsyslog(t, rsyslogOptions{tcp: true})
	ng := startSyslogNG(t, nil)
	for name, tt := range map[string]struct {
		addr  string
		lines func() []receivedLine
	}{
		"rsyslog":   {fmt.Sprintf("tcp://127.0.0.1:%d", rs.tcpPort), rs.lines},
		"syslog-ng": {fmt.Sprintf("tcp://127.0.0.1:%d", ng.tcpPort), ng.lines},
	} {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig()
			c.Address, c.Hostname = tt.addr, "h-multiline"
			s := newTestSink(t, c)
			r := testRecord(t, 7)
			r.Raw = []byte(strings.Replace(string(r.Raw), `"group":"MALWARE"`, `"group":"line one\nline two"`, 1))
			if !strings.Contains(encodeMsg(t, "cef", r), "line one\nline two") {
				t.Fatal("the encoder no longer keeps the line break: this test needs another record")
			}
			writeAll(t, s, []*pipeline.Record{r, testRecord(t, 8)}, 2)
			waitFor(t, 10*time.Second, "2 messages", func() bool { return len(tt.lines()) >= 2 })
			time.Sleep(100 * time.Millisecond)
			got := tt.lines()
			if len(got) != 2 || !strings.Contains(got[0].raw, "group=line one#012line two ") || !strings.Contains(got[1].raw, "id="+testRecord(t, 8).ID) {
				t.Fatalf("received %d messages: %q", len(got), got)
			}
		})
	}
}
