package httpsink

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
)

// benchReceiver is an NDJSON receiver that costs little, so that the
// benchmark measures the sink: it gunzips each request and counts its
// lines but parses none, and answers 200.
func benchReceiver(b *testing.B) (*httptest.Server, *outtest.Counter) {
	var n outtest.Counter
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lines := 0
		if err := outtest.Body(r, func(body []byte) { lines = bytes.Count(body, []byte("\n")) }); err != nil {
			w.WriteHeader(400)
			return
		}
		n.Requests.Add(1)
		n.Records.Add(int64(lines))
	}))
	b.Cleanup(srv.Close)
	return srv, &n
}

// BenchmarkHTTPSink writes batches of 1000 records (raw, NDJSON, gzip level
// 1, adaptive concurrency) to a receiver that costs little (benchReceiver).
//
//	go test -run '^$' -bench 'BenchmarkHTTPSink$' -benchtime 200x ./sinks/httpsink/
func BenchmarkHTTPSink(b *testing.B) {
	srv, got := benchReceiver(b)
	c := DefaultConfig()
	c.URL, c.Timeout = srv.URL+"/ingest", config.Duration(10*time.Second)
	c.Compression = "gzip"
	c.Request.Concurrency = httpout.Concurrency(outtest.BenchConcurrency())
	s := started(b, c)
	outtest.Bench(b, s.Write, func() int { return int(s.lastBytes.Load()) })
	if want := int64(b.N+1) * 1000; got.Records.Load() != want {
		b.Fatalf("the receiver counted %d records, want %d", got.Records.Load(), want)
	}
	b.ReportMetric(float64(s.lim.Limit()), "limit")
}

// BenchmarkHTTPSinkEncode is the sink's encode path alone: 1000 records
// (raw) into NDJSON.
//
//	go test -run '^$' -bench 'BenchmarkHTTPSinkEncode' -benchtime 200x ./sinks/httpsink/
func BenchmarkHTTPSinkEncode(b *testing.B) {
	c := DefaultConfig()
	c.URL = "http://127.0.0.1:1/ingest"
	s := started(b, c)
	var enc httpout.Encoded
	outtest.BenchEncode(b, func(batch []*pipeline.Record) {
		if be := enc.Encode(batch, "bench", s.encode); len(be.Items) > 0 {
			b.Fatal(be)
		}
	})
}
