package elasticsearch

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/elasticsearch/elasticsearchtest"
)

// These tests inject faults, so they run on the test server only.

func testServer(t *testing.T, o elasticsearchtest.Options) (*elasticsearchtest.Server, *target) {
	t.Helper()
	srv := elasticsearchtest.New(o)
	t.Cleanup(srv.Close)
	run := runID()
	return srv, &target{url: srv.URL, srv: srv, prefix: "sctest-" + run + "-", run: run,
		user: o.Username, pass: o.Password, apiKey: o.APIKey}
}

func newSink(t *testing.T, c Config) *Sink {
	t.Helper()
	s, err := New("faults", c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestPartialFailuresExactlyOnce: with per-item 429s and whole-request 429s
// and 503s, writing again only what failed (as the pipeline does) indexes
// every document exactly once: all present, all at version 1.
func TestPartialFailuresExactlyOnce(t *testing.T) {
	srv, tg := testServer(t, elasticsearchtest.Options{Seed: 7})
	c := tg.config("${stream}")
	c.MaxBytes = 256 << 10 // several requests per batch
	c.Concurrency = 3
	s := tg.sink(t, c)
	recs := makeRecords(t, loadSamples(t), tg.run, 3000, fixedWhen)
	srv.SetFaults(elasticsearchtest.Faults{
		ItemReject429Rate: 0.2,
		ItemReject429IDs:  map[string]int{recs[0].ID: 3, recs[1].ID: 1},
		Request503First:   2,
		Request429Rate:    0.05,
	})
	totalTries := 0
	for i := 0; i < len(recs); i += 1000 {
		perm, tries := writeAll(t, s, recs[i:i+1000], 60)
		if len(perm) > 0 {
			t.Fatalf("permanent failures on retryable faults: %v", perm)
		}
		totalTries += tries
	}
	docs := tg.docs(t, tg.prefix+"*")
	if len(docs) != len(recs) {
		t.Fatalf("%d documents, want %d", len(docs), len(recs))
	}
	for _, r := range recs {
		if h, ok := docs[r.ID]; !ok || h.Version != 1 {
			t.Fatalf("%s: present %v version %d (want exactly one write)", r.ID, ok, h.Version)
		}
	}
	st := srv.Stats()
	if st.ItemStatus[429] < 300 || st.Created != len(recs) || st.Updated != 0 {
		t.Fatalf("stats %+v: the faults did not bite or something was written twice", st)
	}
	t.Logf("%d writes, %d bulk requests, item statuses %v", totalTries, st.BulkRequests, st.ItemStatus)
}

// TestWholeRequestFailureIsPlainError: a 429 or 503 for the whole request
// fails the batch with a plain (retryable) error naming the status.
func TestWholeRequestFailureIsPlainError(t *testing.T) {
	srv, tg := testServer(t, elasticsearchtest.Options{})
	s := tg.sink(t, tg.config("${stream}"))
	recs := makeRecords(t, loadSamples(t), tg.run, 50, fixedWhen)
	for _, f := range []struct {
		faults elasticsearchtest.Faults
		want   string
	}{
		{elasticsearchtest.Faults{Request429First: 1}, "429 Too Many Requests: es_rejected_execution_exception"},
		{elasticsearchtest.Faults{Request503First: 1}, "503 Service Unavailable: cluster_block_exception"},
	} {
		srv.SetFaults(f.faults)
		err := s.Write(context.Background(), recs)
		var be *pipeline.BatchError
		if err == nil || errors.As(err, &be) || pipeline.IsPermanent(err) || !strings.Contains(err.Error(), f.want) {
			t.Fatalf("got %v, want a plain error with %q", err, f.want)
		}
	}
	if err := s.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	if n := srv.Count(""); n != 50 {
		t.Fatalf("count %d", n)
	}
}

// TestSplitByMaxBytes: a batch larger than max_bytes goes out as several
// requests; when one of them fails as a whole only its records are failed.
func TestSplitByMaxBytes(t *testing.T) {
	srv, tg := testServer(t, elasticsearchtest.Options{})
	c := tg.config("${stream}")
	c.MaxBytes = 64 << 10
	c.Concurrency = 1 // deterministic order: the first request gets the fault
	s := tg.sink(t, c)
	recs := makeRecords(t, loadSamples(t), tg.run, 1000, fixedWhen)
	srv.SetFaults(elasticsearchtest.Faults{Request503First: 1})
	before := srv.Stats().BulkRequests
	err := s.Write(context.Background(), recs)
	var be *pipeline.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("want a BatchError for the failed request, got %v", err)
	}
	reqs := srv.Stats().BulkRequests - before
	if reqs < 10 {
		t.Fatalf("%d requests for ~1 MB at max_bytes 64KiB", reqs)
	}
	for i, it := range be.Items {
		if it.Index != i || pipeline.IsPermanent(it.Err) || !strings.Contains(it.Err.Error(), "503") {
			t.Fatalf("item %d: %+v", i, it)
		}
	}
	if got := srv.Count(""); got != len(recs)-len(be.Items) {
		t.Fatalf("stored %d, want %d", got, len(recs)-len(be.Items))
	}
	for _, r := range srv.Requests() {
		if strings.HasSuffix(r.Path, "_bulk") && r.Status == 200 && r.Items > 0 {
			if h := r.Header.Get("Content-Type"); h != "application/x-ndjson" {
				t.Fatalf("content type %q", h)
			}
		}
	}
	perm, _ := writeAll(t, s, recs[:len(be.Items)], 3)
	if len(perm) != 0 || srv.Count("") != len(recs) {
		t.Fatalf("after retry: %d stored, %v", srv.Count(""), perm)
	}
}

// TestInjectedItem400IsPermanent: per-item 400s are Permanent with their reason.
func TestInjectedItem400IsPermanent(t *testing.T) {
	srv, tg := testServer(t, elasticsearchtest.Options{})
	s := tg.sink(t, tg.config("${stream}"))
	recs := makeRecords(t, loadSamples(t), tg.run, 20, fixedWhen)
	srv.SetFaults(elasticsearchtest.Faults{ItemReject400IDs: map[string]bool{recs[3].ID: true, recs[17].ID: true}})
	perm, _ := writeAll(t, s, recs, 3)
	if len(perm) != 2 || perm[recs[3].ID] == nil || perm[recs[17].ID] == nil {
		t.Fatalf("permanent %v", perm)
	}
	if e := perm[recs[3].ID].Error(); !strings.Contains(e, "400 document_parsing_exception") || !strings.Contains(e, "failed to parse field [injected]") {
		t.Fatalf("reason %q", e)
	}
	if srv.Count("") != 18 {
		t.Fatalf("stored %d", srv.Count(""))
	}
}

// TestIngestPipeline: the pipeline name goes on the request; a missing
// pipeline rejects the documents for good with the cluster's reason.
func TestIngestPipeline(t *testing.T) {
	srv, tg := testServer(t, elasticsearchtest.Options{})
	c := tg.config("${stream}")
	c.Pipeline = "sophos-enrich"
	s := tg.sink(t, c)
	recs := makeRecords(t, loadSamples(t), tg.run, 5, fixedWhen)
	err := s.Write(context.Background(), recs)
	var be *pipeline.BatchError
	if !errors.As(err, &be) || len(be.Items) != 5 || !pipeline.IsPermanent(be.Items[0].Err) ||
		!strings.Contains(be.Items[0].Err.Error(), "pipeline with id [sophos-enrich] does not exist") {
		t.Fatalf("missing pipeline: %v", err)
	}
	if code, b := tg.call(t, "PUT", "/_ingest/pipeline/sophos-enrich", `{"processors":[]}`); code != 200 {
		t.Fatalf("put pipeline %d %s", code, b)
	}
	if err := s.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if last := reqs[len(reqs)-1]; !strings.Contains(last.RawQuery, "pipeline=sophos-enrich") || !strings.Contains(last.RawQuery, "filter_path=") {
		t.Fatalf("query %q", last.RawQuery)
	}
}

// TestHealthCheckErrors: Start fails with a message naming the cause and
// the fix, and never the password.
func TestHealthCheckErrors(t *testing.T) {
	start := func(c Config) error {
		s := newSink(t, c)
		return s.Start(context.Background())
	}
	t.Run("no product header", func(t *testing.T) {
		_, tg := testServer(t, elasticsearchtest.Options{NoProductHeader: true})
		err := start(tg.config("x"))
		if err == nil || !strings.Contains(err.Error(), "not Elasticsearch") || !strings.Contains(err.Error(), "X-Elastic-Product") || !strings.Contains(err.Error(), tg.url) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := "http://" + l.Addr().String()
		l.Close()
		c := ecsConfig()
		c.Addresses = []string{addr}
		err = start(c)
		if err == nil || !strings.Contains(err.Error(), "unreachable") || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "check addresses") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("401", func(t *testing.T) {
		_, tg := testServer(t, elasticsearchtest.Options{Username: "elastic", Password: "right"})
		c := tg.config("x")
		c.Password = "s3cr3t-wrong"
		err := start(c)
		if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "check username/password or api_key") || !pipeline.IsAuthFailure(err) {
			t.Fatalf("got %v", err)
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Fatalf("password leaked: %v", err)
		}
	})
	t.Run("credentials in the address are not shown", func(t *testing.T) {
		c := ecsConfig()
		c.Addresses = []string{"http://elastic:hunter2@127.0.0.1:1"}
		err := start(c)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("got %v", err)
		}
	})
}

// TestAuthHeaders: basic and API-key credentials reach the cluster on
// every request.
func TestAuthHeaders(t *testing.T) {
	recs := makeRecords(t, loadSamples(t), "auth", 3, fixedWhen)
	for _, o := range []elasticsearchtest.Options{{Username: "elastic", Password: "pw"}, {APIKey: base64.StdEncoding.EncodeToString([]byte("id:key"))}} {
		srv, tg := testServer(t, o)
		s := tg.sink(t, tg.config("${stream}"))
		if err := s.Write(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
		want := "APIKey " + o.APIKey // the client's spelling; Elasticsearch ignores the case
		if o.Username != "" {
			want = "Basic " + base64.StdEncoding.EncodeToString([]byte("elastic:pw"))
		}
		reqs := srv.Requests()
		if len(reqs) < 2 {
			t.Fatalf("%d requests", len(reqs))
		}
		for _, r := range reqs {
			ok := r.Status == 200 || r.Status == 404 && strings.HasPrefix(r.Path, "/_data_stream/") // the start-up probe
			if got := r.Header.Get("Authorization"); got != want || !ok {
				t.Fatalf("%s %s: Authorization %q status %d, want %q", r.Method, r.Path, got, r.Status, want)
			}
		}
	}
}

// TestTLS: https with the cluster's CA in tls.ca_file works; without it the
// error says to set ca_file.
func TestTLS(t *testing.T) {
	srv := elasticsearchtest.NewTLS(elasticsearchtest.Options{})
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.HTTPServer().Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	c := ecsConfig()
	c.Addresses = []string{srv.URL}
	err := newSink(t, c).Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "tls.ca_file") {
		t.Fatalf("without CA: %v", err)
	}
	c.TLS.CAFile = ca
	if err := newSink(t, c).Start(context.Background()); err != nil {
		t.Fatalf("with CA: %v", err)
	}
}
