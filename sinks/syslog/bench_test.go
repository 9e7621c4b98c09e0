package syslog

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

const benchBatch = 500 // the pipeline's default batch.max_events

// benchWrite writes b.N records in batches and reports records/s.
func benchWrite(b *testing.B, s *Sink, recs []*pipeline.Record) {
	b.Helper()
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for done := 0; done < b.N; {
		k := min(benchBatch, b.N-done)
		if err := s.Write(context.Background(), recs[:k]); err != nil {
			b.Fatal(err)
		}
		done += k
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkSyslogTCP measures the sink over loopback TCP (octet-counting)
// into a Go receiver that drains the socket: encoding, framing and the
// socket writes, per protocol and format (cef, the default, and raw).
func BenchmarkSyslogTCP(b *testing.B) {
	for _, protocol := range []string{"rfc5424", "rfc3164"} {
		for _, format := range []string{testFormat(), "raw"} {
			b.Run(protocol+"/"+format, func(b *testing.B) {
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				go func() {
					for {
						c, err := l.Accept()
						if err != nil {
							return
						}
						go func() { io.Copy(io.Discard, c); c.Close() }()
					}
				}()
				c := configFor("tcp://" + l.Addr().String())
				c.Protocol, c.Format = protocol, format
				benchWrite(b, newTestSink(b, c), testRecords(b, 0, benchBatch))
			})
		}
	}
}

// BenchmarkSyslogRsyslog is the same into a real rsyslogd (imtcp, messages
// parsed and discarded).
func BenchmarkSyslogRsyslog(b *testing.B) {
	rs := startRsyslog(b, rsyslogOptions{tcp: true, discard: true})
	c := configFor(fmt.Sprintf("tcp://127.0.0.1:%d", rs.tcpPort))
	benchWrite(b, newTestSink(b, c), testRecords(b, 0, benchBatch))
}

// BenchmarkFrame is the per-record cost of the syslog framing alone (the
// MSG already encoded).
func BenchmarkFrame(b *testing.B) {
	r := testRecord(b, 1)
	msg := []byte(encodeMsg(b, testFormat(), r))
	for _, protocol := range []string{"rfc5424", "rfc3164"} {
		b.Run(protocol, func(b *testing.B) {
			f := testFramer(b, protocol, framingOctet)
			var dst []byte
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, _, err = f.appendFrame(dst[:0], r, msg, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRELPvsTCP compares acknowledged RELP with plain TCP into the
// same real rsyslogd on loopback (imrelp and imtcp, messages parsed and
// discarded), with the sink's defaults (cef, RFC 3164): the cost of
// waiting for every rsp 200, at the default window.
func BenchmarkRELPvsTCP(b *testing.B) {
	rs := startRsyslog(b, rsyslogOptions{tcp: true, relp: true, discard: true})
	for _, tt := range []struct{ name, addr string }{
		{"tcp", fmt.Sprintf("tcp://127.0.0.1:%d", rs.tcpPort)},
		{"relp", fmt.Sprintf("relp://127.0.0.1:%d", rs.relpPort)},
		{"relp-window1024", fmt.Sprintf("relp://127.0.0.1:%d", rs.relpPort)},
	} {
		b.Run(tt.name, func(b *testing.B) {
			c := DefaultConfig()
			c.Address, c.Hostname = tt.addr, "collector-1"
			if strings.HasSuffix(tt.name, "1024") {
				c.Window = 1024
			}
			benchWrite(b, newTestSink(b, c), testRecords(b, 0, benchBatch))
		})
	}
}
