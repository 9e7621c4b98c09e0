package encoding

import (
	"log/slog"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// BenchmarkEncode encodes the reference's sample items (8 events, 4 alerts)
// round robin into a reused buffer, as a sink does. records/cpu-s divides by
// the process's CPU time rather than wall time: on a shared machine it is
// the steadier figure.
func BenchmarkEncode(b *testing.B) {
	benchEncode(b, func(format string) Encoder { return mustNew(b, format, Options{}) })
}

// BenchmarkEncodeOracle is BenchmarkEncode for the encoders before the tape
// rewrite (oracle_test.go), for a before/after comparison under the same
// machine load: go test -run XXX -bench 'Encode(Oracle)?/(ecs|cef)$' ./sinks/encoding/
func BenchmarkEncodeOracle(b *testing.B) {
	benchEncode(b, func(format string) Encoder {
		e, err := refNew(format, refOptions{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return nil
		}
		return e
	})
}

func benchEncode(b *testing.B, newEnc func(format string) Encoder) {
	recs := append(pageRecords(b, "events_page.json", pipeline.Events), pageRecords(b, "alerts_page.json", pipeline.Alerts)...)
	for _, format := range Formats {
		b.Run(format, func(b *testing.B) {
			enc := newEnc(format)
			if enc == nil {
				b.Skip("no oracle for", format)
			}
			var buf []byte
			var bytesOut int
			for i := range recs { // warm the scratch buffers
				buf, _ = enc.Append(buf[:0], recs[i])
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				var err error
				buf, err = enc.Append(buf[:0], recs[i%len(recs)])
				if err != nil {
					b.Fatal(err)
				}
				bytesOut += len(buf)
			}
			cpu := cpuTime() - cpu0
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			if cpu > 0 {
				b.ReportMetric(float64(b.N)/cpu.Seconds(), "records/cpu-s")
			}
			b.ReportMetric(float64(bytesOut)/float64(b.N), "B/record")
		})
	}
}

// BenchmarkEncodeVsOracle alternates the encoders and the oracle (the
// encoders before the tape rewrite) every 96 records, so both see the same
// machine load, and reports each one's ns per record and the speedup: the
// steadiest before/after figure on a shared machine.
//
//	go test -run XXX -bench EncodeVsOracle -benchtime 200x ./sinks/encoding/
func BenchmarkEncodeVsOracle(b *testing.B) {
	recs := append(pageRecords(b, "events_page.json", pipeline.Events), pageRecords(b, "alerts_page.json", pipeline.Alerts)...)
	const chunk = 96
	for _, format := range Formats {
		b.Run(format, func(b *testing.B) {
			enc := mustNew(b, format, Options{})
			ref, err := refNew(format, refOptions{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Skip("no oracle for", format)
			}
			var buf []byte
			run := func(e Encoder) time.Duration {
				start := time.Now()
				for i := 0; i < chunk; i++ {
					buf, _ = e.Append(buf[:0], recs[i%len(recs)])
				}
				return time.Since(start)
			}
			run(enc)
			run(ref)
			var tNew, tOld time.Duration
			for i := 0; i < b.N; i++ {
				tNew += run(enc)
				tOld += run(ref)
			}
			n := float64(b.N * chunk)
			b.ReportMetric(float64(tNew.Nanoseconds())/n, "ns/record")
			b.ReportMetric(float64(tOld.Nanoseconds())/n, "oracle-ns/record")
			b.ReportMetric(float64(tOld)/float64(tNew), "speedup")
		})
	}
}
