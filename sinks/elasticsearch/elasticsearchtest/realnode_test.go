package elasticsearchtest

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
)

// TestAgreesWithRealNode sends the same requests to elasticsearchtest and to the real
// node at ELASTICSEARCH_URL (CI: OpenSearch 2.19 from test/services/search.sh)
// and compares what a log shipper reads: HTTP status, per-item bulk status,
// error type and result, _version, and the shape of the read APIs the tests
// use. Where Elasticsearch 8 and OpenSearch are documented to differ, the
// case names the Elasticsearch value elasticsearchtest keeps (esOnly) and the check
// accepts OpenSearch's.
func TestAgreesWithRealNode(t *testing.T) {
	u := os.Getenv("ELASTICSEARCH_URL")
	if u == "" {
		why := "ELASTICSEARCH_URL is not set: start a node with `eval \"$(bash test/services/search.sh start)\"` to compare elasticsearchtest with it"
		if os.Getenv("CI") != "" {
			t.Fatal(why + " (CI is set, so this is a failure)")
		}
		t.Skip(why)
	}
	srv := New(Options{})
	defer srv.Close()
	real := strings.TrimRight(u, "/")
	run := fmt.Sprintf("%06x", rand.Uint32()&0xffffff)
	ix := "estdiff-" + run
	defer func() {
		send(t, real, "DELETE", "/_data_stream/"+ix+"-ds", "", "")
		send(t, real, "DELETE", "/"+ix+"-*", "", "")
		send(t, real, "DELETE", "/_index_template/"+ix+"-tpl", "", "")
	}()

	nd := func(lines ...string) string { return strings.Join(lines, "\n") + "\n" }
	const ndjson = "application/x-ndjson"
	cases := []struct {
		name, method, path, ctype, body string
		full                            bool // compare the whole body too
		// esOnly: facts where Elasticsearch 8 (documented) and OpenSearch
		// differ: fact key → the value elasticsearchtest must give.
		esOnly map[string]string
	}{
		{name: "index new", method: "POST", path: "/_bulk", ctype: ndjson,
			body: nd(`{"index":{"_index":"`+ix+`-a","_id":"1"}}`, `{"count":1,"when":"2024-05-14T08:00:00.000Z"}`)},
		{name: "index again", method: "POST", path: "/_bulk", ctype: ndjson,
			body: nd(`{"index":{"_index":"`+ix+`-a","_id":"1"}}`, `{"count":2}`)},
		{name: "create existing", method: "POST", path: "/_bulk", ctype: ndjson,
			body: nd(`{"create":{"_index":"`+ix+`-a","_id":"1"}}`, `{"count":3}`)},
		{name: "type conflict", method: "POST", path: "/_bulk", ctype: ndjson,
			body: nd(`{"index":{"_index":"`+ix+`-a","_id":"2"}}`, `{"count":"not a number"}`),
			// ES 8 renamed mapper_parsing_exception for documents
			esOnly: map[string]string{"item0.type": "document_parsing_exception"}},
		{name: "object vs value", method: "POST", path: "/_bulk", ctype: ndjson,
			body:   nd(`{"index":{"_index":"`+ix+`-a","_id":"3"}}`, `{"count":{"a":1}}`),
			esOnly: map[string]string{"item0.type": "document_parsing_exception"}},
		{name: "uppercase index", method: "POST", path: "/_bulk", ctype: ndjson,
			body: nd(`{"index":{"_index":"`+strings.ToUpper(ix)+`","_id":"1"}}`, `{"a":1}`)},
		{name: "index name with _ first", method: "POST", path: "/_bulk", ctype: ndjson,
			body: nd(`{"index":{"_index":"_`+ix+`","_id":"1"}}`, `{"a":1}`)},
		{name: "mixed batch", method: "POST", path: "/_bulk", ctype: ndjson,
			body: nd(`{"index":{"_index":"`+ix+`-b","_id":"x1"}}`, `{"n":1}`,
				`{"index":{"_index":"`+ix+`-b","_id":"x2"}}`, `{"n":"bad"}`,
				`{"create":{"_index":"`+ix+`-b","_id":"x3"}}`, `{"n":3}`,
				`{"delete":{"_index":"`+ix+`-b","_id":"nope"}}`,
				`{"update":{"_index":"`+ix+`-b","_id":"x1"}}`, `{"doc":{"n":5}}`,
				`{"update":{"_index":"`+ix+`-b","_id":"missing"}}`, `{"doc":{"n":5}}`),
			esOnly: map[string]string{"item1.type": "document_parsing_exception"}},
		{name: "default index in path", method: "POST", path: "/" + ix + "-c/_bulk", ctype: ndjson,
			body: nd(`{"index":{"_id":"1"}}`, `{"a":1}`)},
		{name: "no trailing newline", method: "POST", path: "/_bulk", ctype: ndjson,
			body: `{"index":{"_index":"` + ix + `-a","_id":"9"}}` + "\n" + `{"count":9}`},
		{name: "unknown action", method: "POST", path: "/_bulk", ctype: ndjson,
			body: nd(`{"upsert":{"_index":"`+ix+`-a","_id":"1"}}`, `{"a":1}`)},
		{name: "broken source", method: "POST", path: "/_bulk", ctype: ndjson,
			body:   nd(`{"index":{"_index":"`+ix+`-a","_id":"8"}}`, `{"count":`),
			esOnly: map[string]string{"item0.type": "document_parsing_exception"}},
		{name: "empty body", method: "POST", path: "/_bulk", ctype: ndjson, body: ""},
		{name: "blank lines", method: "POST", path: "/_bulk", ctype: ndjson, body: "\n\n"},
		{name: "id over 512 bytes", method: "POST", path: "/_bulk", ctype: ndjson,
			body: nd(`{"index":{"_index":"`+ix+`-a","_id":"`+strings.Repeat("x", 513)+`"}}`, `{"a":1}`)},
		{name: "empty id", method: "POST", path: "/_bulk", ctype: ndjson,
			body: nd(`{"index":{"_index":"`+ix+`-a","_id":""}}`, `{"a":1}`)},
		{name: "index name with a comma", method: "POST", path: "/_bulk", ctype: ndjson,
			body: nd(`{"index":{"_index":"`+ix+`,x","_id":"1"}}`, `{"a":1}`)},
		{name: "dynamic types", method: "POST", path: "/_bulk", ctype: ndjson,
			body: nd(`{"index":{"_index":"`+ix+`-m","_id":"1"}}`, `{"when":"2024-05-14T08:00:00.000Z","ip":"10.1.2.3","n":1,"f":1.5,"b":true,"s":"text here","o":{"k":"v"},"l":["a","b"]}`)},
		{name: "dynamic date", method: "GET", path: "/" + ix + "-m/_mapping/field/when", full: true},
		{name: "dynamic ip-like string", method: "GET", path: "/" + ix + "-m/_mapping/field/ip", full: true},
		{name: "dynamic long", method: "GET", path: "/" + ix + "-m/_mapping/field/n", full: true},
		{name: "dynamic float", method: "GET", path: "/" + ix + "-m/_mapping/field/f", full: true},
		{name: "dynamic boolean", method: "GET", path: "/" + ix + "-m/_mapping/field/b", full: true},
		{name: "dynamic string", method: "GET", path: "/" + ix + "-m/_mapping/field/s", full: true},
		{name: "dynamic object leaf", method: "GET", path: "/" + ix + "-m/_mapping/field/o.k", full: true},
		{name: "dynamic array", method: "GET", path: "/" + ix + "-m/_mapping/field/l", full: true},
		{name: "get template", method: "GET", path: "/_index_template/" + ix + "-tpl", full: true},
		{name: "text/plain", method: "POST", path: "/_bulk", ctype: "text/plain",
			body: nd(`{"index":{"_index":"`+ix+`-a","_id":"1"}}`, `{"a":1}`)},
		{name: "missing pipeline", method: "POST", path: "/_bulk?pipeline=" + ix + "-nope", ctype: ndjson,
			body: nd(`{"index":{"_index":"`+ix+`-a","_id":"1"}}`, `{"a":1}`)},
		{name: "put ds template", method: "PUT", path: "/_index_template/" + ix + "-tpl", ctype: "application/json",
			body: `{"index_patterns":["` + ix + `-ds*"],"priority":200,"data_stream":{},"template":{"mappings":{"properties":{"@timestamp":{"type":"date"}}}}}`},
		{name: "get missing template", method: "GET", path: "/_index_template/" + ix + "-none"},
		{name: "create into data stream", method: "POST", path: "/_bulk", ctype: ndjson,
			body: nd(`{"create":{"_index":"`+ix+`-ds","_id":"d1"}}`, `{"@timestamp":"2024-05-14T08:00:00.000Z","a":1}`)},
		{name: "create again into data stream", method: "POST", path: "/_bulk", ctype: ndjson,
			body: nd(`{"create":{"_index":"`+ix+`-ds","_id":"d1"}}`, `{"@timestamp":"2024-05-14T08:00:00.000Z","a":1}`)},
		{name: "index into data stream", method: "POST", path: "/_bulk", ctype: ndjson,
			body: nd(`{"index":{"_index":"`+ix+`-ds","_id":"d2"}}`, `{"@timestamp":"2024-05-14T08:00:00.000Z","a":1}`)},
		{name: "no @timestamp into data stream", method: "POST", path: "/_bulk", ctype: ndjson,
			body: nd(`{"create":{"_index":"`+ix+`-ds","_id":"d3"}}`, `{"a":1}`),
			// ES 8: document_parsing_exception; OpenSearch: mapper_parsing_exception
			esOnly: map[string]string{"item0.type": "document_parsing_exception"}},
		{name: "filter_path", method: "POST", path: "/_bulk?filter_path=errors,items.*.status,items.*.error.type", ctype: ndjson,
			body:   nd(`{"index":{"_index":"`+ix+`-a","_id":"f1"}}`, `{"count":1}`, `{"index":{"_index":"`+ix+`-a","_id":"f2"}}`, `{"count":"x"}`),
			esOnly: map[string]string{"item1.type": "document_parsing_exception"}},
		{name: "get doc", method: "GET", path: "/" + ix + "-a/_doc/1"},
		{name: "get missing doc", method: "GET", path: "/" + ix + "-a/_doc/nope"},
		{name: "field mapping", method: "GET", path: "/" + ix + "-a/_mapping/field/count"},
		{name: "search missing index", method: "GET", path: "/" + ix + "-nope/_search"},
		{name: "refresh", method: "POST", path: "/" + ix + "-a/_refresh"},
		{name: "count", method: "GET", path: "/" + ix + "-a/_count"},
	}
	var diffs []string
	for _, c := range cases {
		want := facts(t, real, c.method, c.path, c.ctype, c.body, c.full)
		got := facts(t, srv.URL, c.method, c.path, c.ctype, c.body, c.full)
		for k, v := range c.esOnly {
			if w, ok := want[k]; ok && w != v {
				want[k] = v // the documented Elasticsearch value
			}
		}
		for _, k := range unionKeys(want, got) {
			if want[k] != got[k] {
				diffs = append(diffs, fmt.Sprintf("%s: %s: real %q, elasticsearchtest %q", c.name, k, want[k], got[k]))
			}
		}
	}
	for _, d := range diffs {
		t.Error(d)
	}
}

// send sends one request and returns the status and body.
func send(t *testing.T, base, method, path, ctype, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, base, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// facts reduces a response to what clients read: status, error type, bulk
// errors flag and per item status/error type/result/_version, found, and the
// top-level keys (the shape).
func facts(t *testing.T, base, method, path, ctype, body string, full bool) map[string]string {
	t.Helper()
	code, b := send(t, base, method, path, ctype, body)
	f := map[string]string{"status": fmt.Sprint(code)}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return f
	}
	if full {
		canon, _ := json.Marshal(m) // sorted keys
		f["body"] = string(canon)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "took" && k != "_shards" && k != "_seq_no" && k != "_primary_term" && k != "ingest_took" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	f["keys"] = strings.Join(keys, ",")
	if e, ok := m["error"].(map[string]any); ok {
		f["error.type"] = fmt.Sprint(e["type"])
	}
	for _, k := range []string{"errors", "found", "_version", "result", "count"} {
		if v, ok := m[k]; ok {
			f[k] = fmt.Sprint(v)
		}
	}
	items, _ := m["items"].([]any)
	for i, it := range items {
		for action, v := range it.(map[string]any) {
			r := v.(map[string]any)
			p := fmt.Sprintf("item%d.", i)
			f[p+"action"] = action
			f[p+"status"] = fmt.Sprint(r["status"])
			if r["result"] != nil {
				f[p+"result"] = fmt.Sprint(r["result"])
			}
			if r["_version"] != nil {
				f[p+"_version"] = fmt.Sprint(r["_version"])
			}
			if e, ok := r["error"].(map[string]any); ok {
				f[p+"type"] = fmt.Sprint(e["type"])
			}
		}
	}
	return f
}

func unionKeys(a, b map[string]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]string{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}
