package opensearch

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

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/elasticsearch"
	"github.com/sophos-connect/sophos-connect/sinks/elasticsearch/elasticsearchtest"
)

// target is where a test writes: elasticsearchtest answering as OpenSearch, or the real
// node at OPENSEARCH_URL (CI: test/services/search.sh). Results are checked
// through the REST API, the same way on both.
type target struct {
	url, prefix, run string
}

func forEachTarget(t *testing.T, fn func(t *testing.T, tg target)) {
	t.Run("elasticsearchtest", func(t *testing.T) {
		srv := elasticsearchtest.New(elasticsearchtest.Options{Distribution: "opensearch"})
		t.Cleanup(srv.Close)
		run := runID()
		fn(t, target{url: srv.URL, prefix: "sctest-" + run + "-", run: run})
	})
	t.Run("opensearch", func(t *testing.T) {
		u := strings.TrimRight(os.Getenv("OPENSEARCH_URL"), "/")
		if u == "" {
			why := "OPENSEARCH_URL is not set: start a node with `eval \"$(bash test/services/search.sh start)\"` to run this against OpenSearch"
			if os.Getenv("CI") != "" {
				t.Fatal(why + " (CI is set, so this is a failure)")
			}
			t.Skip(why)
		}
		run := runID()
		tg := target{url: u, prefix: "sctest-" + run + "-", run: run}
		t.Cleanup(func() { tg.cleanup(t) })
		fn(t, tg)
	})
}

func runID() string { return fmt.Sprintf("%06x", rand.Uint32()&0xffffff) }

func (tg target) config(index string) Config {
	c := DefaultConfig()
	c.Addresses = []string{tg.url}
	c.Index = tg.prefix + index
	c.Timeout = 20e9
	return c
}

func (tg target) sink(t *testing.T, c Config) *elasticsearch.Sink {
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

func (tg target) call(t testing.TB, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, tg.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

type hit struct {
	Index   string `json:"_index"`
	ID      string `json:"_id"`
	Version int64  `json:"_version"`
}

// docs returns the documents of the test's indices by _id.
func (tg target) docs(t *testing.T) map[string]hit {
	t.Helper()
	tg.call(t, "POST", "/"+tg.prefix+"*/_refresh", "")
	code, b := tg.call(t, "GET", "/"+tg.prefix+"*/_search?size=10000&version=true", `{"query":{"match_all":{}}}`)
	if code != 200 {
		t.Fatalf("search: %d %s", code, b)
	}
	var r struct{ Hits struct{ Hits []hit } }
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	out := map[string]hit{}
	for _, h := range r.Hits.Hits {
		if _, dup := out[h.ID]; dup {
			t.Fatalf("_id %s stored twice", h.ID)
		}
		out[h.ID] = h
	}
	return out
}

func (tg target) cleanup(t testing.TB) {
	tg.call(t, "DELETE", "/_data_stream/"+tg.prefix+"*", "")
	tg.call(t, "DELETE", "/"+tg.prefix+"*", "")
	tg.call(t, "DELETE", "/_index_template/sophos-connect-sctest-"+tg.run, "")
}

// records mints n records from the elasticsearch sink's sample pages, with
// ids unique to run.
func records(t testing.TB, run string, n int) []*pipeline.Record {
	t.Helper()
	var items []struct {
		stream pipeline.Stream
		raw    map[string]any
	}
	for _, f := range []struct {
		file   string
		stream pipeline.Stream
	}{{"../elasticsearch/testdata/events_page.json", pipeline.Events}, {"../elasticsearch/testdata/alerts_page.json", pipeline.Alerts}} {
		b, err := os.ReadFile(f.file)
		if err != nil {
			t.Fatal(err)
		}
		var page struct{ Items []map[string]any }
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			items = append(items, struct {
				stream pipeline.Stream
				raw    map[string]any
			}{f.stream, it})
		}
	}
	out := make([]*pipeline.Record, n)
	for i := range out {
		it := items[i%len(items)]
		it.raw["id"] = fmt.Sprintf("%s-%07d", run, i)
		it.raw["when"] = time.Date(2024, 5, 14, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second).Format("2006-01-02T15:04:05.000Z")
		raw, _ := json.Marshal(it.raw)
		r, err := pipeline.NewRecord(it.stream, "3f8a2c71-5d1e-4b9a-8c07-6e2f19d4a5b8", raw)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = &r
	}
	return out
}

func writeBatches(t *testing.T, s *elasticsearch.Sink, recs []*pipeline.Record, size int) {
	t.Helper()
	for i := 0; i < len(recs); i += size {
		if err := s.Write(context.Background(), recs[i:min(i+size, len(recs))]); err != nil {
			t.Fatalf("write %d..: %v", i, err)
		}
	}
}

// TestDeliverAndReplay: every record is indexed once under its id; a replay
// with op_type index overwrites (version 2) instead of duplicating.
func TestDeliverAndReplay(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		s := tg.sink(t, tg.config("${stream}"))
		recs := records(t, tg.run, 900)
		writeBatches(t, s, recs, 300)
		writeBatches(t, s, recs[:300], 300)
		docs := tg.docs(t)
		if len(docs) != len(recs) {
			t.Fatalf("%d documents, want %d", len(docs), len(recs))
		}
		for i, r := range recs {
			want := int64(1)
			if i < 300 {
				want = 2
			}
			if h := docs[r.ID]; h.Version != want || h.Index != tg.prefix+string(r.Stream) {
				t.Fatalf("record %d: %+v, want version %d in %s", i, h, want, tg.prefix+string(r.Stream))
			}
		}
	})
}

// TestSetupDataStream: setup with op_type create installs a data stream
// template; documents land in data streams and a replay counts as
// delivered (409).
func TestSetupDataStream(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		c := tg.config("${stream}")
		c.Setup, c.OpType = true, "create"
		s := tg.sink(t, c)
		recs := records(t, tg.run, 300)
		writeBatches(t, s, recs, 300)
		writeBatches(t, s, recs[:100], 100)
		code, b := tg.call(t, "GET", "/_data_stream/"+tg.prefix+"*", "")
		if code != 200 || !strings.Contains(string(b), `"name":"`+tg.prefix+`alert"`) || !strings.Contains(string(b), `"name":"`+tg.prefix+`event"`) {
			t.Fatalf("data streams: %d %s", code, b)
		}
		docs := tg.docs(t)
		if len(docs) != len(recs) {
			t.Fatalf("%d documents, want %d", len(docs), len(recs))
		}
		for _, h := range docs {
			if !strings.HasPrefix(h.Index, ".ds-"+tg.prefix) || h.Version != 1 {
				t.Fatalf("document %s in %s v%d", h.ID, h.Index, h.Version)
			}
		}
	})
}

// TestMappingErrorIsPermanent: a document the mapping refuses comes back
// permanent with the node's reason; the rest of the batch is delivered.
func TestMappingErrorIsPermanent(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		c := tg.config("${stream}")
		c.Format = "raw"
		s := tg.sink(t, c)
		rec := func(id, extra string) *pipeline.Record {
			r, err := pipeline.NewRecord(pipeline.Events, "t1", []byte(`{"id":"`+tg.run+id+`","when":"2024-05-14T08:00:00.000Z",`+extra+`}`))
			if err != nil {
				t.Fatal(err)
			}
			return &r
		}
		if err := s.Write(context.Background(), []*pipeline.Record{rec("a", `"count":1`)}); err != nil {
			t.Fatal(err)
		}
		err := s.Write(context.Background(), []*pipeline.Record{rec("b", `"count":2`), rec("c", `"count":"not a number"`)})
		var be *pipeline.BatchError
		if !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Index != 1 || !pipeline.IsPermanent(be.Items[0].Err) ||
			!strings.Contains(be.Items[0].Err.Error(), "failed to parse field [count] of type [long]") {
			t.Fatalf("Write: %v, want item 1 permanent with the mapping reason", err)
		}
		if n := len(tg.docs(t)); n != 2 {
			t.Fatalf("%d documents, want 2", n)
		}
	})
}

// TestStartRefusesElasticsearch: an Elasticsearch node is not taken for
// OpenSearch; the error says which sink type to use.
func TestStartRefusesElasticsearch(t *testing.T) {
	srv := elasticsearchtest.New(elasticsearchtest.Options{})
	defer srv.Close()
	c := DefaultConfig()
	c.Addresses = []string{srv.URL}
	s, err := New("x", c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "not opensearch") || !strings.Contains(err.Error(), "use sink type elasticsearch") {
		t.Fatalf("Start: %v", err)
	}
}

// TestStartUnreachable names the address and the fix.
func TestStartUnreachable(t *testing.T) {
	c := DefaultConfig()
	c.Addresses = []string{"http://127.0.0.1:1"}
	c.Timeout = 2e9
	s, err := New("x", c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("Start: %v", err)
	}
}

// TestPasswordNeverLogged: the config's log form has no password.
func TestPasswordNeverLogged(t *testing.T) {
	c := DefaultConfig()
	c.Username, c.Password = "u", "s3cret-pw"
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("cfg", "sink", c)
	if strings.Contains(buf.String(), "s3cret-pw") {
		t.Fatalf("password logged: %s", buf.String())
	}
}
