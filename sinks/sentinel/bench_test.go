package sentinel

import (
	"context"
	"testing"

	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
	"github.com/sophos-connect/sophos-connect/sinks/sentinel/sentineltest"
)

// BenchmarkSentinel writes batches of 1000 records (format sentinel, gzip,
// calls under 1 MB) to the in-process Logs Ingestion API, which
// decompresses, parses and type-checks every row against the DCR.
//
//	go test -run '^$' -bench BenchmarkSentinel -benchtime 50x ./sinks/sentinel/
func BenchmarkSentinel(b *testing.B) {
	srv := testServer(b, sentineltest.Options{DiscardRows: true})
	s := started(b, testConfig(b, srv))
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
