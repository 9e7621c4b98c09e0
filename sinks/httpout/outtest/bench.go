package outtest

import (
	"context"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// Bench writes batches of 1000 records with write (a sink's Write, its peer
// in this process) and reports records/s, MB/s and bytes per record of
// request body (lastBytes: the body bytes of the last write), and CPU
// microseconds per record: the sink and its peer share this process, and on
// a busy machine CPU time says more than wall time.
func Bench(b *testing.B, write func(context.Context, []*pipeline.Record) error, lastBytes func() int) {
	BenchBatch(b, 1000, write, lastBytes)
}

// BenchBatch is Bench with batches of batch records (sinks that gather
// large batches, as s3, pay their per-request cost once per batch).
func BenchBatch(b *testing.B, batch int, write func(context.Context, []*pipeline.Record) error, lastBytes func() int) {
	pool := Records(b, "bench", batch*max(2, 20_000/batch))
	ctx := context.Background()
	var body int64
	cpu0 := CPUTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lo := (i * batch) % len(pool)
		if err := write(ctx, pool[lo:lo+batch]); err != nil {
			b.Fatal(err)
		}
		body += int64(lastBytes())
	}
	b.StopTimer()
	sec := b.Elapsed().Seconds()
	n := float64(b.N * batch)
	b.ReportMetric(float64((CPUTime()-cpu0).Microseconds())/n, "cpu-µs/record")
	b.ReportMetric(n/sec, "records/s")
	b.ReportMetric(float64(body)/sec/1e6, "MB/s")
	b.ReportMetric(float64(body)/n, "B/record")
}
