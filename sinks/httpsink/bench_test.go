package httpsink

import (
	"context"
	"testing"

	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
	"github.com/sophos-connect/sophos-connect/sinks/httpsink/httpsinktest"
)

// BenchmarkHTTPSink writes batches of 1000 records (raw, NDJSON, gzip) to
// the in-process receiver, which decompresses, splits and parses every
// record.
//
//	go test -run '^$' -bench BenchmarkHTTPSink -benchtime 50x ./sinks/httpsink/
func BenchmarkHTTPSink(b *testing.B) {
	srv := httpsinktest.New(httpsinktest.Options{})
	defer srv.Close()
	c := testConfig(srv)
	c.Compression = "gzip"
	s := started(b, c)
	const batch = 1000
	pool := outtest.Records(b, "bench", 20*batch)
	ctx := context.Background()
	var body int64
	cpu0 := outtest.CPUTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lo := (i * batch) % len(pool)
		if err := s.Write(ctx, pool[lo:lo+batch]); err != nil {
			b.Fatal(err)
		}
		body += int64(s.lastBytes)
	}
	b.StopTimer()
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64((outtest.CPUTime()-cpu0).Microseconds())/float64(b.N*batch), "cpu-µs/record")
	b.ReportMetric(float64(b.N*batch)/sec, "records/s")
	b.ReportMetric(float64(body)/sec/1e6, "MB/s")
	b.ReportMetric(float64(body)/float64(b.N*batch), "B/record")
}
