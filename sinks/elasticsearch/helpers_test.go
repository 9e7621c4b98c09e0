package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/elasticsearch/elasticsearchtest"
)

// sample is a Sophos item from testdata with its id and when replaced by
// markers, so tests can mint any number of distinct records.
type sample struct {
	stream pipeline.Stream
	raw    []byte
}

const (
	idMark   = "@@ID@@"
	whenMark = "@@WHEN@@"
)

func loadSamples(t testing.TB) []sample {
	t.Helper()
	var out []sample
	for _, f := range []struct {
		file   string
		stream pipeline.Stream
	}{{"testdata/events_page.json", pipeline.Events}, {"testdata/alerts_page.json", pipeline.Alerts}} {
		b, err := os.ReadFile(f.file)
		if err != nil {
			t.Fatal(err)
		}
		var page struct{ Items []map[string]any }
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			it["id"], it["when"] = idMark, whenMark
			raw, _ := json.Marshal(it)
			out = append(out, sample{f.stream, raw})
		}
	}
	return out
}

// makeRecords mints n records cycling over the samples, with ids unique to
// run and `when` from whenOf(i).
func makeRecords(t testing.TB, samples []sample, run string, n int, whenOf func(i int) time.Time) []*pipeline.Record {
	t.Helper()
	recs := make([]*pipeline.Record, n)
	for i := range recs {
		s := samples[i%len(samples)]
		raw := bytes.Replace(s.raw, []byte(idMark), []byte(fmt.Sprintf("%s-%07d", run, i)), 1)
		raw = bytes.Replace(raw, []byte(whenMark), []byte(whenOf(i).UTC().Format("2006-01-02T15:04:05.000Z")), 1)
		r, err := pipeline.NewRecord(s.stream, "3f8a2c71-5d1e-4b9a-8c07-6e2f19d4a5b8", raw)
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = &r
	}
	return recs
}

func fixedWhen(i int) time.Time {
	return time.Date(2024, 5, 14, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
}

func runID() string { return fmt.Sprintf("%06x", rand.Uint32()&0xffffff) }

// target is where an integration test writes: the in-repo test server or,
// when ELASTICSEARCH_URL is set, a real cluster. Tests verify through the
// REST API so the same checks run against both.
type target struct {
	url                string
	user, pass, apiKey string
	caFile             string                    // ELASTICSEARCH_CA_FILE: the cluster's CA
	client             *http.Client              // for REST checks
	srv                *elasticsearchtest.Server // nil for a real cluster
	prefix             string                    // every index/template name the test creates starts with it
	run                string
}

// forEachTarget runs fn against the test server, and against the cluster
// at ELASTICSEARCH_URL when that is set.
func forEachTarget(t *testing.T, fn func(t *testing.T, tg *target)) {
	t.Run("elasticsearchtest", func(t *testing.T) {
		srv := elasticsearchtest.New(elasticsearchtest.Options{})
		t.Cleanup(srv.Close)
		run := runID()
		fn(t, &target{url: srv.URL, srv: srv, prefix: "sctest-" + run + "-", run: run})
	})
	t.Run("cluster", func(t *testing.T) {
		tg := clusterTarget(t)
		fn(t, tg)
	})
}

func clusterTarget(t *testing.T) *target {
	u := os.Getenv("ELASTICSEARCH_URL")
	if u == "" && os.Getenv("CI") != "" {
		t.Fatal("ELASTICSEARCH_URL is not set and CI is: .ci/run starts a node (test/services/search.sh)")
	}
	if u == "" {
		t.Skip("ELASTICSEARCH_URL not set: set it (with ELASTICSEARCH_USERNAME/ELASTICSEARCH_PASSWORD or ELASTICSEARCH_API_KEY, and ELASTICSEARCH_CA_FILE for https with a private CA, if the cluster needs them) to run these tests against a real cluster")
	}
	run := runID()
	tg := &target{url: strings.TrimRight(u, "/"), user: os.Getenv("ELASTICSEARCH_USERNAME"),
		pass: os.Getenv("ELASTICSEARCH_PASSWORD"), apiKey: os.Getenv("ELASTICSEARCH_API_KEY"),
		caFile: os.Getenv("ELASTICSEARCH_CA_FILE"), prefix: "sctest-" + run + "-", run: run}
	if tg.caFile != "" {
		tc, err := config.TLS{CAFile: tg.caFile}.Config()
		if err != nil {
			t.Fatal(err)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tc
		tg.client = &http.Client{Transport: tr}
	}
	tg.url = productShim(t, tg.url, tg.client)
	t.Cleanup(func() { tg.cleanup(t) })
	return tg
}

// config is a sink config pointing at the target.
func (tg *target) config(index string) Config {
	c := ecsConfig()
	c.Addresses = []string{tg.url}
	c.Username, c.Password, c.APIKey = tg.user, secret(tg.pass), secret(tg.apiKey)
	c.TLS.CAFile = tg.caFile
	c.Index = tg.prefix + index
	c.Timeout = 20e9
	return c
}

func (tg *target) sink(t *testing.T, c Config) *Sink {
	t.Helper()
	s, err := New("sctest-"+tg.run, c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// call does a REST call with the target's credentials.
func (tg *target) call(t testing.TB, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, tg.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case tg.apiKey != "":
		req.Header.Set("Authorization", "ApiKey "+tg.apiKey)
	case tg.user != "":
		req.SetBasicAuth(tg.user, tg.pass)
	}
	client := tg.client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// hit is a stored document seen through _search.
type hit struct {
	Index   string          `json:"_index"`
	ID      string          `json:"_id"`
	Version int64           `json:"_version"`
	Source  json.RawMessage `json:"_source"`
}

// docs refreshes and returns every document of the indices expr names,
// keyed by _id, failing on duplicate ids.
func (tg *target) docs(t testing.TB, expr string) map[string]hit {
	t.Helper()
	tg.call(t, "POST", "/"+expr+"/_refresh", "")
	code, b := tg.call(t, "GET", "/"+expr+"/_search?size=10000&version=true", `{"query":{"match_all":{}}}`)
	if code != 200 {
		t.Fatalf("search %s: %d %s", expr, code, b)
	}
	var r struct {
		Hits struct {
			Total struct{ Value int } `json:"total"`
			Hits  []hit               `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	out := map[string]hit{}
	for _, h := range r.Hits.Hits {
		if prev, dup := out[h.ID]; dup {
			t.Fatalf("_id %s stored twice (%s and %s)", h.ID, prev.Index, h.Index)
		}
		out[h.ID] = h
	}
	if r.Hits.Total.Value != len(out) {
		t.Fatalf("total %d but %d hits", r.Hits.Total.Value, len(out))
	}
	return out
}

// cleanup deletes what a test created on a real cluster.
func (tg *target) cleanup(t *testing.T) {
	code, b := tg.call(t, "GET", "/_data_stream/"+tg.prefix+"*", "")
	if code == 200 {
		var r struct {
			DataStreams []struct{ Name string } `json:"data_streams"`
		}
		_ = json.Unmarshal(b, &r)
		for _, ds := range r.DataStreams {
			tg.call(t, "DELETE", "/_data_stream/"+ds.Name, "")
		}
	}
	code, b = tg.call(t, "GET", "/"+tg.prefix+"*", "")
	if code == 200 {
		var r map[string]any
		_ = json.Unmarshal(b, &r)
		for name := range r {
			tg.call(t, "DELETE", "/"+name, "")
		}
	}
	tg.call(t, "DELETE", "/_index_template/sophos-connect-sctest-"+tg.run, "")
}

// writeAll drives Write the way the pipeline does: after a BatchError only
// the failed records are written again, after a plain error the same ones;
// permanent failures are collected, not retried.
func writeAll(t *testing.T, s *Sink, batch []*pipeline.Record, attempts int) (permanent map[string]error, tries int) {
	t.Helper()
	permanent = map[string]error{}
	pending := batch
	for tries = 1; tries <= attempts; tries++ {
		err := s.Write(context.Background(), pending)
		if err == nil {
			return permanent, tries
		}
		var be *pipeline.BatchError
		if !errors.As(err, &be) {
			continue // whole batch failed: write it again
		}
		var retry []*pipeline.Record
		for _, it := range be.Items {
			if pipeline.IsPermanent(it.Err) {
				permanent[pending[it.Index].ID] = it.Err
				continue
			}
			retry = append(retry, pending[it.Index])
		}
		if len(retry) == 0 {
			return permanent, tries
		}
		pending = retry
	}
	t.Fatalf("batch not delivered after %d attempts", attempts)
	return nil, 0
}

// ecsConfig is DefaultConfig with format ecs, index sophos-${stream},
// op_type index and id_mode id: the sink as the tests before format
// integration knew it.
func ecsConfig() Config {
	c := DefaultConfig()
	c.Format = "ecs"
	return c
}

func secret(s string) config.Secret { return config.Secret(s) }
