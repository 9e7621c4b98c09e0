package encoding

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// The fixtures (integration_test.go) are the oracle for ordinary items;
// these tests pin the processors' behaviour on the odd values the
// fixtures do not have, as Elasticsearch's processors behave.

// ecsOf encodes item with opts and decodes the document.
func ecsOf(t *testing.T, s pipeline.Stream, item string, opts Options) map[string]any {
	t.Helper()
	return encodeDoc(t, newECSEncoder(opts), s, []byte(item))
}

// at walks a decoded document along a dotted path.
func at(doc map[string]any, path string) any {
	v, _ := getPath(doc, path)
	return v
}

func TestECSProcessorFailures(t *testing.T) {
	doc := ecsOf(t, pipeline.Alerts, `{"id":"a1","when":"yesterday","created_at":"2024-05-14T08:52:30.31+02:00",
		"data":{"source_info":{"ip":"10.0.0.300"},"ips_threat":{"local_port":"12a","remote_port":"0x1F"},
		"threat_id":{"date":1669273672000},"user_match_id":{"time":1667463333000}},"threat_cleanable":"maybe"}`, Options{})
	if k := at(doc, "event.kind"); !reflect.DeepEqual(k, []any{"alert", "pipeline_error"}) {
		t.Errorf("event.kind %v", k)
	}
	msgs, _ := at(doc, "error.message").([]any)
	joined := strings.Join(strings.Fields(strings.Trim(strings.ReplaceAll(strings.ReplaceAll(toJSON(msgs), `","`, "|"), `"`, ""), "[]")), " ")
	for _, want := range []string{"unable to parse date [yesterday]", "10.0.0.300", "unable to convert [12a] to long",
		"not present as part of path [json.data.user_match_id.date]", "[maybe] is not a boolean value"} {
		if !strings.Contains(joined, want) {
			t.Errorf("error.message %q lacks %q", joined, want)
		}
	}
	// what did not convert is not set; what did is
	for _, p := range []string{"source.ip", "related.ip", "sophos_central.alert.data.ips_threat.local_port", "sophos_central.alert.threat"} {
		if v := at(doc, p); v != nil {
			t.Errorf("%s = %v, want unset", p, v)
		}
	}
	if v := at(doc, "destination.port"); v != 31.0 {
		t.Errorf("destination.port %v, want 31 (0x1F, as convert reads hex)", v)
	}
	// the zone is applied; @timestamp falls back to created_at
	if v := at(doc, "event.created"); v != "2024-05-14T06:52:30.310Z" {
		t.Errorf("event.created %v", v)
	}
	if v := at(doc, "@timestamp"); v != "2024-05-14T06:52:30.310Z" {
		t.Errorf("@timestamp %v", v)
	}
	if v := at(doc, "sophos_central.alert.data.threat_id.date"); v != "2022-11-24T07:07:52.000Z" {
		t.Errorf("threat_id.date %v", v)
	}
}

func TestECSCleanupAndDuplicates(t *testing.T) {
	doc := ecsOf(t, pipeline.Events, `{"id":"x","id":"e1","name":"","when":"2024-05-14T08:52:27Z","location":"",
		"appCerts":[{"signer":"","thumbprint":null},{}],"origin":{"a":{"b":[]}},"group":"G","group":"UPDATING",
		"core_remedy_items":{"items":[{"sophosPid":"1","suspendResult":"","x":"y","x":"z"}],"totalItems":"3"}}`, Options{})
	want := map[string]any{
		"@timestamp": "2024-05-14T08:52:27.000Z",
		"ecs":        map[string]any{"version": ECSVersion},
		"event": map[string]any{"kind": []any{"event"}, "category": []any{"host"}, "type": []any{"info"},
			"id": "e1", "created": nil},
		"sophos_central": map[string]any{"event": map[string]any{
			"group":       "UPDATING",
			"core_remedy": map[string]any{"items": []any{map[string]any{"sophos_pid": "1", "x": "z"}}, "total_items": 3.0},
		}},
	}
	delete(want["event"].(map[string]any), "created")
	if d := diffDocs(want, doc); d != "" {
		t.Errorf("%s\n%s", d, toJSON(doc))
	}
}

func TestECSSourceSplit(t *testing.T) {
	for _, c := range []struct{ source, domain, user string }{
		{`DOMAIN\\user`, "DOMAIN", "user"},
		{`A\\b\\c`, "A", `b\c`},
		{`\\only`, "", "only"},
		{`plain name`, "", "plain name"},
		{`D\\u\nsecond\\line`, "D", "u"}, // grok's $ matches before a newline
		{`n/a`, "", "n/a"},
	} {
		doc := ecsOf(t, pipeline.Alerts, `{"id":"a","source":"`+c.source+`"}`, Options{})
		if got, _ := at(doc, "user.domain").(string); got != c.domain {
			t.Errorf("%q: user.domain %q, want %q", c.source, got, c.domain)
		}
		if got, _ := at(doc, "user.name").(string); got != c.user {
			t.Errorf("%q: user.name %q, want %q", c.source, got, c.user)
		}
	}
	doc := ecsOf(t, pipeline.Alerts, `{"id":"a","source":7}`, Options{})
	if at(doc, "sophos_central.alert.source.original") != 7.0 || at(doc, "user") != nil {
		t.Errorf("numeric source: %s", toJSON(doc))
	}
}

func TestECSRawDataPatterns(t *testing.T) {
	cases := []struct {
		raw  string
		want map[string]any
	}{
		{"Message  M1\\nPacket type   UDP\\nLocal IP:  10.1.2.3\\nLocal Port:  53\\nRemote IP:  2001:db8::1",
			map[string]any{"message": "M1", "packet_type": "UDP", "local": map[string]any{"ip": "10.1.2.3", "port": 53.0},
				"remote": map[string]any{"ip": "2001:db8::1"}}},
		{"just a line\\nand more", map[string]any{"message": "just a line"}},
		{"Message  M\\nReference  R\\nPacket type  TCP\\nLocal IP:  1.2.3.4\\nLocal Port:  1\\nLocal MAC:  aabb.ccdd.eeff\\nRemote IP:  5.6.7.8\\nRemote Port:  2\\nRemote MAC:  00:1c:b3:09:85:15",
			map[string]any{"message": "M", "reference": "R", "packet_type": "TCP",
				"local":  map[string]any{"ip": "1.2.3.4", "port": 1.0, "mac": "AABB-CCDD-EEFF"},
				"remote": map[string]any{"ip": "5.6.7.8", "port": 2.0, "mac": "00-1C-B3-09-85-15"}}},
	}
	for _, c := range cases {
		doc := ecsOf(t, pipeline.Events, `{"id":"e","ips_threat_data":{"rawData":"`+c.raw+`"}}`, Options{})
		got, _ := at(doc, "sophos_central.event.ips_threat_data.raw_data").(map[string]any)
		delete(got, "original")
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q:\n got %s\nwant %s", c.raw, toJSON(got), toJSON(c.want))
		}
	}
}

func TestECSExtras(t *testing.T) {
	item := `{"id":"e","severity":"high","location":"PC-1","endpoint_id":"ep","endpoint_type":"server","source":"D\\u","when":"2024-05-14T08:52:27Z"}`
	plain := ecsOf(t, pipeline.Events, item, Options{})
	for _, p := range []string{"host", "event.module", "event.dataset", "event.severity", "related", "sophos_central.tenant_id"} {
		if at(plain, p) != nil {
			t.Errorf("%s set without ecs_extras", p)
		}
	}
	r := &pipeline.Record{Stream: pipeline.Events, Raw: []byte(item), Tenant: "t-1"}
	out, err := newECSEncoder(Options{ECSExtras: true}).Append(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]any{"host.name": "PC-1", "host.id": "ep", "host.type": "server", "event.severity": 8.0,
		"event.module": "sophos_central", "event.dataset": "sophos_central.event", "sophos_central.tenant_id": "t-1"} {
		if got := at(doc, p); got != want {
			t.Errorf("%s = %v, want %v", p, got, want)
		}
	}
	if got := at(doc, "related.user"); !reflect.DeepEqual(got, []any{"u"}) {
		t.Errorf("related.user %v", got)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestECSObjectIDStrings: threat_id and user_match_id as strings (the API
// sends both forms) make the pipeline's date conditions fail: pipeline_error,
// and no threat_id / user_match_id fields.
func TestECSObjectIDStrings(t *testing.T) {
	doc := ecsOf(t, pipeline.Alerts, `{"id":"a","when":"2024-05-14T08:52:27Z","data":{"threat_id":"6643a1b2c3d4e5f601234567","user_match_id":"6643a1b2c3d4e5f601234568"}}`, Options{})
	if k := at(doc, "event.kind"); !reflect.DeepEqual(k, []any{"alert", "pipeline_error"}) {
		t.Errorf("event.kind %v", k)
	}
	if at(doc, "sophos_central.alert.data") != nil {
		t.Errorf("data: %s", toJSON(at(doc, "sophos_central.alert.data")))
	}
	if msgs, _ := at(doc, "error.message").([]any); len(msgs) == 0 {
		t.Error("no error.message")
	}
}
