package stdout

import (
	"bytes"
	"context"
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
