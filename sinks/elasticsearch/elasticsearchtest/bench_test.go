package elasticsearchtest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
)

// BenchmarkBulk measures the server alone (no network): one _bulk request
// of 1000 ECS documents (~1.4 KB) per iteration, overwriting by _id.
//
//	go test -run '^$' -bench BenchmarkBulk ./sinks/elasticsearch/elasticsearchtest/
func BenchmarkBulk(b *testing.B) {
	src, err := os.ReadFile("testdata/ecs.ndjson")
	if err != nil {
		b.Fatal(err)
	}
	docs := bytes.Split(bytes.TrimSpace(src), []byte("\n"))
	var body bytes.Buffer
	for i := range 1000 {
		fmt.Fprintf(&body, `{"index":{"_index":"bench","_id":"%d"}}`+"\n", i)
		body.Write(docs[i%len(docs)])
		body.WriteByte('\n')
	}
	s := newServer(Options{DiscardSource: true})
	b.SetBytes(int64(body.Len()))
	b.ResetTimer()
	for range b.N {
		req := httptest.NewRequest(http.MethodPost, "/_bulk?filter_path=errors", bytes.NewReader(body.Bytes()))
		req.Header.Set("Content-Type", "application/x-ndjson")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != 200 || w.Body.String() != `{"errors":false}` {
			b.Fatalf("%d %s", w.Code, w.Body.String()[:200])
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "docs/s")
}
