package syslog

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	gosyslog "github.com/influxdata/go-syslog/v3"
	"github.com/influxdata/go-syslog/v3/octetcounting"
	"github.com/influxdata/go-syslog/v3/rfc3164"
	"github.com/influxdata/go-syslog/v3/rfc5424"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

var fixedNow = time.Date(2024, 5, 14, 9, 0, 0, 0, time.UTC)

// testFramer is a framer as New sets it up, with a fixed pid and clock.
func testFramer(t testing.TB, protocol, framing string) *framer {
	t.Helper()
	c := configFor("tcp://127.0.0.1:514")
	c.Protocol, c.Framing, c.Hostname, c.Format = protocol, framing, "collector-1", "raw"
	s, err := New("test", c, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := s.f
	f.procID = "4242"
	f.now = func() time.Time { return fixedNow }
	f.loc = time.UTC
	return &f
}

func frame(t testing.TB, f *framer, r *pipeline.Record, msg string) string {
	t.Helper()
	out, _, err := f.appendFrame(nil, r, []byte(msg), nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestFrameGolden(t *testing.T) {
	r := &pipeline.Record{Stream: pipeline.Alerts, Tenant: "t-1", ID: `id"1]\`, Severity: "high", When: "2024-05-14T08:02:11.482Z"}
	msg := "CEF:0|sophos|sophos central|1.0|x|café|8|k=v\nnext"
	tests := []struct {
		protocol, framing, want string
	}{
		{"rfc5424", "octet-counting", `163 <163>1 2024-05-14T08:02:11.482Z collector-1 sophos-connect 4242 alert [sophos@32473 id="id\"1\]\\" tenant="t-1"] ` + msg},
		{"rfc5424", "lf", `<163>1 2024-05-14T08:02:11.482Z collector-1 sophos-connect 4242 alert [sophos@32473 id="id\"1\]\\" tenant="t-1"] CEF:0|sophos|sophos central|1.0|x|café|8|k=v#012next` + "\n"},
		{"rfc3164", "octet-counting", `108 <163>May 14 08:02:11 collector-1 sophos-connect[4242]: CEF:0|sophos|sophos central|1.0|x|café|8|k=v#012next`},
		{"rfc3164", "lf", `<163>May 14 08:02:11 collector-1 sophos-connect[4242]: CEF:0|sophos|sophos central|1.0|x|café|8|k=v#012next` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.protocol+"/"+tt.framing, func(t *testing.T) {
			if got := frame(t, testFramer(t, tt.protocol, tt.framing), r, msg); got != tt.want {
				t.Errorf("frame\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestFrameDefaults(t *testing.T) {
	f := testFramer(t, "rfc5424", "octet-counting")
	// No when: the clock; no tenant, id or stream: "-"; empty MSG: no SP.
	got := frame(t, f, &pipeline.Record{Severity: "whatever"}, "")
	if want := "63 <165>1 2024-05-14T09:00:00Z collector-1 sophos-connect 4242 - -"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
	f3 := testFramer(t, "rfc3164", "lf")
	got = frame(t, f3, &pipeline.Record{When: "2024-01-05T23:59:59.5+02:00"}, "")
	if want := "<165>Jan  5 21:59:59 collector-1 sophos-connect[4242]: -\n"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
}

func TestSeverityMap(t *testing.T) {
	m, err := newSeverityMap(map[string]string{"High": "crit", "critical": "1"}, "info")
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]uint8{"none": 6, "low": 5, "medium": 4, "high": 2, "HIGH": 2, "very_high": 2, "critical": 1, "": 6, "odd": 6} {
		if got := m.of(in); got != want {
			t.Errorf("of(%q) = %d, want %d", in, got, want)
		}
	}
	if _, err := newSeverityMap(map[string]string{"low": "loud"}, "info"); err == nil || !strings.Contains(err.Error(), "severity_map.low") {
		t.Errorf("bad map entry: %v", err)
	}
}

func TestTruncateAtUTF8Boundary(t *testing.T) {
	f := testFramer(t, "rfc5424", "")
	f.framing, f.max = framingNone, 500
	r := &pipeline.Record{Stream: pipeline.Events, ID: "x", When: "2024-05-14T08:02:11Z"}
	msg := strings.Repeat("é€𝄞", 100) // 2-, 3- and 4-byte characters
	for extra := range 8 {
		f.max = 500 + extra
		out, truncated, err := f.appendFrame(nil, r, []byte(msg), nil)
		if err != nil {
			t.Fatal(err)
		}
		if truncated == 0 || len(out) > f.max || len(out) < f.max-3 || !utf8.Valid(out) {
			t.Fatalf("max %d: truncated=%d len=%d valid=%v", f.max, truncated, len(out), utf8.Valid(out))
		}
		if _, err := rfc5424.NewParser().Parse(out); err != nil {
			t.Fatalf("max %d: parser: %v", f.max, err)
		}
	}
	out, truncated, err := f.appendFrame(nil, r, []byte("short"), nil)
	if err != nil || truncated != 0 || !strings.HasSuffix(string(out), " short") {
		t.Errorf("short message: %q %d %v", out, truncated, err)
	}
	f.max = 40 // smaller than the header: the record is refused, not mangled
	if _, _, err := f.appendFrame(nil, r, []byte(msg), nil); err == nil || !strings.Contains(err.Error(), "max_message_bytes") {
		t.Errorf("header over max: %v", err)
	}
}

func TestMessageSanitizing(t *testing.T) {
	tests := []struct {
		in       string
		ctl, lf  bool
		wantText string
	}{
		{"plain", true, true, "plain"},
		{"a\nb\tc", false, false, "a\nb\tc"},
		{"a\nb\tc", false, true, "a#012b\tc"},
		{"a\nb\tc\x7f\x00", true, false, "a#012b#011c#177#000"},
		{"bad\xff\xfeutf8", false, false, "bad\uFFFD\uFFFDutf8"},
		{"ok ü€", true, true, "ok ü€"},
	}
	for _, tt := range tests {
		if got := string(appendMsg(nil, []byte(tt.in), tt.ctl, tt.lf)); got != tt.wantText {
			t.Errorf("appendMsg(%q, ctl=%v, lf=%v) = %q, want %q", tt.in, tt.ctl, tt.lf, got, tt.wantText)
		}
	}
}

// TestFramersConcurrent builds frames in two goroutines, as two syslog
// sinks do: with -race it proves the builder is used without shared state
// (go-syslog's SetParameter keeps some in package variables).
func TestFramersConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 2 {
		f := testFramer(t, "rfc5424", framingOctet)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				r := &pipeline.Record{Stream: pipeline.Events, Tenant: "t", ID: strconv.Itoa(g*1000 + i), When: "2024-05-14T08:02:11Z"}
				out, _, err := f.appendFrame(nil, r, []byte("m"), nil)
				if err != nil || !strings.Contains(string(out), `id="`+r.ID+`"`) {
					t.Errorf("frame %q: %v", out, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// FuzzFrames builds frames from arbitrary record fields and messages and
// checks that go-syslog's parsers (RFC 5424, RFC 3164, octet-counting and
// LF streams) accept every one, with the fields intact, and that RFC 5424
// frames are byte-identical to go-syslog's builder's own String().
func FuzzFrames(f *testing.F) {
	f.Add("3f8a2c71-5d1e-4b9a-8c07-6e2f19d4a5b8", "e3b5a9c2-4f17", "event", "high", "2024-05-14T08:02:11.482Z", []byte("CEF:0|sophos|x|1.0|t|n|8|k=v"), uint8(0), uint16(0))
	f.Add(`te"n]a\nt`, "ïd\x00\xff", "alert", "MEDIUM", "garbage", []byte("multi\nline\r\n\ttabs \x00 \xff\xfe é€𝄞"), uint8(1), uint16(490))
	f.Add("", "", "", "", "", []byte(""), uint8(2), uint16(0))
	f.Add("t", "i", "a stream", "low", "9999-12-31T23:59:59.9999999Z", []byte(strings.Repeat("€", 400)), uint8(3), uint16(600))
	f.Add("t", "i", strings.Repeat("x", 40), "none", "2024-05-14T08:02:11+05:30", []byte("\uFEFFbom"), uint8(0), uint16(481))

	framers := map[uint8]*framer{
		0: testFramer(f, "rfc5424", "octet-counting"),
		1: testFramer(f, "rfc5424", "lf"),
		2: testFramer(f, "rfc3164", "octet-counting"),
		3: testFramer(f, "rfc3164", "lf"),
	}
	f.Fuzz(func(t *testing.T, tenant, id, stream, severity, when string, msg []byte, kind uint8, max uint16) {
		fr := framers[kind%4]
		fr.max = 0
		if max >= minMessageBytes {
			fr.max = int(max)
		}
		r := &pipeline.Record{Stream: pipeline.Stream(stream), Tenant: tenant, ID: id, Severity: severity, When: when}
		out, truncated, err := fr.appendFrame(nil, r, msg, nil)
		if err != nil {
			if fr.max == 0 || !strings.Contains(err.Error(), "max_message_bytes") {
				t.Fatalf("appendFrame: %v", err)
			}
			return // the header alone is over the cap: refused
		}
		payload := checkFraming(t, fr.framing, out)
		if !utf8.Valid(payload) {
			t.Fatalf("payload is not UTF-8: %q", payload)
		}
		if fr.max > 0 && len(payload) > fr.max {
			t.Fatalf("payload %d bytes over max %d", len(payload), fr.max)
		}
		wantMsg := string(appendMsg(nil, msg, fr.rfc3164, fr.framing == framingLF))
		gotMsg := ""
		if fr.rfc3164 {
			gotMsg = check3164(t, fr, r, payload)
			if wantMsg == "" {
				wantMsg = "-"
			}
		} else {
			gotMsg = check5424(t, fr, r, payload)
			checkStreams(t, fr.framing, out)
			if truncated == 0 {
				compareBuilder(t, fr, r, msg, payload)
			}
		}
		if truncated > 0 {
			if !strings.HasPrefix(wantMsg, gotMsg) || len(gotMsg) >= len(wantMsg) {
				t.Fatalf("truncated MSG %q is not a prefix of %q", gotMsg, wantMsg)
			}
		} else if gotMsg != wantMsg {
			t.Fatalf("MSG %q, want %q", gotMsg, wantMsg)
		}
	})
}

// checkFraming undoes the framing and returns the message.
func checkFraming(t *testing.T, framing string, out []byte) []byte {
	t.Helper()
	switch framing {
	case framingOctet:
		n, rest, ok := bytes.Cut(out, []byte(" "))
		l, err := strconv.Atoi(string(n))
		if !ok || err != nil || l != len(rest) {
			t.Fatalf("bad octet count in %q", out)
		}
		return rest
	case framingLF:
		if len(out) == 0 || out[len(out)-1] != '\n' || bytes.IndexByte(out, '\n') != len(out)-1 {
			t.Fatalf("LF frame must hold exactly one LF, at its end: %q", out)
		}
		return out[:len(out)-1]
	}
	return out
}

func check5424(t *testing.T, fr *framer, r *pipeline.Record, payload []byte) string {
	t.Helper()
	m, err := rfc5424.NewParser().Parse(payload)
	if err != nil {
		t.Fatalf("rfc5424 parser: %v\n%q", err, payload)
	}
	sm := m.(*rfc5424.SyslogMessage)
	if *sm.Priority != fr.facility*8+fr.sev.of(r.Severity) || *sm.Hostname != fr.hostname || *sm.Appname != fr.appName || *sm.ProcID != fr.procID {
		t.Fatalf("header fields wrong: %q", payload)
	}
	wantID := ""
	if len(r.Stream) <= 32 && printUSASCII(string(r.Stream)) && r.Stream != "-" {
		wantID = string(r.Stream)
	}
	if got := deref(sm.MsgID); got != wantID {
		t.Fatalf("MSGID %q, want %q", got, wantID)
	}
	if ts := r.WhenTime(); !ts.IsZero() && !sm.Timestamp.Equal(ts.Truncate(time.Microsecond)) {
		t.Fatalf("TIMESTAMP %v, want %v", sm.Timestamp, ts)
	}
	var sd map[string]string
	if sm.StructuredData != nil {
		sd = (*sm.StructuredData)[fr.sdID]
	}
	for name, v := range map[string]string{"id": r.ID, "tenant": r.Tenant} {
		want := perByteValid(v)
		if fr.framing == framingLF {
			want = strings.ReplaceAll(want, "\n", "#012")
		}
		if got := sd[name]; got != want {
			t.Fatalf("SD %s = %q, want %q", name, got, want)
		}
	}
	return deref(sm.Message)
}

func check3164(t *testing.T, fr *framer, r *pipeline.Record, payload []byte) string {
	t.Helper()
	m, err := rfc3164.NewParser(rfc3164.WithYear(rfc3164.CurrentYear{})).Parse(payload)
	if err != nil {
		t.Fatalf("rfc3164 parser: %v\n%q", err, payload)
	}
	sm := m.(*rfc3164.SyslogMessage)
	if *sm.Priority != fr.facility*8+fr.sev.of(r.Severity) || deref(sm.Hostname) != fr.hostname || deref(sm.Appname) != fr.appName {
		t.Fatalf("header fields wrong: %q", payload)
	}
	msg := payload[bytes.Index(payload, []byte("]: "))+3:]
	if bytes.IndexByte(msg, ']') >= 0 {
		// go-syslog v3.0.0's RFC 3164 machine is ambiguous about where
		// "[PID]" ends when MSG holds a ']' ("x]: y" parses as PID "x",
		// MSG "y"); rsyslog is not. It still accepts the frame; check the
		// fields ourselves.
		return string(msg)
	}
	if deref(sm.ProcID) != fr.procID {
		t.Fatalf("PROCID %q, want %q in %q", deref(sm.ProcID), fr.procID, payload)
	}
	return deref(sm.Message)
}

// checkStreams parses a stream of two copies of the frame: octet-counting
// with go-syslog's parser, LF by splitting lines.
func checkStreams(t *testing.T, framing string, out []byte) {
	t.Helper()
	var results []*gosyslog.Result
	listen := gosyslog.WithListener(func(r *gosyslog.Result) { results = append(results, r) })
	stream := bytes.NewReader(append(append([]byte{}, out...), out...))
	switch framing {
	case framingOctet:
		octetcounting.NewParser(listen).Parse(stream)
	case framingLF:
		// go-syslog's nontransparent parser needs a module go.mod lacks:
		// split the stream at LF, as a receiver does.
		for _, line := range bytes.SplitAfter(append(append([]byte{}, out...), out...), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			if line[len(line)-1] != '\n' {
				t.Fatalf("unterminated frame %q", line)
			}
			_, err := rfc5424.NewParser().Parse(line[:len(line)-1])
			results = append(results, &gosyslog.Result{Error: err})
		}
	default:
		return
	}
	if len(results) != 2 || results[0].Error != nil || results[1].Error != nil {
		for _, r := range results {
			t.Logf("result: %+v", r)
		}
		t.Fatalf("%s stream parser: %d results for 2 frames of %q", framing, len(results), out)
	}
}

// compareBuilder builds the whole message, SD and MSG included, with
// go-syslog's builder and compares, where the builder is exact (ASCII SD
// values, see header5424).
func compareBuilder(t *testing.T, fr *framer, r *pipeline.Record, msg, payload []byte) {
	t.Helper()
	if !isASCII(r.ID) || !isASCII(r.Tenant) || !utf8.Valid(msg) ||
		(fr.framing == framingLF && strings.Contains(r.ID+r.Tenant+string(msg), "\n")) {
		return
	}
	var m rfc5424.SyslogMessage
	m.SetPriority(fr.facility*8 + fr.sev.of(r.Severity)).SetVersion(1).SetTimestamp(string(fr.ts)).
		SetHostname(fr.hostname).SetAppname(fr.appName).SetProcID(fr.procID).SetMsgID(string(r.Stream))
	if r.ID != "" {
		m.SetParameter(fr.sdID, "id", sdEscape(r.ID))
	}
	if r.Tenant != "" {
		m.SetParameter(fr.sdID, "tenant", sdEscape(r.Tenant))
	}
	m.SetMessage(string(msg))
	want, err := m.String()
	if err != nil {
		t.Fatal(err)
	}
	if string(payload) != want {
		t.Fatalf("differs from go-syslog's builder:\n got %q\nwant %q", payload, want)
	}
}

// perByteValid replaces each invalid byte with U+FFFD, as ranging over a
// string decodes it.
func perByteValid(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// TestRFC3164TimeZoneAndCEFHeader: RFC 3164 times are written in the
// configured zone, a record from last year is stamped with the sending time
// (receivers add their current year), and CEF gets the CEF guide's tagless
// header.
func TestRFC3164TimeZoneAndCEFHeader(t *testing.T) {
	f := testFramer(t, "rfc3164", "lf")
	f.cefHead = true
	for _, tt := range []struct {
		now        time.Time
		loc        *time.Location
		when, want string
	}{
		// The zone is applied before the date is written.
		{time.Date(2027, 1, 1, 0, 40, 0, 0, time.UTC), time.FixedZone("CET", 3600), "2026-12-31T23:30:00Z", "<163>Jan  1 00:30:00 collector-1 CEF:0|x\n"},
		{time.Date(2027, 1, 1, 2, 10, 0, 0, time.UTC), time.FixedZone("EST", -5*3600), "2027-01-01T02:00:00Z", "<163>Dec 31 21:00:00 collector-1 CEF:0|x\n"},
		{time.Date(2027, 1, 1, 2, 10, 0, 0, time.UTC), time.UTC, "2027-01-01T02:00:00Z", "<163>Jan  1 02:00:00 collector-1 CEF:0|x\n"},
		// A record from last year sent after New Year: a receiver would give
		// "Dec 31" this year, so the sending time is written instead.
		{time.Date(2027, 1, 1, 0, 0, 3, 0, time.UTC), time.UTC, "2026-12-31T23:59:58Z", "<163>Jan  1 00:00:03 collector-1 CEF:0|x\n"},
	} {
		f.loc = tt.loc
		f.now = func() time.Time { return tt.now }
		r := &pipeline.Record{Stream: pipeline.Alerts, Severity: "high", When: tt.when}
		if got := frame(t, f, r, "CEF:0|x"); got != tt.want {
			t.Errorf("%s in %s: got %q want %q", tt.when, tt.loc, got, tt.want)
		}
	}
}
