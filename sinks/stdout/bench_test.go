package stdout

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// BenchmarkStdout: records/s of one 500-record batch in the raw and cef
// formats, written to io.Discard (records/s and allocations a batch).
//
//	go test -run '^$' -bench BenchmarkStdout -benchtime 200x ./sinks/stdout/
func BenchmarkStdout(b *testing.B) {
	batch := make([]*pipeline.Record, 500)
	for i := range batch {
		r, err := pipeline.NewRecord(pipeline.Events, "t", []byte(`{"id":"`+strings.Repeat("a", 8)+`","type":"Event::Endpoint::UpdateSuccess","severity":"low","created_at":"2026-11-26T10:00:00.000Z","when":"2026-11-26T10:00:00.000Z","name":"Update succeeded","location":"WKS-1"}`))
		if err != nil {
			b.Fatal(err)
		}
		batch[i] = &r
	}
	for _, format := range []string{"raw", "cef"} {
		b.Run(format, func(b *testing.B) {
			s, err := New("out", Config{Format: format}, nil)
			if err != nil {
				b.Fatal(err)
			}
			s.W = io.Discard
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Write(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "records/s")
		})
	}
}
