package otlp

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
	"github.com/sophos-connect/sophos-connect/sinks/otlp/otlptest"
)

// The benchmarks write batches of 1000 records (format raw, gzip, 4 MiB
// requests) and report records/s, the sink's process's CPU µs per record
// (the in-process receiver's included) and request bytes per record:
//
//	go test -run '^$' -bench 'BenchmarkOTLP' -benchtime 50x ./sinks/otlp/
//
// BenchmarkOTLP into the in-process test receiver, which decompresses and
// decodes every request.
func BenchmarkOTLP(b *testing.B) {
	for _, enc := range []string{"proto", "json"} {
		b.Run(enc, func(b *testing.B) {
			srv := testServer(b, otlptest.Options{})
			c := testConfig(srv.URL)
			c.Encoding = enc
			s := started(b, c)
			outtest.Bench(b, s.Write, func() int { return int(s.lastBytes.Load()) })
		})
	}
}

// BenchmarkOTLPDiscard into a receiver that reads each request and answers
// an empty ExportLogsServiceResponse without decoding: the sink's own
// ceiling.
func BenchmarkOTLPDiscard(b *testing.B) {
	for _, enc := range []string{"proto", "json"} {
		b.Run(enc, func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
				if enc == "json" {
					io.WriteString(w, "{}")
				}
			}))
			b.Cleanup(srv.Close)
			c := testConfig(srv.URL)
			c.Encoding = enc
			s := started(b, c)
			outtest.Bench(b, s.Write, func() int { return int(s.lastBytes.Load()) })
		})
	}
}

// BenchmarkOTLPCollector into a real OpenTelemetry Collector ($OTELCOL_BIN:
// the otlp receiver and the file exporter, which writes every request as
// JSON); cpu-µs/record is the sink's process, peer-cpu-µs/record the
// collector's.
func BenchmarkOTLPCollector(b *testing.B) {
	col := startCollector(b)
	s := started(b, testConfig(col.endpoint()))
	cpu0 := outtest.ProcessCPU(col.cmd.Process.Pid)
	outtest.Bench(b, s.Write, func() int { return int(s.lastBytes.Load()) })
	outtest.ReportPeerCPU(b, col.cmd.Process.Pid, cpu0, b.N*1000)
}

// BenchmarkOTLPEncode is the sink's encode path alone: 1000 records (format
// raw) into their bodies and the protobuf LogsData of one request, as send
// builds it before compression.
//
//	go test -run '^$' -bench 'BenchmarkOTLPEncode' -benchtime 200x ./sinks/otlp/
func BenchmarkOTLPEncode(b *testing.B) {
	s := newSink(b, testConfig("http://127.0.0.1:4318"), nil)
	sc := new(protoScratch)
	var body []byte
	now := time.Now()
	outtest.BenchEncode(b, func(batch []*pipeline.Record) {
		e, be := s.batches.Encode(batch, "bench", s.appendBody)
		if len(be.Items) > 0 {
			b.Fatal(be)
		}
		body = s.build.appendProto(body[:0], sc, batch, e, httpout.Span{Lo: 0, Hi: e.Len()}, now)
		s.batches.Release(e)
	})
	b.ReportMetric(float64(len(body))/1000, "B/record")
}
