package file

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// The file sinks' cost per record: one 1000-record batch a Write, into a
// file in the test's temporary folder (records/s, bytes/s and allocations).
//
//	go test -run '^$' -bench . -benchtime 200x ./sinks/file/

func BenchmarkTxtSink(b *testing.B) {
	benchSink(b, func(path string) pipeline.Sink {
		s, _ := NewTxt("t", TxtConfig{Path: path, Format: "txt"}, nil)
		return s
	})
}

func BenchmarkJSONArraySink(b *testing.B) {
	benchSink(b, func(path string) pipeline.Sink {
		s, _ := NewJSON("j", JSONConfig{Path: path, Layout: "array"}, nil)
		return s
	})
}

func BenchmarkJSONLinesSink(b *testing.B) {
	benchSink(b, func(path string) pipeline.Sink {
		s, _ := NewJSON("j", JSONConfig{Path: path, Layout: "lines"}, nil)
		return s
	})
}

func benchSink(b *testing.B, mk func(string) pipeline.Sink) {
	recs := records(b, pipeline.Events, 0, 1000)
	var size int
	for _, r := range recs {
		size += len(r.Raw)
	}
	s := mk(filepath.Join(b.TempDir(), "out"))
	ctx := context.Background()
	s.Start(ctx)
	defer s.Close()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Write(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
}
