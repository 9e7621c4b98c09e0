package splunkhec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
)

// benchHEC is a HEC that costs little, so that the benchmark measures the
// sink: it gunzips each request and counts its envelopes (one per line)
// but parses none; it answers as HEC does, with an ackId when ack is on,
// and acknowledges every ackId it is asked about.
func benchHEC(b *testing.B, ack bool) (*httptest.Server, *outtest.Counter) {
	var n outtest.Counter
	var ackID atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /services/collector/health", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"text":"HEC is healthy","code":17}`))
	})
	mux.HandleFunc("POST /services/collector/event", func(w http.ResponseWriter, r *http.Request) {
		var events int
		if err := outtest.Body(r, func(body []byte) { events = bytes.Count(body, []byte("}\n")) }); err != nil {
			w.WriteHeader(400)
			return
		}
		if events == 0 {
			w.WriteHeader(400)
			w.Write([]byte(`{"text":"No data","code":5}`))
			return
		}
		n.Requests.Add(1)
		n.Records.Add(int64(events))
		if ack {
			w.Write(strconv.AppendInt([]byte(`{"text":"Success","code":0,"ackId":`), ackID.Add(1), 10))
			w.Write([]byte("}"))
			return
		}
		w.Write([]byte(`{"text":"Success","code":0}`))
	})
	mux.HandleFunc("POST /services/collector/ack", func(w http.ResponseWriter, r *http.Request) {
		var q struct{ Acks []int64 }
		json.NewDecoder(r.Body).Decode(&q)
		out := []byte(`{"acks":{`)
		for i, id := range q.Acks {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, '"')
			out = strconv.AppendInt(out, id, 10)
			out = append(out, `":true`...)
		}
		w.Write(append(out, "}}"...))
	})
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	return srv, &n
}

// BenchmarkSplunkHEC writes batches of 1000 records (raw format, gzip
// level 1, adaptive concurrency) to a HEC that costs little (benchHEC);
// with ack the sink also waits for each request's acknowledgement, polled
// every 5 ms (a real indexer takes longer, see the README).
//
//	go test -run '^$' -bench 'BenchmarkSplunkHEC$' -benchtime 200x ./sinks/splunkhec/
func BenchmarkSplunkHEC(b *testing.B) {
	for _, ack := range []bool{false, true} {
		b.Run(fmt.Sprintf("ack=%v", ack), func(b *testing.B) {
			srv, got := benchHEC(b, ack)
			c := DefaultConfig()
			c.URL, c.Token, c.Timeout = srv.URL, config.Secret("t"), config.Duration(10*time.Second)
			c.Ack, c.AckPollInterval = ack, config.Duration(5*time.Millisecond)
			c.Request.Concurrency = httpout.Concurrency(outtest.BenchConcurrency())
			s := started(b, c)
			outtest.Bench(b, s.Write, func() int { return int(s.lastBytes.Load()) })
			if want := int64(b.N+1) * 1000; got.Records.Load() != want {
				b.Fatalf("the receiver counted %d events, want %d", got.Records.Load(), want)
			}
			b.ReportMetric(float64(s.lim.Limit()), "limit")
		})
	}
}

// BenchmarkSplunkHECEncode is the sink's encode path alone: 1000 records
// into HEC envelopes (raw format).
//
//	go test -run '^$' -bench 'BenchmarkSplunkHECEncode' -benchtime 200x ./sinks/splunkhec/
func BenchmarkSplunkHECEncode(b *testing.B) {
	c := DefaultConfig()
	c.URL, c.Token = "http://127.0.0.1:1", config.Secret("t")
	s := newSink(b, c)
	var enc httpout.Encoded
	outtest.BenchEncode(b, func(batch []*pipeline.Record) {
		if be := enc.Encode(batch, "bench", s.envelope); len(be.Items) > 0 {
			b.Fatal(be)
		}
	})
}
