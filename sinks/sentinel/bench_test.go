package sentinel

import (
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
	"github.com/sophos-connect/sophos-connect/sinks/sentinel/sentineltest"
)

// BenchmarkSentinel writes batches of 1000 records (format sentinel, gzip
// level 1, calls under 1 MB, adaptive concurrency) over TLS to a Logs
// Ingestion API that costs little: sentineltest in its CountOnly mode
// (tokens, limits and answers as Azure's; each call gunzipped and its
// rows counted, none parsed; 204).
//
//	go test -run '^$' -bench 'BenchmarkSentinel$' -benchtime 200x ./sinks/sentinel/
func BenchmarkSentinel(b *testing.B) {
	srv := testServer(b, sentineltest.Options{CountOnly: true})
	c := testConfig(b, srv)
	c.Request.Concurrency = httpout.Concurrency(outtest.BenchConcurrency())
	s := started(b, c)
	outtest.Bench(b, s.Write, func() int { return int(s.lastBytes.Load()) })
	if want := (b.N + 1) * 1000; srv.Stats().Rows != want {
		b.Fatalf("the receiver counted %d rows, want %d", srv.Stats().Rows, want)
	}
	b.ReportMetric(float64(s.lim.Limit()), "limit")
}

// BenchmarkSentinelEncode is the sink's encode path alone: 1000 records
// into rows of the default DCR shape.
//
//	go test -run '^$' -bench 'BenchmarkSentinelEncode' -benchtime 200x ./sinks/sentinel/
func BenchmarkSentinelEncode(b *testing.B) {
	outtest.BenchEncode(b, func() func([]*pipeline.Record) {
		var enc httpout.Encoded
		return func(batch []*pipeline.Record) {
			if be := enc.Encode(batch, "bench", row); len(be.Items) > 0 {
				b.Fatal(be)
			}
		}
	}())
}
