package splunkhec

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
	"github.com/sophos-connect/sophos-connect/sinks/splunkhec/hectest"
)

// BenchmarkSplunkHEC writes batches of 1000 records (raw format, gzip) to
// the in-process HEC, which decompresses and parses every envelope; with
// ack the sink also waits for each request's acknowledgement (polled every
// 5 ms here; a real indexer acknowledges in about a second).
//
//	go test -run '^$' -bench BenchmarkSplunkHEC -benchtime 50x ./sinks/splunkhec/
func BenchmarkSplunkHEC(b *testing.B) {
	for _, ack := range []bool{false, true} {
		b.Run(fmt.Sprintf("ack=%v", ack), func(b *testing.B) {
			srv := hectest.New(hectest.Options{DiscardEvents: true, Tokens: map[string]hectest.Token{"t": {Ack: ack}}})
			defer srv.Close()
			c := testConfig(srv, "t")
			c.Ack, c.AckPollInterval = ack, config.Duration(5*time.Millisecond)
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
			// sink and server share this process: CPU per record is the
			// figure that survives a busy machine
			b.ReportMetric(float64((outtest.CPUTime()-cpu0).Microseconds())/float64(b.N*batch), "cpu-µs/record")
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(b.N*batch)/sec, "records/s")
			b.ReportMetric(float64(body)/sec/1e6, "MB/s")
			b.ReportMetric(float64(body)/float64(b.N*batch), "B/record")
		})
	}
}
