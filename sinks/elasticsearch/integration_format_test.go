package elasticsearch

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/elasticsearch/elasticsearchtest"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
)

// logBuffer collects a sink's log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func loggedSink(t *testing.T, c Config) (*Sink, *logBuffer) {
	t.Helper()
	lb := &logBuffer{}
	s, err := New("sctest", c, slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, lb
}

// integrationTarget is forEachTarget for the integration format: the test
// server gets Elasticsearch's built-in logs-*-* data stream template; a
// real cluster has it. The namespace is unique to the run, and its data
// streams are deleted afterwards.
func integrationConfig(t *testing.T, tg *target) Config {
	t.Helper()
	if tg.srv != nil {
		tg.srv.SetLimits(elasticsearchtest.Limits{LogsTemplate: true})
	} else {
		tg.logsTemplate(t)
	}
	c := DefaultConfig()
	c.Addresses = []string{tg.url}
	c.Username, c.Password, c.APIKey = tg.user, secret(tg.pass), secret(tg.apiKey)
	c.TLS.CAFile = tg.caFile
	c.Timeout = 20e9
	c.Namespace = "sctest" + tg.run
	t.Cleanup(func() {
		if tg.srv == nil {
			tg.call(t, "DELETE", "/_data_stream/logs-sophos_central.*-"+c.Namespace, "")
		}
	})
	return c
}

// TestIntegrationFormatIntoDataStreams: by default documents go to the
// integration's data streams, with op_type create and the integration's
// fingerprint as _id; a replay is refused with 409 and counts as
// delivered, nothing is duplicated.
func TestIntegrationFormatIntoDataStreams(t *testing.T) {
	samples := loadSamples(t)
	forEachTarget(t, func(t *testing.T, tg *target) {
		c := integrationConfig(t, tg)
		s, logs := loggedSink(t, c)
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		if tg.srv != nil && !strings.Contains(logs.String(), "the sophos_central integration is not installed") {
			t.Errorf("no install hint in %s", logs)
		}
		recs := makeRecords(t, samples, tg.run, 300, fixedWhen)
		writeBatches(t, s, recs, 100)
		if err := s.Write(context.Background(), recs[:100]); err != nil {
			t.Fatalf("replay: %v", err)
		}
		var fp encoding.Fingerprinter
		for _, st := range []string{"alert", "event"} {
			ds := "logs-sophos_central." + st + "-" + c.Namespace
			docs := tg.docs(t, ds)
			want := 0
			for _, r := range recs {
				if string(r.Stream) != st {
					continue
				}
				want++
				id, ok := fp.Append(nil, r.Raw)
				if !ok {
					t.Fatal("no fingerprint")
				}
				h, found := docs[string(id)]
				if !found {
					t.Fatalf("%s: record %s not stored under its fingerprint %s", ds, r.ID, id)
				}
				var src struct {
					Message    string            `json:"message"`
					DataStream map[string]string `json:"data_stream"`
					Input      struct{ Type string }
					Event      struct{ ID string }
				}
				if err := json.Unmarshal(h.Source, &src); err != nil {
					t.Fatal(err)
				}
				// a cluster with the integration installed has run its
				// pipeline: the item is parsed (event.id), not a message
				carried := strings.Contains(src.Message, r.ID) || src.Event.ID == r.ID
				if src.DataStream["dataset"] != "sophos_central."+st || src.DataStream["namespace"] != c.Namespace || src.Input.Type != "httpjson" ||
					!carried || !strings.HasPrefix(h.Index, ".ds-"+ds+"-") {
					t.Fatalf("%s stored as %s: %s", r.ID, h.Index, h.Source)
				}
			}
			if len(docs) != want {
				t.Fatalf("%s: %d documents, want %d", ds, len(docs), want)
			}
		}
	})
}

// TestOpTypeIndexOnDataStreamRefused: op_type index into a name a data
// stream template matches (here the built-in logs-*-*) fails at start with
// the fix, instead of dead-lettering every document.
func TestOpTypeIndexOnDataStreamRefused(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		if tg.srv != nil {
			tg.srv.SetLimits(elasticsearchtest.Limits{LogsTemplate: true})
		} else {
			tg.logsTemplate(t)
		}
		c := tg.config("${stream}")
		c.Index = "logs-sctest" + tg.run + "-${stream}"
		s, _ := loggedSink(t, c)
		err := s.Start(context.Background())
		if err == nil || !strings.Contains(err.Error(), "data stream") || !strings.Contains(err.Error(), "op_type: create") {
			t.Fatalf("got %v", err)
		}
	})
}

// TestOpTypeIndexOnExistingDataStreamRefused: the same for data streams
// that exist.
func TestOpTypeIndexOnExistingDataStreamRefused(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		tmpl := "sctest-" + tg.run + "-ds"
		if code, b := tg.call(t, "PUT", "/_index_template/"+tmpl, `{"index_patterns":["`+tg.prefix+`ds-*"],"priority":300,"data_stream":{}}`); code != 200 {
			t.Fatalf("%d %s", code, b)
		}
		t.Cleanup(func() {
			tg.call(t, "DELETE", "/_data_stream/"+tg.prefix+"ds-*", "") // before the template they use
			tg.call(t, "DELETE", "/_index_template/"+tmpl, "")
		})
		for _, st := range []string{"alert", "event"} {
			if code, b := tg.call(t, "PUT", "/_data_stream/"+tg.prefix+"ds-"+st, ""); code != 200 {
				t.Fatalf("%d %s", code, b)
			}
		}
		c := tg.config("ds-${stream}")
		s, _ := loggedSink(t, c)
		err := s.Start(context.Background())
		if err == nil || !strings.Contains(err.Error(), "is a data stream") {
			t.Fatalf("got %v", err)
		}
	})
}

// TestMonitorForbiddenIsAWarning: an API key without the monitor privilege
// gets 403 on GET /; the sink starts, warns, and writes.
func TestMonitorForbiddenIsAWarning(t *testing.T) {
	srv, tg := testServer(t, elasticsearchtest.Options{})
	srv.SetLimits(elasticsearchtest.Limits{NoMonitor: true})
	s, logs := loggedSink(t, tg.config("${stream}"))
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	if !strings.Contains(logs.String(), "monitor cluster privilege") || !strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("no warning: %s", logs)
	}
	recs := makeRecords(t, loadSamples(t), tg.run, 5, fixedWhen)
	if err := s.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}

// TestCreateIndexForbiddenIsRetried: a per-item 403 security_exception
// (no auto_configure) is held back and retried, with an ERROR naming the
// privilege, not dead-lettered; once the privilege is there it delivers.
func TestCreateIndexForbiddenIsRetried(t *testing.T) {
	t.Run("no auto_configure", func(t *testing.T) {
		testForbiddenRetried(t, elasticsearchtest.Limits{NoCreateIndex: true}, "auto_configure")
	})
	t.Run("write block", func(t *testing.T) {
		testForbiddenRetried(t, elasticsearchtest.Limits{WriteBlock: true}, "index.blocks.write")
	})
}

func testForbiddenRetried(t *testing.T, l elasticsearchtest.Limits, fix string) {
	srv, tg := testServer(t, elasticsearchtest.Options{})
	srv.SetLimits(l)
	s, logs := loggedSink(t, tg.config("${stream}"))
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := makeRecords(t, loadSamples(t), tg.run, 6, fixedWhen)
	err := s.Write(context.Background(), recs)
	var be *pipeline.BatchError
	if !asBatchError(err, &be) || len(be.Items) != len(recs) {
		t.Fatalf("got %v", err)
	}
	for _, it := range be.Items {
		if pipeline.IsPermanent(it.Err) {
			t.Fatalf("dead-lettered: %v", it.Err)
		}
	}
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, fix) {
		t.Fatalf("no ERROR naming the privilege: %s", l)
	}
	srv.SetLimits(elasticsearchtest.Limits{})
	if err := s.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	if n := len(tg.docs(t, tg.prefix+"*")); n != len(recs) {
		t.Fatalf("%d documents", n)
	}
}

func asBatchError(err error, be **pipeline.BatchError) bool {
	b, ok := err.(*pipeline.BatchError)
	*be = b
	return ok
}

// TestRequestTooLargeIsSplit: a 413 for the whole request
// (http.max_content_length, or a proxy's limit) splits it until the parts
// fit; a single document larger than the limit is dead-lettered, the
// others delivered.
func TestRequestTooLargeIsSplit(t *testing.T) {
	srv, tg := testServer(t, elasticsearchtest.Options{})
	srv.SetLimits(elasticsearchtest.Limits{MaxContentLength: 16 << 10})
	c := tg.config("${stream}")
	c.MaxBytes = 1 << 20
	s, _ := loggedSink(t, c)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := makeRecords(t, loadSamples(t), tg.run, 60, fixedWhen)
	big := *recs[7]
	big.Raw = bytes.Replace(big.Raw, []byte(`"location":"`), []byte(`"location":"`+strings.Repeat("x", 20<<10)), 1)
	recs[7] = &big
	perm, _ := writeAll(t, s, recs, 3)
	if len(perm) != 1 || perm[big.ID] == nil || !strings.Contains(perm[big.ID].Error(), "413") {
		t.Fatalf("permanent: %v", perm)
	}
	if n := len(tg.docs(t, tg.prefix+"*")); n != len(recs)-1 {
		t.Fatalf("%d documents, want %d", n, len(recs)-1)
	}
}

// TestWholeRequest400FindsTheDocument: a whole-request 400 caused by one
// document is split down to that document, which is dead-lettered.
func TestWholeRequest400FindsTheDocument(t *testing.T) {
	srv := elasticsearchtest.New(elasticsearchtest.Options{})
	t.Cleanup(srv.Close)
	target, _ := url.Parse(srv.URL)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		doc := body // what Elasticsearch reads: the body inflated
		if r.Header.Get("Content-Encoding") == "gzip" {
			if zr, err := gzip.NewReader(bytes.NewReader(body)); err == nil {
				doc, _ = io.ReadAll(zr)
			}
		}
		if r.URL.Path == "/_bulk" && bytes.Contains(doc, []byte("POISON")) {
			w.Header().Set("X-Elastic-Product", "Elasticsearch")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":{"type":"x_content_parse_exception","reason":"[1:2] unexpected token"},"status":400}`)
			return
		}
		req, _ := http.NewRequest(r.Method, target.String()+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			w.WriteHeader(502)
			return
		}
		defer res.Body.Close()
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		io.Copy(w, res.Body)
	}))
	t.Cleanup(proxy.Close)
	run := runID()
	c := ecsConfig()
	c.Addresses = []string{proxy.URL}
	c.Index = "sctest-" + run + "-${stream}"
	s, _ := loggedSink(t, c)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := makeRecords(t, loadSamples(t), run, 40, fixedWhen)
	bad := *recs[23]
	bad.Raw = bytes.Replace(bad.Raw, []byte(`"location":"`), []byte(`"location":"POISON`), 1)
	recs[23] = &bad
	perm, _ := writeAll(t, s, recs, 3)
	if len(perm) != 1 || perm[bad.ID] == nil || !strings.Contains(perm[bad.ID].Error(), "400") {
		t.Fatalf("permanent: %v", perm)
	}
	if n := srv.Count("sctest-" + run + "-*"); n != len(recs)-1 {
		t.Fatalf("%d documents, want %d", n, len(recs)-1)
	}
}

// TestLongIDRefused: an _id over 512 bytes would fail the whole request;
// that record alone is refused before sending.
func TestLongIDRefused(t *testing.T) {
	srv, tg := testServer(t, elasticsearchtest.Options{})
	s, _ := loggedSink(t, tg.config("${stream}"))
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := makeRecords(t, loadSamples(t), tg.run, 10, fixedWhen)
	long := *recs[4]
	long.ID = strings.Repeat("a", 513)
	recs[4] = &long
	perm, _ := writeAll(t, s, recs, 2)
	if len(perm) != 1 || perm[long.ID] == nil || !strings.Contains(perm[long.ID].Error(), "512") {
		t.Fatalf("permanent: %v", perm)
	}
	for _, rq := range srv.Requests() {
		if rq.Status == 400 {
			t.Fatalf("a request was refused whole: %+v", rq)
		}
	}
	if n := len(tg.docs(t, tg.prefix+"*")); n != 9 {
		t.Fatalf("%d documents", n)
	}
}

// TestPlainHTTPToTLSHint: http:// to a TLS port (Elasticsearch 8's
// default) fails with the fix, whether the server closes the connection
// (Elasticsearch: an EOF) or answers 400 (Go's TLS servers, elasticsearchtest).
func TestPlainHTTPToTLSHint(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 512)
			conn.Read(buf) // a TLS server reads a ClientHello, gets HTTP, hangs up
			conn.Close()
		}
	}()
	c := ecsConfig()
	c.Addresses = []string{"http://" + l.Addr().String()}
	s0, _ := loggedSink(t, c)
	if err := s0.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "use https://") {
		t.Fatalf("EOF: got %v", err)
	}

	srv := elasticsearchtest.NewTLS(elasticsearchtest.Options{})
	t.Cleanup(srv.Close)
	c = ecsConfig()
	c.Addresses = []string{strings.Replace(srv.URL, "https://", "http://", 1)}
	c.Timeout = 5e9
	s, _ := loggedSink(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = s.Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "use https://") {
		t.Fatalf("got %v", err)
	}
}

// TestSetupRefusesOverlappingTemplate: a template of the same priority
// with overlapping patterns is named before the PUT Elasticsearch would
// refuse.
func TestSetupRefusesOverlappingTemplate(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		other := "sctest-" + tg.run + "-other"
		if code, b := tg.call(t, "PUT", "/_index_template/"+other, `{"index_patterns":["`+tg.prefix+`event*"],"priority":200}`); code != 200 {
			t.Fatalf("%d %s", code, b)
		}
		t.Cleanup(func() { tg.call(t, "DELETE", "/_index_template/"+other, "") })
		c := tg.config("${stream}")
		c.Setup = true
		s, _ := loggedSink(t, c)
		err := s.Start(context.Background())
		if err == nil || !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), "same priority") {
			t.Fatalf("got %v", err)
		}
	})
}

// TestSetupMapsIntegrationFields: the setup template maps the ecs
// documents' sophos_central dates as dates and keeps date detection off.
func TestSetupMapsIntegrationFields(t *testing.T) {
	samples := loadSamples(t)
	forEachTarget(t, func(t *testing.T, tg *target) {
		c := tg.config("${stream}")
		c.Setup = true
		c.PreserveDuplicateCustomFields = true
		s := tg.sink(t, c)
		writeBatches(t, s, makeRecords(t, samples, tg.run, 24, fixedWhen), 24)
		for ix, fields := range map[string]map[string]string{
			"alert": {"sophos_central.alert.when": "date", "sophos_central.alert.created_at": "date", "event.created": "date",
				"sophos_central.alert.severity": "keyword"},
			"event": {"sophos_central.event.when": "date", "sophos_central.event.source_info.ip": "ip", "source.ip": "ip"},
		} {
			for field, typ := range fields {
				code, b := tg.call(t, "GET", "/"+tg.prefix+ix+"/_mapping/field/"+field, "")
				if code != 200 || !strings.Contains(string(b), `"type":"`+typ+`"`) {
					t.Errorf("%s %s: %d %s, want type %s", ix, field, code, b, typ)
				}
			}
		}
	})
}

// logsTemplate gives a real node Elasticsearch 8's built-in data stream
// template for logs-*-* (priority 100) when it has none: OpenSearch, which
// CI runs, ships without it.
func (tg *target) logsTemplate(t *testing.T) {
	t.Helper()
	if code, _ := tg.call(t, "GET", "/_index_template/logs", ""); code == 200 {
		return
	}
	name := "sctest-logs-" + tg.run
	code, body := tg.call(t, "PUT", "/_index_template/"+name, `{"index_patterns":["logs-*-*"],"data_stream":{},"priority":100}`)
	if code != 200 {
		t.Fatalf("PUT _index_template/%s: %d %s", name, code, body)
	}
	t.Cleanup(func() { tg.call(t, "DELETE", "/_index_template/"+name, "") })
}
