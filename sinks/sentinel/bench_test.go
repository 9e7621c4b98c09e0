package sentinel

import (
	"bytes"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
)

// benchAPI is a Logs Ingestion API (and Entra ID token endpoint) that
// costs little, so that the benchmark measures the sink: over TLS, as
// Azure is, it gunzips each call and counts its rows but parses none, and
// answers 204.
func benchAPI(b *testing.B) (*httptest.Server, *outtest.Counter) {
	var n outtest.Counter
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"token_type":"Bearer","expires_in":3599,"access_token":"bench-token"}`))
	})
	mux.HandleFunc("POST /dataCollectionRules/{dcr}/streams/{stream}", func(w http.ResponseWriter, r *http.Request) {
		rows := 0
		if err := outtest.Body(r, func(body []byte) { rows = bytes.Count(body, []byte(`{"TimeGenerated":`)) }); err != nil {
			w.WriteHeader(400)
			return
		}
		n.Requests.Add(1)
		n.Records.Add(int64(rows))
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewTLSServer(mux)
	b.Cleanup(srv.Close)
	return srv, &n
}

// BenchmarkSentinel writes batches of 1000 records (format sentinel, gzip
// level 1, calls under 1 MB, adaptive concurrency) over TLS to a Logs
// Ingestion API that costs little (benchAPI).
//
//	go test -run '^$' -bench 'BenchmarkSentinel$' -benchtime 200x ./sinks/sentinel/
func BenchmarkSentinel(b *testing.B) {
	srv, got := benchAPI(b)
	ca := filepath.Join(b.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		b.Fatal(err)
	}
	c := DefaultConfig()
	c.TenantID, c.ClientID, c.ClientSecret = tenantID, clientID, config.Secret(secret)
	c.Endpoint, c.AuthorityHost, c.DCRImmutableID = srv.URL, srv.URL, dcrID
	c.TLS.CAFile = ca
	c.Timeout = config.Duration(10 * time.Second)
	c.Request.Concurrency = httpout.Concurrency(outtest.BenchConcurrency())
	s := started(b, c)
	outtest.Bench(b, s.Write, func() int { return int(s.lastBytes.Load()) })
	if want := int64(b.N+1) * 1000; got.Records.Load() != want {
		b.Fatalf("the receiver counted %d rows, want %d", got.Records.Load(), want)
	}
	b.ReportMetric(float64(s.lim.Limit()), "limit")
}

// BenchmarkSentinelEncode is the sink's encode path alone: 1000 records
// into rows of the default DCR shape.
//
//	go test -run '^$' -bench 'BenchmarkSentinelEncode' -benchtime 200x ./sinks/sentinel/
func BenchmarkSentinelEncode(b *testing.B) {
	outtest.BenchEncode(b, func() func([]*pipeline.Record) {
		var enc httpout.Encoded
		return func(batch []*pipeline.Record) {
			if be := enc.Encode(batch, "bench", row); len(be.Items) > 0 {
				b.Fatal(be)
			}
		}
	}())
}
