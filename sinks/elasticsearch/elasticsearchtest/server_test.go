package elasticsearchtest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func do(t *testing.T, s *Server, method, path, ct, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

const nd = "application/x-ndjson"

func TestInfoHasProductHeaderAndVersion(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	code, h, body := do(t, s, "GET", "/", "", "")
	if code != 200 || h.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Fatalf("GET / = %d, product %q", code, h.Get("X-Elastic-Product"))
	}
	var info struct {
		Version struct{ Number string } `json:"version"`
		Tagline string                  `json:"tagline"`
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil || !strings.HasPrefix(info.Version.Number, "8.") {
		t.Fatalf("info body %s: %v", body, err)
	}
	s.SetNoProductHeader(true)
	if _, h, _ := do(t, s, "GET", "/", "", ""); h.Get("X-Elastic-Product") != "" {
		t.Fatal("product header still sent")
	}
}

// bulkResp is the full bulk response shape.
type bulkResp struct {
	Took   *int  `json:"took"`
	Errors *bool `json:"errors"`
	Items  []map[string]struct {
		Index   string `json:"_index"`
		ID      string `json:"_id"`
		Version int64  `json:"_version"`
		Result  string `json:"result"`
		Status  int    `json:"status"`
		SeqNo   *int64 `json:"_seq_no"`
		Shards  *struct {
			Total, Successful, Failed int
		} `json:"_shards"`
		Error *struct {
			Type, Reason string
			CausedBy     *struct{ Type, Reason string } `json:"caused_by"`
		} `json:"error"`
	} `json:"items"`
}

func bulk(t *testing.T, s *Server, path, body string) bulkResp {
	t.Helper()
	code, _, out := do(t, s, "POST", path, nd, body)
	if code != 200 {
		t.Fatalf("bulk = %d %s", code, out)
	}
	var r bulkResp
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("bulk response %s: %v", out, err)
	}
	return r
}

func TestBulkIndexCreateSemantics(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	r := bulk(t, s, "/_bulk", `{"index":{"_index":"a","_id":"1"}}
{"n":1}
{"create":{"_index":"a","_id":"2"}}
{"n":2}
{"index":{"_index":"a","_id":"1"}}
{"n":3}
{"create":{"_index":"a","_id":"2"}}
{"n":4}
{"delete":{"_index":"a","_id":"9"}}
{"index":{"_index":"a","_id":"3","op_type":"create"}}
{"n":5}
`)
	if r.Took == nil || r.Errors == nil || !*r.Errors || len(r.Items) != 6 {
		t.Fatalf("response %+v", r)
	}
	want := []struct {
		op, result string
		status     int
		version    int64
		errType    string
	}{
		{"index", "created", 201, 1, ""},
		{"create", "created", 201, 1, ""},
		{"index", "updated", 200, 2, ""},
		{"create", "", 409, 0, "version_conflict_engine_exception"},
		{"delete", "not_found", 404, 1, ""},
		{"create", "created", 201, 1, ""},
	}
	for i, w := range want {
		it, ok := r.Items[i][w.op]
		if !ok {
			t.Fatalf("item %d: no %q key: %+v", i, w.op, r.Items[i])
		}
		if it.Status != w.status || it.Result != w.result || it.Version != w.version || it.Index != "a" {
			t.Errorf("item %d = %+v, want %+v", i, it, w)
		}
		if w.errType != "" && (it.Error == nil || it.Error.Type != w.errType || !strings.Contains(it.Error.Reason, "document already exists")) {
			t.Errorf("item %d error = %+v", i, it.Error)
		}
		if w.errType == "" && (it.Shards == nil || it.SeqNo == nil) {
			t.Errorf("item %d lacks _shards/_seq_no", i)
		}
	}
	docs := s.Docs("a")
	if len(docs) != 3 || string(docs["1"].Source) != `{"n":3}` || docs["1"].Version != 2 || string(docs["2"].Source) != `{"n":2}` {
		t.Fatalf("docs = %v", docs)
	}
	st := s.Stats()
	if st.BulkRequests != 1 || st.Items != 6 || st.Created != 3 || st.Updated != 1 || st.ItemStatus[409] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBulkMappingConflict(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	r := bulk(t, s, "/m/_bulk", `{"index":{"_id":"1"}}
{"count":1,"when":"2024-05-01T10:00:00.000Z","obj":{"x":"a"}}
{"index":{"_id":"2"}}
{"count":"abc"}
{"index":{"_id":"3"}}
{"count":"42","when":"not a date"}
{"index":{"_id":"4"}}
{"obj":"flat"}
{"index":{"_id":"5"}}
{"obj.x":"dotted is fine","count":7.5}
{"index":{"_id":"6"}}
{"new":1,"new2":[1,"x"]}
{"index":{"_id":"7"}}
{"new2":"7"}
`)
	status := func(i int) (int, string) {
		it := r.Items[i]["index"]
		typ := ""
		if it.Error != nil {
			typ = it.Error.Type + " " + it.Error.Reason
		}
		return it.Status, typ
	}
	if c, _ := status(0); c != 201 {
		t.Fatalf("doc 1: %d", c)
	}
	if c, e := status(1); c != 400 || !strings.Contains(e, "document_parsing_exception") || !strings.Contains(e, "failed to parse field [count] of type [long]") {
		t.Errorf("doc 2: %d %s", c, e)
	}
	if c, e := status(2); c != 400 || !strings.Contains(e, "failed to parse field [when] of type [date]") {
		t.Errorf("doc 3: %d %s", c, e)
	}
	if c, e := status(3); c != 400 || !strings.Contains(e, "object mapping for [obj] tried to parse field [obj] as object, but found a concrete value") {
		t.Errorf("doc 4: %d %s", c, e)
	}
	if c, e := status(4); c != 201 {
		t.Errorf("doc 5: %d %s", c, e)
	}
	// an array mixing a number and a string fails, and maps nothing
	if c, _ := status(5); c != 400 {
		t.Errorf("doc 6: %d", c)
	}
	if c, e := status(6); c != 201 {
		t.Errorf("doc 7 (new2 unmapped after the failed doc): %d %s", c, e)
	}
	if got := s.MappingType("m", "new2"); got != "text" {
		t.Errorf("new2 mapped %q", got)
	}
	if got := s.MappingType("m", "when"); got != "date" {
		t.Errorf("when mapped %q (date detection)", got)
	}
	if s.Count("m") != 3 {
		t.Errorf("count %d", s.Count("m"))
	}
}

func TestBulkRequestValidation(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	cases := []struct {
		ct, body string
		code     int
		want     string
	}{
		{"", "{}\n", 406, "Content-Type header is missing"},
		{"text/plain", "{}\n", 406, "not supported"},
		{nd, `{"index":{"_index":"a"}}` + "\n" + `{"a":1}`, 400, "must be terminated by a newline"},
		{nd, `{"index":{"_id":"1"}}` + "\n{}\n", 400, "index is missing"},
		{nd, `{"bogus":{"_index":"a"}}` + "\n{}\n", 400, "expected field [create], [delete], [index] or [update]"},
		{nd, `{"index":{"_index":"a","_type":"doc"}}` + "\n{}\n", 400, "unknown parameter [_type]"},
		{nd, "\n", 400, "no requests added"},
	}
	for _, c := range cases {
		code, _, body := do(t, s, "POST", "/_bulk", c.ct, c.body)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%q: %d %s, want %d %q", c.body, code, body, c.code, c.want)
		}
	}
	// invalid index names fail per item
	r := bulk(t, s, "/_bulk", `{"index":{"_index":"Upper","_id":"1"}}`+"\n{}\n")
	if it := r.Items[0]["index"]; it.Status != 400 || it.Error.Type != "invalid_index_name_exception" {
		t.Errorf("upper-case index: %+v", it)
	}
}

func TestFilterPath(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	body := `{"index":{"_index":"f","_id":"1"}}` + "\n{\"a\":1}\n" + `{"create":{"_index":"f","_id":"1"}}` + "\n{\"a\":1}\n"
	_, _, out := do(t, s, "POST", "/_bulk?filter_path=errors,items.*.status,items.*.error.type", nd, body)
	want := `{"errors":true,"items":[{"index":{"status":201}},{"create":{"status":409,"error":{"type":"version_conflict_engine_exception"}}}]}`
	if out != want {
		t.Fatalf("filtered:\n got %s\nwant %s", out, want)
	}
	_, _, out = do(t, s, "POST", "/_bulk?filter_path=took", nd, `{"index":{"_index":"f","_id":"2"}}`+"\n{\"a\":1}\n")
	if !strings.HasPrefix(out, `{"took":`) || strings.Contains(out, "items") {
		t.Fatalf("took only: %s", out)
	}
}

func TestAuth(t *testing.T) {
	s := New(Options{Username: "elastic", Password: "pw", APIKey: "a2V5OnNlY3JldA=="})
	defer s.Close()
	if code, h, body := do(t, s, "GET", "/", "", ""); code != 401 || !strings.Contains(body, "missing authentication credentials") || len(h.Values("WWW-Authenticate")) == 0 {
		t.Fatalf("anonymous: %d %s", code, body)
	}
	if code, _, body := do(t, s, "GET", "/", "", "", "Authorization", "Basic ZWxhc3RpYzp3cm9uZw=="); code != 401 || !strings.Contains(body, "unable to authenticate user [elastic]") {
		t.Fatalf("wrong password: %d %s", code, body)
	}
	if code, _, _ := do(t, s, "GET", "/", "", "", "Authorization", "Basic ZWxhc3RpYzpwdw=="); code != 200 {
		t.Fatalf("basic: %d", code)
	}
	if code, _, _ := do(t, s, "GET", "/", "", "", "Authorization", "ApiKey a2V5OnNlY3JldA=="); code != 200 {
		t.Fatalf("api key: %d", code)
	}
}

func TestFaults(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	s.SetFaults(Faults{Request503First: 1, Request429First: 1,
		ItemReject429IDs: map[string]int{"a": 2}, ItemReject400IDs: map[string]bool{"b": true}})
	body := `{"index":{"_index":"x","_id":"a"}}` + "\n{}\n" + `{"index":{"_index":"x","_id":"b"}}` + "\n{}\n" + `{"index":{"_index":"x","_id":"c"}}` + "\n{}\n"
	seen := map[int]bool{}
	for range 2 {
		code, _, out := do(t, s, "POST", "/_bulk", nd, body)
		seen[code] = true
		if !strings.Contains(out, `"status":`+map[int]string{429: "429", 503: "503"}[code]) {
			t.Fatalf("whole-request fault body: %s", out)
		}
	}
	if !seen[429] || !seen[503] {
		t.Fatalf("whole-request faults: %v", seen)
	}
	for round := 1; round <= 3; round++ {
		r := bulk(t, s, "/_bulk", body)
		a, b, c := r.Items[0]["index"], r.Items[1]["index"], r.Items[2]["index"]
		wantA := 429
		if round == 3 {
			wantA = 200
		}
		if round == 1 && c.Status != 201 || round > 1 && c.Status != 200 {
			t.Errorf("round %d c: %d", round, c.Status)
		}
		if a.Status != wantA && !(round == 3 && a.Status == 201) {
			t.Errorf("round %d a: %d %+v", round, a.Status, a.Error)
		}
		if a.Status == 429 && a.Error.Type != "es_rejected_execution_exception" {
			t.Errorf("429 type %s", a.Error.Type)
		}
		if b.Status != 400 || b.Error.Type != "document_parsing_exception" {
			t.Errorf("round %d b: %+v", round, b)
		}
	}
	if d := s.Docs("x"); len(d) != 2 || d["a"].Version != 1 {
		t.Fatalf("docs %v", d)
	}
}

func TestTemplatesAndDataStreams(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	tmpl := `{"index_patterns":["logs-sophos-*"],"priority":200,"data_stream":{},"template":{"mappings":{"properties":{"source":{"properties":{"ip":{"type":"ip"}}},"port":{"type":"long","ignore_malformed":true}}}}}`
	if code, _, body := do(t, s, "PUT", "/_index_template/t1", "application/json", tmpl); code != 200 || body != `{"acknowledged":true}` {
		t.Fatalf("put template: %d %s", code, body)
	}
	if code, _, body := do(t, s, "GET", "/_index_template/t1", "", ""); code != 200 || !strings.Contains(body, `"name":"t1"`) {
		t.Fatalf("get template: %d %s", code, body)
	}
	r := bulk(t, s, "/_bulk", `{"index":{"_index":"logs-sophos-x","_id":"1"}}
{"@timestamp":"2024-01-01T00:00:00Z"}
{"create":{"_index":"logs-sophos-x","_id":"1"}}
{"@timestamp":"2024-01-01T00:00:00Z","source":{"ip":"10.0.0.1"},"port":"n/a"}
{"create":{"_index":"logs-sophos-x","_id":"2"}}
{"@timestamp":"2024-01-01T00:00:00Z","source":{"ip":"not-an-ip"}}
{"create":{"_index":"logs-sophos-x","_id":"3"}}
{"no":"timestamp"}
`)
	if it := r.Items[0]["index"]; it.Status != 400 || !strings.Contains(it.Error.Reason, "op_type of create") {
		t.Errorf("index op on data stream: %+v", it)
	}
	if it := r.Items[1]["create"]; it.Status != 201 || !strings.HasPrefix(it.Index, ".ds-logs-sophos-x-") {
		t.Errorf("create: %+v", it)
	}
	if it := r.Items[2]["create"]; it.Status != 400 || !strings.Contains(it.Error.Reason, "of type [ip]") {
		t.Errorf("bad ip: %+v", it)
	}
	if it := r.Items[3]["create"]; it.Status != 400 || !strings.Contains(it.Error.Reason, "[@timestamp] is missing") {
		t.Errorf("no timestamp: %+v", it)
	}
	if ds := s.DataStreams(); len(ds) != 1 || ds[0] != "logs-sophos-x" {
		t.Fatalf("data streams %v", ds)
	}
	if code, _, body := do(t, s, "GET", "/_data_stream/logs-sophos-x", "", ""); code != 200 || !strings.Contains(body, `"index_name":".ds-logs-sophos-x-`) {
		t.Fatalf("get data stream: %d %s", code, body)
	}
	if n := s.Count("logs-sophos-x"); n != 1 {
		t.Fatalf("count %d", n)
	}
	if code, _, body := do(t, s, "GET", "/logs-sophos-x/_search?size=10&version=true", "", ""); code != 200 || !strings.Contains(body, `"_version":1`) || !strings.Contains(body, `"value":1`) {
		t.Fatalf("search: %d %s", code, body)
	}
}

func TestReadAPIs(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	bulk(t, s, "/_bulk", `{"index":{"_index":"r-1","_id":"a"}}`+"\n{\"v\":1}\n"+`{"index":{"_index":"r-2","_id":"b"}}`+"\n{\"v\":2}\n")
	if code, _, body := do(t, s, "GET", "/r-1/_doc/a", "", ""); code != 200 || !strings.Contains(body, `"found":true,"_source":{"v":1}`) {
		t.Fatalf("get doc: %d %s", code, body)
	}
	if code, _, body := do(t, s, "GET", "/r-1/_doc/zz", "", ""); code != 404 || !strings.Contains(body, `"found":false`) {
		t.Fatalf("missing doc: %d %s", code, body)
	}
	if code, _, body := do(t, s, "GET", "/r-*/_count", "", ""); code != 200 || !strings.HasPrefix(body, `{"count":2`) {
		t.Fatalf("count: %d %s", code, body)
	}
	if code, _, _ := do(t, s, "GET", "/nope/_count", "", ""); code != 404 {
		t.Fatalf("count missing: %d", code)
	}
	if code, _, _ := do(t, s, "DELETE", "/r-*", "", ""); code != 400 {
		t.Fatalf("wildcard delete: %d", code)
	}
	if code, _, _ := do(t, s, "DELETE", "/r-1", "", ""); code != 200 || s.Count("r-1") != 0 {
		t.Fatalf("delete: %d", code)
	}
}

func TestDuplicateKeysRejected(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	r := bulk(t, s, "/_bulk", `{"index":{"_index":"d","_id":"1"}}`+"\n"+`{"a":1,"b":{"a":2},"a":3}`+"\n")
	if it := r.Items[0]["index"]; it.Status != 400 || !strings.Contains(it.Error.Reason, "Duplicate field 'a'") {
		t.Fatalf("duplicate: %+v", it)
	}
}

func TestMalformedDocuments(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	docs := []string{`{"a":}`, `{"a":1,}`, `{"a":"x\q"}`, `{"a":01}`, `{"a":1} x`, `[1]`, `{"a":tru}`, `{"a":"` + "\x01" + `"}`, `{"":1}`}
	var body strings.Builder
	for i, d := range docs {
		body.WriteString(`{"index":{"_index":"mal","_id":"` + string(rune('a'+i)) + `"}}` + "\n" + d + "\n")
	}
	body.WriteString(`{"index":{"_index":"mal","_id":"ok"}}` + "\n" + `{"a":[{"b":"\u00e9\n"},{"b":"x"}],"c":-1.5e3,"d":null,"e":true,"f":[[1,2],[3]]}` + "\n")
	r := bulk(t, s, "/_bulk", body.String())
	for i := range docs {
		if it := r.Items[i]["index"]; it.Status != 400 || it.Error.Type != "document_parsing_exception" {
			t.Errorf("%s: %+v", docs[i], it)
		}
	}
	if it := r.Items[len(docs)]["index"]; it.Status != 201 {
		t.Errorf("valid doc: %+v", it.Error)
	}
}

func TestHasStopMatchesTable(t *testing.T) {
	for b := range 256 {
		for pos := range 8 {
			var w [8]byte
			for i := range w {
				w[i] = 'a'
			}
			w[pos] = byte(b)
			x := uint64(0)
			for i := 7; i >= 0; i-- {
				x = x<<8 | uint64(w[i])
			}
			if hasStop(x) != strStop[b] {
				t.Fatalf("byte %#x at %d: hasStop %v", b, pos, hasStop(x))
			}
		}
	}
}
