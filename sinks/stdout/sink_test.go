package stdout

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

func TestWritesOneLinePerRecord(t *testing.T) {
	for _, format := range []string{"raw", "cef", "txt", "keyvalue", "official-json", "ecs"} {
		s, err := New("out", Config{Format: format}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		s.W = &buf
		var batch []*pipeline.Record
		for _, raw := range []string{
			`{"id":"a","type":"Event::Endpoint::UpdateSuccess","severity":"low","created_at":"2026-11-26T10:00:00.000Z","when":"2026-11-26T10:00:00.000Z","name":"ok\nsecond line"}`,
			`{"id":"b","type":"Event::Endpoint::UpdateSuccess","severity":"high","created_at":"2026-11-26T10:00:01.000Z","when":"2026-11-26T10:00:01.000Z","name":"two"}`,
		} {
			r, err := pipeline.NewRecord(pipeline.Events, "t", []byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			batch = append(batch, &r)
		}
		if err := s.Write(context.Background(), batch); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		out := buf.String()
		if !strings.HasSuffix(out, "\n") || !strings.Contains(out, "two") {
			t.Fatalf("%s: %q", format, out)
		}
	}
	if _, err := New("out", Config{Format: "xml"}, nil); err == nil {
		t.Fatal("unknown format accepted")
	}
}

// BenchmarkStdout: records/s of one 500-record batch in the raw and cef
// formats, written to io.Discard.
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
			for b.Loop() {
				if err := s.Write(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "records/s")
		})
	}
}
