package encoding

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// pageRecords reads a SIEM page from testdata and returns its items as records.
func pageRecords(t testing.TB, file string, stream pipeline.Stream) []*pipeline.Record {
	t.Helper()
	page, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	items := rawjson.Get(page, "items")
	var recs []*pipeline.Record
	err = rawjson.EachElement(items, func(v []byte) bool {
		r, err := pipeline.NewRecord(stream, "3f8a2c71-5d1e-4b9a-8c07-6e2f19d4a5b8", v)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &r)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// rec builds a record from a JSON object literal without requiring an id.
func rec(stream pipeline.Stream, raw string) *pipeline.Record {
	r, _ := pipeline.NewRecord(stream, "tenant-1", []byte(raw))
	return &r
}

// mustNew returns an encoder; warnings go nowhere unless the test asks.
func mustNew(t testing.TB, format string, o Options) Encoder {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	e, err := New(format, o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func encode(t testing.TB, e Encoder, r *pipeline.Record) string {
	t.Helper()
	out, err := e.Append(nil, r)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return string(out)
}

func findRecord(t testing.TB, recs []*pipeline.Record, typ string) *pipeline.Record {
	t.Helper()
	for _, r := range recs {
		if r.Type == typ {
			return r
		}
	}
	t.Fatalf("no record of type %s", typ)
	return nil
}
