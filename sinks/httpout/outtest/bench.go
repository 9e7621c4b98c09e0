package outtest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// Bench writes batches of 1000 records with write (a sink's Write, its peer
// in this process) and reports records/s, MB/s and bytes per record of
// request body (lastBytes: the body bytes of the last write), CPU
// microseconds per record (the sink and its peer share this process, and
// on a busy machine CPU time says more than wall time) and heap
// allocations per record (the process's, receiver included).
func Bench(b *testing.B, write func(context.Context, []*pipeline.Record) error, lastBytes func() int) {
	BenchBatch(b, 1000, write, lastBytes)
}

// BenchBatch is Bench with batches of batch records (sinks that gather
// large batches, as s3, pay their per-request cost once per batch).
func BenchBatch(b *testing.B, batch int, write func(context.Context, []*pipeline.Record) error, lastBytes func() int) {
	pool := Records(b, "bench", batch*max(2, 20_000/batch))
	ctx := context.Background()
	// one batch first: connections, pools and the limiter warmed up
	if err := write(ctx, pool[:batch]); err != nil {
		b.Fatal(err)
	}
	perBatch := int64(lastBytes())
	var body int64
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := CPUTime()
	b.ResetTimer()
	if at := BenchBatches(); at > 1 {
		// as the pipeline writes a ConcurrentSink: `at` batches in Write
		// at once (lastBytes is a single Write's: the warm-up's stands in)
		var next atomic.Int64
		var wg sync.WaitGroup
		for range at {
			wg.Go(func() {
				for i := int(next.Add(1)) - 1; i < b.N; i = int(next.Add(1)) - 1 {
					lo := (i * batch) % len(pool)
					if err := write(ctx, pool[lo:lo+batch]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		body = perBatch * int64(b.N)
	} else {
		for i := 0; i < b.N; i++ {
			lo := (i * batch) % len(pool)
			if err := write(ctx, pool[lo:lo+batch]); err != nil {
				b.Fatal(err)
			}
			body += int64(lastBytes())
		}
	}
	b.StopTimer()
	cpu := CPUTime() - cpu0
	runtime.ReadMemStats(&ms1)
	sec := b.Elapsed().Seconds()
	n := float64(b.N * batch)
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/record")
	b.ReportMetric(n/sec, "records/s")
	b.ReportMetric(float64(body)/sec/1e6, "MB/s")
	b.ReportMetric(float64(body)/n, "B/record")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/record")
}

// BenchEncode runs a sink's encode path alone (encode: the batch into the
// sink's request bodies, no request) over batches of 1000 records and
// reports its CPU time (one goroutine: other processes on a shared machine
// do not count) and heap allocations per record.
func BenchEncode(b *testing.B, encode func([]*pipeline.Record)) {
	const batch = 1000
	pool := Records(b, "bench", 20*batch)
	encode(pool[:batch]) // buffers grown once
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := CPUTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lo := (i * batch) % len(pool)
		encode(pool[lo : lo+batch])
	}
	b.StopTimer()
	cpu := CPUTime() - cpu0
	runtime.ReadMemStats(&ms1)
	n := float64(b.N * batch)
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/record")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/record")
}

// Counter is what a benchmark's receiver took.
type Counter struct {
	Requests, Records, Bytes atomic.Int64
}

var gzReaders sync.Pool

var bodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Body reads a request's body into a pooled buffer, gunzipped when its
// Content-Encoding is gzip, and passes it to fn: a benchmark's receiver
// costs little next to the sink it measures.
func Body(r *http.Request, fn func([]byte)) error {
	buf := bodyBufs.Get().(*bytes.Buffer)
	defer bodyBufs.Put(buf)
	buf.Reset()
	var rd io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, _ := gzReaders.Get().(*gzip.Reader)
		if zr == nil {
			var err error
			if zr, err = gzip.NewReader(r.Body); err != nil {
				return err
			}
		} else if err := zr.Reset(r.Body); err != nil {
			return err
		}
		defer gzReaders.Put(zr)
		rd = zr
	}
	if _, err := buf.ReadFrom(rd); err != nil {
		return err
	}
	fn(buf.Bytes())
	return nil
}

// BenchBatches is how many batches a benchmark writes at once: 1, or
// BENCH_BATCHES=N (as the pipeline has up to request.concurrency batches
// in an HTTP sink's Write at once).
func BenchBatches() int {
	n, _ := strconv.Atoi(os.Getenv("BENCH_BATCHES"))
	return max(1, n)
}

// BenchConcurrency is request.concurrency for a benchmark: adaptive, or
// BENCH_CONCURRENCY=N (to compare with N requests in flight).
func BenchConcurrency() int {
	n, _ := strconv.Atoi(os.Getenv("BENCH_CONCURRENCY"))
	return n
}
