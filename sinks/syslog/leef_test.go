package syslog

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/encoding/leeftest"
)

// TestReceiversLEEF sends one LEEF record (with the sink's defaults for
// format leef: RFC 3164 header, then the LEEF header, tabs kept) to the
// real rsyslog and syslog-ng, and reads what each stored back with the
// LEEF spec's parser: one message, the same header and attributes.
func TestReceiversLEEF(t *testing.T) {
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
			c.Address, c.Format, c.Hostname = tt.addr, "leef", "h-leef"
			if c.protocol() != "rfc3164" {
				t.Fatalf("format leef defaults to protocol %s, want rfc3164 (QRadar's convention)", c.protocol())
			}
			s := newTestSink(t, c)
			r := testRecord(t, 5)
			writeAll(t, s, []*pipeline.Record{r}, 1)
			waitFor(t, 10*time.Second, "1 message", func() bool { return len(tt.lines()) >= 1 })
			time.Sleep(100 * time.Millisecond) // would more follow?
			got := tt.lines()
			if len(got) != 1 {
				t.Fatalf("received %d messages: %q", len(got), got)
			}
			m := header3164CEF.FindStringSubmatch(got[0].raw)
			if m == nil || m[1] != c.Hostname || got[0].appName != "LEEF" {
				t.Fatalf("not '<PRI>Mmm dd hh:mm:ss h-leef LEEF:…' (program %q): %.200q", got[0].appName, got[0].raw)
			}
			// rsyslog stores a received tab as #011 by default.
			stored := strings.ReplaceAll(got[0].raw[len(m[0]):], "#011", "\t")
			ev, err := leeftest.Parse(stored)
			if err != nil {
				t.Fatalf("%v: %q", err, stored)
			}
			want, err := leeftest.Parse(encodeMsg(t, "leef", r))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ev, want) {
				t.Fatalf("stored event differs:\n got %+v\nwant %+v", ev, want)
			}
			if id, _ := ev.Attr("sophosId"); id != r.ID || len(ev.Attrs) < 8 {
				t.Fatalf("sophosId %q (want %s), %d attributes", id, r.ID, len(ev.Attrs))
			}
		})
	}
}
