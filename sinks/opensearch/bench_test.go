package opensearch

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/sophos-connect/sophos-connect/sinks/elasticsearch/elasticsearchtest"
)

// BenchmarkOpenSearchSink writes batches of 1000 ECS documents to the test
// server answering as OpenSearch, through opensearch-go's transport. Each
// iteration is one batch.
//
//	go test -run '^$' -bench BenchmarkOpenSearchSink -benchtime 20x ./sinks/opensearch/
func BenchmarkOpenSearchSink(b *testing.B) {
	srv := elasticsearchtest.New(elasticsearchtest.Options{Distribution: "opensearch", DiscardSource: true})
	defer srv.Close()
	c := DefaultConfig()
	c.Addresses = []string{srv.URL}
	c.Index = "bench-${stream}"
	s, err := New("bench", c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	const batch = 1000
	pool := records(b, "bench", 20*batch)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lo := (i * batch) % len(pool)
		if err := s.Write(context.Background(), pool[lo:lo+batch]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "docs/s")
}
