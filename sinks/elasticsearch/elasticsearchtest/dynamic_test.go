package elasticsearchtest

import (
	"strings"
	"testing"
)

// TestDynamicTemplatesAndFieldLimit: date detection runs before the
// string dynamic templates (so with it on, a date-looking string becomes a
// date, not the template's keyword); path_match templates apply; the total
// fields limit refuses a document unless ignore_dynamic_beyond_limit.
func TestDynamicTemplatesAndFieldLimit(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	put := func(name, body string) {
		if code, _, b := do(t, s, "PUT", "/_index_template/"+name, "application/json", body); code != 200 {
			t.Fatalf("%s: %d %s", name, code, b)
		}
	}
	index := func(ix, doc string) string {
		_, _, b := do(t, s, "POST", "/_bulk", "application/x-ndjson", `{"index":{"_index":"`+ix+`","_id":"1"}}`+"\n"+doc+"\n")
		return b
	}
	put("dd", `{"index_patterns":["dd-*"],"priority":10,"template":{"mappings":{"dynamic_templates":[{"ips":{"path_match":"a.*.ip","mapping":{"type":"ip"}}},{"kw":{"match_mapping_type":"string","mapping":{"type":"keyword"}}}]}}}`)
	put("nodd", `{"index_patterns":["nodd-*"],"priority":10,"template":{"mappings":{"date_detection":false,"dynamic_templates":[{"kw":{"match_mapping_type":"string","mapping":{"type":"keyword"}}}]}}}`)
	doc := `{"when":"2024-05-14T08:00:00Z","a":{"x":{"ip":"10.0.0.1"}},"name":"n"}`
	for _, ix := range []string{"dd-1", "nodd-1"} {
		if b := index(ix, doc); !strings.Contains(b, `"status":201`) {
			t.Fatalf("%s: %s", ix, b)
		}
	}
	for ix, want := range map[string]map[string]string{
		"dd-1":   {"when": "date", "a.x.ip": "ip", "name": "keyword"},
		"nodd-1": {"when": "keyword", "a.x.ip": "keyword"},
	} {
		for f, typ := range want {
			if got := s.MappingType(ix, f); got != typ {
				t.Errorf("%s %s: %s, want %s", ix, f, got, typ)
			}
		}
	}
	put("lim", `{"index_patterns":["lim-*"],"priority":10,"template":{"settings":{"index":{"mapping":{"total_fields":{"limit":3}}}}}}`)
	put("limig", `{"index_patterns":["limig-*"],"priority":10,"template":{"settings":{"index.mapping.total_fields.limit":3,"index.mapping.total_fields.ignore_dynamic_beyond_limit":true}}}`)
	wide := `{"f1":1,"f2":2,"f3":3,"f4":4,"f5":5}`
	if b := index("lim-1", wide); !strings.Contains(b, `"status":400`) || !strings.Contains(b, "Limit of total fields [3] has been exceeded") {
		t.Errorf("limit: %s", b)
	}
	if b := index("limig-1", wide); !strings.Contains(b, `"status":201`) {
		t.Errorf("ignore_dynamic_beyond_limit: %s", b)
	}
	// overlapping patterns of the same priority are refused
	if code, _, b := do(t, s, "PUT", "/_index_template/dd2", "application/json", `{"index_patterns":["dd-x*"],"priority":10}`); code != 400 || !strings.Contains(b, "same priority [10]") {
		t.Errorf("overlap: %d %s", code, b)
	}
}
