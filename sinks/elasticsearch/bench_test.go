package elasticsearch

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/sophos-connect/sophos-connect/internal/cputime"
	"github.com/sophos-connect/sophos-connect/sinks/elasticsearch/elasticsearchtest"
)

// BenchmarkElasticsearchSink writes batches of 1000 ECS documents (~1 KB
// each) to the in-process test server, which parses every line, checks
// every field against the mapping and keeps ids and versions. Each
// iteration is one batch; docs/s and MB/s (of bulk body) are reported.
//
//	go test -run '^$' -bench BenchmarkElasticsearchSink -benchtime 100x ./sinks/elasticsearch/
func BenchmarkElasticsearchSink(b *testing.B) {
	b.Run("ecs", func(b *testing.B) { benchSink(b, "ecs") })
	// Elasticsearch's default format: the Agent's document, the item in message
	b.Run("integration", func(b *testing.B) { benchSink(b, "integration") })
	// raw costs the encoder ~1 µs instead of ~8: what the sink and the
	// server do besides encoding
	b.Run("raw", func(b *testing.B) { benchSink(b, "raw") })
}

func benchSink(b *testing.B, format string) {
	srv := elasticsearchtest.New(elasticsearchtest.Options{DiscardSource: true})
	defer srv.Close()
	c := ecsConfig()
	c.Addresses = []string{srv.URL}
	c.Index = "bench-${stream}"
	c.Format = format
	if format == "integration" {
		c.Index, c.Namespace = "", "bench" // it writes to the integration's data streams
	}
	s, err := New("bench", c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	const batch = 1000
	samples := loadSamples(b)
	if format == "raw" {
		// the raw alerts disagree on field types (data.event_service_id is a
		// string in one and an object in another): raw events only
		samples = samples[:8]
	}
	// distinct ids for every document written, so the server indexes
	// (creates) rather than overwrites
	pool := makeRecords(b, samples, "bench", 20*batch, fixedWhen)
	var bytes int64
	for _, r := range pool[:batch] {
		enc, _ := s.workers[0].enc.Append(nil, r)
		bytes += int64(len(enc))
	}
	avg := float64(bytes) / batch
	ctx := context.Background()
	var body int64
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lo := (i * batch) % len(pool)
		recs := pool[lo : lo+batch]
		if err := s.Write(ctx, recs); err != nil {
			b.Fatal(err)
		}
		body += int64(s.lastBytes)
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	sec := b.Elapsed().Seconds()
	// the machine is shared: CPU time per document (client and server in
	// this process) says more than wall time when others are busy
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*batch), "cpu-µs/doc")
	b.ReportMetric(float64(b.N*batch)/sec, "docs/s")
	b.ReportMetric(float64(body)/sec/1e6, "MB/s")
	b.ReportMetric(avg, "B/doc")
	if st := srv.Stats(); st.Items < b.N*batch {
		b.Fatalf("server saw %d items", st.Items)
	}
}

// cpuTime is the process's user+system CPU time (kept per package so the
// benchmarks read as before).
var cpuTime = cputime.Self
