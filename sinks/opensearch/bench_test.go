package opensearch

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/internal/cputime"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/elasticsearch/elasticsearchtest"
)

// BenchmarkOpenSearchSink writes batches of 1000 documents through
// opensearch-go's transport, adaptive concurrency: receiver=opensearch is
// the real node of OPENSEARCH_URL (skipped when unset; `source
// /work/peers/services.env` or test/services/search.sh), receiver=testserver
// the in-process test server answering as OpenSearch. Formats ecs (the
// default) and raw (events only: the raw alerts disagree on field types).
// docs/s, CPU-µs per document (this process: the sink, and the test server
// when it is the receiver) and allocations per document are reported.
//
//	go test -run '^$' -bench BenchmarkOpenSearchSink -benchtime 50x ./sinks/opensearch/
func BenchmarkOpenSearchSink(b *testing.B) {
	for _, format := range []string{"ecs", "raw"} {
		b.Run("receiver=opensearch/format="+format, func(b *testing.B) {
			u := strings.TrimRight(os.Getenv("OPENSEARCH_URL"), "/")
			if u == "" {
				b.Skip("OPENSEARCH_URL is not set: start a node with `eval \"$(bash test/services/search.sh start)\"`")
			}
			run := runID()
			tg := target{url: u, prefix: "scbench-" + run + "-", run: run}
			b.Cleanup(func() { tg.cleanup(b) })
			benchSink(b, tg, format)
		})
		b.Run("receiver=testserver/format="+format, func(b *testing.B) {
			srv := elasticsearchtest.New(elasticsearchtest.Options{Distribution: "opensearch", DiscardSource: true})
			defer srv.Close()
			run := runID()
			benchSink(b, target{url: srv.URL, prefix: "scbench-" + run + "-", run: run}, format)
		})
	}
}

func benchSink(b *testing.B, tg target, format string) {
	c := tg.config("${stream}")
	c.Format = format
	s, err := New("bench", c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	const batch = 1000
	pool := records(b, tg.run, 40*batch)
	if format == "raw" {
		events := pool[:0]
		for _, r := range pool {
			if r.Stream == pipeline.Events {
				events = append(events, r)
			}
		}
		pool = events
	}
	ctx := context.Background()
	if err := s.Write(ctx, pool[:batch]); err != nil { // warm-up
		b.Fatal(err)
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := cputime.Self()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lo := (i * batch) % (len(pool) - batch)
		if err := s.Write(ctx, pool[lo:lo+batch]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu := cputime.Self() - cpu0
	runtime.ReadMemStats(&ms1)
	n := float64(b.N * batch)
	b.ReportMetric(n/b.Elapsed().Seconds(), "docs/s")
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/doc")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/doc")
	b.ReportMetric(float64(s.Requests.Limiter.Limit()), "limit")
}
