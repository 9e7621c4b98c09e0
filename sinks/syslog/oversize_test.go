package syslog

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
)

// bigRecord has its id in the middle of the pairs and a huge field after
// it, so a cut must move the id pair to keep it.
func bigRecord(t testing.TB) *pipeline.Record {
	t.Helper()
	raw := `{"type":"Event::X","name":"n","severity":"high","alpha":"` + strings.Repeat("a", 300) + `",` +
		`"beta":"` + strings.Repeat("b", 300) + `","id":"the-id-42","huge":"` + strings.Repeat("h", 20000) + `","omega":"z"}`
	r, err := pipeline.NewRecord(pipeline.Events, "t-1", []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return &r
}

// TestCutAtPairs: an oversized CEF or keyvalue message keeps the header,
// the id pair and whole pairs only, fits max, and parses.
func TestCutAtPairs(t *testing.T) {
	for _, format := range []string{"cef", "keyvalue"} {
		for _, proto := range []string{"rfc3164", "rfc5424"} {
			f := testFramer(t, proto, framingLF)
			f.max = 600 // alpha fits, beta does not: the id pair moves up
			f.cefHead = proto == "rfc3164" && format == "cef"
			enc, _ := encoding.New(format, encoding.Options{})
			r := bigRecord(t)
			msg, err := enc.Append(nil, r)
			if err != nil {
				t.Fatal(err)
			}
			fields := enc.(encoding.FieldEncoder).LastFields()
			out, full, err := f.appendFrame(nil, r, msg, fields)
			if err != nil {
				t.Fatalf("%s/%s: %v", format, proto, err)
			}
			line := strings.TrimSuffix(string(out), "\n")
			if full <= 20000 || len(line) > f.max {
				t.Fatalf("%s/%s: full %d, cut to %d (max %d)", format, proto, full, len(line), f.max)
			}
			wantID := "id=the-id-42"
			if format == "keyvalue" {
				wantID = `id="the-id-42";`
			}
			if !strings.HasSuffix(line, " "+wantID) || strings.Contains(line, "hhh") || strings.Contains(line, "beta") {
				t.Fatalf("%s/%s: cut wrong: %s", format, proto, line)
			}
			if !strings.Contains(line, strings.Repeat("a", 300)) { // whole pairs before the cut stay
				t.Fatalf("%s/%s: alpha lost: %s", format, proto, line)
			}
			if format == "cef" && !strings.Contains(line, "CEF:0|sophos|sophos central|1.0|Event::X|n|8|") {
				t.Fatalf("cef header lost: %s", line)
			}

			f.max = 300 // no pair but the id fits
			out, _, err = f.appendFrame(nil, r, msg, fields)
			if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), wantID) || strings.Contains(string(out), "aaa") {
				t.Fatalf("%s/%s: max 300: %q %v", format, proto, out, err)
			}
			msgStart := strings.Index(string(out), map[string]string{"cef": "CEF:", "keyvalue": "type="}[format])
			f.max = msgStart + 5 // the syslog header fits, not the MSG's header and id: not sent
			if _, _, err := f.appendFrame(nil, r, msg, fields); err == nil || !strings.HasPrefix(err.Error(), "oversize: the header and id") {
				t.Fatalf("%s/%s: header and id over max: %v", format, proto, err)
			}
			f.max = 600
			f.deadOver = true
			if _, _, err := f.appendFrame(nil, r, msg, fields); err == nil || !strings.HasPrefix(err.Error(), "oversize: ") {
				t.Fatalf("%s/%s: oversize dead_letter: %v", format, proto, err)
			}
		}
	}
}

// TestOversizeDeadLetter runs the pipeline's Deliverer over a UDP sink: with
// oversize truncate the receiver gets the cut message and the dead-letter
// file the full record with reason "truncated: …"; with dead_letter the
// receiver gets nothing and the file has the record. The other records are
// delivered either way.
func TestOversizeDeadLetter(t *testing.T) {
	for _, mode := range []string{"truncate", "dead_letter"} {
		t.Run(mode, func(t *testing.T) {
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			c := configFor("udp://" + pc.LocalAddr().String())
			c.Format, c.Oversize = "cef", mode
			s := newTestSink(t, c)
			dlq, err := pipeline.OpenDeadLetter(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer dlq.Close()
			d := &pipeline.Deliverer{Name: "soc", Sink: s, DeadLetter: dlq}
			big := bigRecord(t)
			batch := []*pipeline.Record{testRecord(t, 1), big, testRecord(t, 2)}
			delivered := 0
			d.OnDelivered = func(n int) { delivered += n }
			if !d.Deliver(context.Background(), batch) {
				t.Fatal("Deliver gave up")
			}
			pc.SetReadDeadline(time.Now().Add(2 * time.Second))
			var got []string
			buf := make([]byte, 70000)
			for {
				n, _, err := pc.ReadFrom(buf)
				if err != nil {
					break
				}
				got = append(got, string(buf[:n]))
				pc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			}
			wantSent := 3
			if mode == "dead_letter" {
				wantSent = 2
			}
			if len(got) != wantSent || delivered != 2 {
				t.Fatalf("receiver got %d messages (want %d), %d delivered", len(got), wantSent, delivered)
			}
			var entries []pipeline.DeadLetterEntry
			if err := pipeline.ReadDeadLetters(dlq.Path(), func(e pipeline.DeadLetterEntry) error { entries = append(entries, e); return nil }); err != nil {
				t.Fatal(err)
			}
			wantReason := "truncated: "
			if mode == "dead_letter" {
				wantReason = "oversize: "
			}
			if len(entries) != 1 || entries[0].ID != "the-id-42" || !strings.HasPrefix(entries[0].Reason, wantReason) ||
				!strings.Contains(string(entries[0].Record), strings.Repeat("h", 20000)) {
				t.Fatalf("dead-letter entries: %+v", entries)
			}
			if mode == "truncate" && (s.Truncated() != 1 || len(got[1]) > 8192 || !strings.Contains(got[1], "id=the-id-42")) {
				t.Fatalf("truncated %d, message %d bytes", s.Truncated(), len(got[1]))
			}
			if mode == "dead_letter" && s.Oversized() != 1 {
				t.Fatalf("Oversized() = %d", s.Oversized())
			}
		})
	}
}

// TestMetrics: the sink's counters are collected under its name.
func TestMetrics(t *testing.T) {
	s := newTestSink(t, configFor("udp://127.0.0.1:9"))
	s.truncated.Add(3)
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "sophos_connect_syslog_truncated_total" {
			m := mf.GetMetric()[0]
			found = m.GetCounter().GetValue() == 3 && m.GetLabel()[0].GetValue() == "test"
		}
	}
	if !found {
		t.Fatalf("truncated counter not collected: %v", mfs)
	}
}

// TestOversizeWarnRateLimited: one WARN naming the record id per 10 s per
// sink, however many messages are cut; the next one says how many were
// not logged.
func TestOversizeWarnRateLimited(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var buf strings.Builder
	var mu sync.Mutex
	c := configFor("udp://" + pc.LocalAddr().String())
	c.Format, c.Hostname = "cef", "collector-1"
	s, err := New("soc", c, slog.New(slog.NewTextHandler(&lockedWriter{&mu, &buf}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	batch := []*pipeline.Record{bigRecord(t), bigRecord(t), bigRecord(t)}
	s.Write(context.Background(), batch)
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if n := strings.Count(out, "level=WARN"); n != 1 || !strings.Contains(out, "id=the-id-42") || s.Truncated() != 3 {
		t.Fatalf("%d WARN lines, truncated %d:\n%s", n, s.Truncated(), out)
	}
	s.warnAt = time.Now().Add(-oversizeWarnEvery) // 10 s later
	s.Write(context.Background(), batch[:1])
	mu.Lock()
	out = buf.String()
	mu.Unlock()
	if n := strings.Count(out, "level=WARN"); n != 2 || !strings.Contains(out, "not_logged_since_last=2") {
		t.Fatalf("after 10 s: %d WARN lines:\n%s", n, out)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// FuzzCutFields: for any pairs and cap, a cut message fits the cap, starts
// with the syslog header and the encoder's head, holds the id pair, and is
// otherwise a prefix of whole pairs; or, when not even that fits, the
// record is refused.
func FuzzCutFields(f *testing.F) {
	f.Add("CEF:0|a|b|1|t|n|5|", "k1=v1 id=x k2=vvvvvvvvvvvvvv k3=é\n", uint16(90), true)
	f.Add("", "a=\"1\"; id=\"2\"; b=\"3\";", uint16(70), false)
	f.Fuzz(func(t *testing.T, head, pairsText string, max uint16, cef bool) {
		if !utf8.ValidString(head) || !utf8.ValidString(pairsText) {
			return // encoders write UTF-8 (JSON strings) with ASCII keys
		}
		fr := testFramer(t, "rfc3164", framingLF)
		fr.cefHead = cef
		var msg []byte
		fields := &encoding.Fields{}
		msg = append(msg, head...)
		fields.Head = len(msg)
		var pairs []string
		for i, p := range strings.Fields(pairsText) {
			if i > 0 || (!cef && head != "") {
				msg = append(msg, ' ')
			}
			start := len(msg)
			msg = append(msg, p...)
			fields.Pairs = append(fields.Pairs, encoding.Pair{Start: start, End: len(msg), ID: strings.HasPrefix(p, "id=")})
			pairs = append(pairs, p)
		}
		fr.max = int(max)
		r := &pipeline.Record{Stream: pipeline.Events, When: "2024-05-14T08:02:11Z"}
		out, full, err := fr.appendFrame(nil, r, msg, fields)
		if err != nil {
			return // refused: the header, or header and id, do not fit
		}
		line := strings.TrimSuffix(string(out), "\n")
		if full == 0 {
			return // it fitted whole
		}
		if len(line) > fr.max {
			t.Fatalf("%d bytes over max %d", len(line), fr.max)
		}
		wantHead := string(appendMsg(nil, []byte(head), true, true))
		if i := strings.Index(line, wantHead); i < 0 {
			t.Fatalf("head %q lost: %q", wantHead, line)
		}
		id := -1
		for i, p := range fields.Pairs {
			if p.ID {
				id = i
				break
			}
		}
		if id >= 0 && !strings.Contains(line, string(appendMsg(nil, []byte(pairs[id]), true, true))) {
			t.Fatalf("id pair %q lost: %q", pairs[id], line)
		}
	})
}
