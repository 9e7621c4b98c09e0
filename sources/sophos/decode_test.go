package sophos

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodePageSamples(t *testing.T) {
	for _, tc := range []struct {
		file   string
		stream pipeline.Stream
		n      int
	}{
		{"events_page.json", pipeline.Events, 8},
		{"alerts_page.json", pipeline.Alerts, 4},
	} {
		body := readTestdata(t, tc.file)
		p, err := decodePage(body, tc.stream, "tenant-1", 10)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if len(p.Records) != tc.n {
			t.Fatalf("%s: %d records, want %d", tc.file, len(p.Records), tc.n)
		}
		var ref struct {
			HasMore    bool              `json:"has_more"`
			NextCursor string            `json:"next_cursor"`
			Items      []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(body, &ref); err != nil {
			t.Fatal(err)
		}
		if p.Cursor != ref.NextCursor || p.HasMore != ref.HasMore {
			t.Fatalf("%s: cursor %q has_more %v, want %q %v", tc.file, p.Cursor, p.HasMore, ref.NextCursor, ref.HasMore)
		}
		for i, r := range p.Records {
			if !bytes.Equal(r.Raw, ref.Items[i]) {
				t.Fatalf("%s item %d: raw differs from the item as sent", tc.file, i)
			}
			// Zero copy: Raw points into the body.
			if &r.Raw[0] != &body[bytes.Index(body, ref.Items[i])] {
				t.Fatalf("%s item %d: Raw is a copy, want a slice of the body", tc.file, i)
			}
			if r.Stream != tc.stream || r.Tenant != "tenant-1" || r.ID == "" || r.Type == "" || r.CreatedAt == "" {
				t.Fatalf("%s item %d: not normalized: %+v", tc.file, i, r)
			}
		}
		if tc.stream == pipeline.Alerts && (p.Records[0].Name == "" || p.Records[0].EndpointID == "") {
			t.Fatalf("alert description/data.endpoint_id not read: %+v", p.Records[0])
		}
	}
}

func TestDecodePageMalformed(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{``, "not valid JSON"},
		{`{"items":[{"id":"a"}],"next_cursor":"c"`, "not valid JSON"},
		{`{"items":[],"next_cursor":"c"} x`, "data after"},
		{`[]`, "not a JSON object"},
		{`{"next_cursor":"c"}`, `no "items"`},
		{`{"items":{},"next_cursor":"c"}`, `"items" is not an array`},
		{`{"items":[]}`, `no "next_cursor"`},
		{`{"items":[],"next_cursor":5}`, `"next_cursor" is not a string`},
		{`{"items":[],"next_cursor":"c","has_more":"yes"}`, `"has_more" is not a boolean`},
	} {
		_, err := decodePage([]byte(tc.body), pipeline.Events, "t", 1)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to mention %q", tc.body, err, tc.want)
		}
	}
	// A malformed item is rejected with its bytes and reason; the rest stays.
	for _, tc := range []struct{ body, raw, want string }{
		{`{"items":[{"id":"a"},7,{"id":"b"}],"next_cursor":"c"}`, `7`, "item 1: not a JSON object"},
		{`{"items":[{"id":"a"},{"type":"x"},{"id":"b"}],"next_cursor":"c"}`, `{"type":"x"}`, "item 1: item has no id"},
		{"{\"items\":[{\"id\":\"a\"},{\"type\":\"x\xff\"},{\"id\":\"b\"}],\"next_cursor\":\"c\"}", "{\"type\":\"x\uFFFD\"}", "item 1: item has no id"},
		{"{\"items\":[{\"id\":\"a\"},{\"id\":\"k\",\"ty\xffpe\":\"x\"},{\"id\":\"b\"}],\"next_cursor\":\"c\"}", "{\"id\":\"k\",\"ty\uFFFDpe\":\"x\"}", "item 1: item k has a key that is not valid UTF-8"},
	} {
		p, err := decodePage([]byte(tc.body), pipeline.Events, "t", 1)
		if err != nil || len(p.Records) != 2 || p.Records[1].ID != "b" || len(p.Rejected) != 1 {
			t.Fatalf("%q: %+v %v", tc.body, p, err)
		}
		if rj := p.Rejected[0]; string(rj.Raw) != tc.raw || !strings.Contains(rj.Reason, tc.want) {
			t.Fatalf("%q: rejected %q %q, want %q %q", tc.body, rj.Raw, rj.Reason, tc.raw, tc.want)
		}
	}
	// Space around the value and duplicate keys (last wins) are valid JSON.
	p, err := decodePage([]byte(" {\"has_more\":true,\"items\":[{\"id\":\"x\"}],\"next_cursor\":\"a\",\"next_cursor\":\"b\",\"has_more\":false}\n"), pipeline.Events, "t", 1)
	if err != nil || p.Cursor != "b" || p.HasMore || len(p.Records) != 1 {
		t.Fatalf("got %+v %v", p, err)
	}
}

// FuzzDecodePage feeds arbitrary bytes to the page decoder: it must never
// panic, must reject everything encoding/json calls invalid, and whatever
// it accepts must be exactly what encoding/json reads from the same bytes.
func FuzzDecodePage(f *testing.F) {
	f.Add(readTestdata(f, "events_page.json"))
	f.Add(readTestdata(f, "alerts_page.json"))
	for _, s := range []string{
		``, `{}`, `[]`, `null`, `{"items":[],"next_cursor":""}`,
		`{"has_more":true,"items":[{"id":"a"}],"next_cursor":"Y3Vy"}`,
		`{"items":[{"id":"a","data":{"endpoint_id":"e"}}],"next_cursor":"c","has_more":false}`,
		`{"items":[{"id":"\u0061\ud800"}],"next_cursor":"\u00e9"}`,
		`{"items":[{"id":"a"}],"next_cursor":"c"}}`, `{"items":[{"id":1}],"next_cursor":"c"}`,
		`{"items":[{"id":"a"} {"id":"b"}],"next_cursor":"c"}`, "{\"items\":[],\"next_cursor\":\"\x01\"}",
		`{"items":[[[[[[[[[[]]]]]]]]]]],"next_cursor":"c"}`, `{"items":[1e5,-0.5E-3],"next_cursor":"c"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := decodePage(data, pipeline.Events, "t", 4)
		valid := json.Valid(data)
		if err == nil && !valid {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		if nestingDepth(data) > 500 { // rawjson bounds nesting at 512, encoding/json at 10000
			return
		}
		ref, refErr := referenceDecode(data)
		if err != nil {
			if refErr == nil {
				t.Fatalf("rejected a page encoding/json reads fine: %v\n%q", err, data)
			}
			return
		}
		if refErr != nil {
			t.Fatalf("accepted a page encoding/json rejects (%v): %q", refErr, data)
		}
		if len(p.Rejected) > len(ref.rejected) && !utf8.Valid(data) {
			// Accepted divergence: an item with a key that is not valid
			// UTF-8 is refused; encoding/json reads it with U+FFFD.
			return
		}
		if len(p.Rejected) > len(ref.rejected) && bytes.Contains(data, []byte(`\`)) {
			// The one accepted divergence: pipeline.NewRecord matches
			// item keys as written, so an escaped "i\u0064" key is not id.
			return
		}
		if p.HasMore != ref.hasMore || len(p.Records) != len(ref.items) || len(p.Rejected) != len(ref.rejected) {
			t.Fatalf("has_more %v items %d rejected %d, encoding/json: %v %d %d", p.HasMore, len(p.Records), len(p.Rejected), ref.hasMore, len(ref.items), len(ref.rejected))
		}
		for i, rj := range p.Rejected {
			if !bytes.Equal(rj.Raw, pipeline.ValidUTF8(ref.rejected[i])) {
				t.Fatalf("rejected item %d: %q, encoding/json %q", i, rj.Raw, ref.rejected[i])
			}
		}
		if utf8.ValidString(p.Cursor) && p.Cursor != ref.cursor {
			t.Fatalf("cursor %q, encoding/json %q", p.Cursor, ref.cursor)
		}
		for i, r := range p.Records {
			if want := pipeline.ValidUTF8(ref.items[i]); !bytes.Equal(r.Raw, want) || !utf8.Valid(r.Raw) {
				t.Fatalf("item %d: %q, encoding/json %q", i, r.Raw, ref.items[i])
			}
			if utf8.ValidString(r.ID) && r.ID != ref.ids[i] && !bytes.Contains(r.Raw, []byte(`\`)) {
				t.Fatalf("item %d id %q, encoding/json %q", i, r.ID, ref.ids[i])
			}
		}
	})
}

type refPage struct {
	hasMore  bool
	cursor   string
	items    []json.RawMessage
	ids      []string
	rejected []json.RawMessage // items that are not objects with an id
}

// referenceDecode reads a page with encoding/json under the same rules.
func referenceDecode(data []byte) (refPage, error) {
	var p refPage
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return p, err
	}
	if m == nil {
		return p, errRef("not an object")
	}
	items, ok := m["items"]
	if !ok || !bytes.HasPrefix(bytes.TrimSpace(items), []byte("[")) {
		return p, errRef("items")
	}
	cur, ok := m["next_cursor"]
	if !ok || !bytes.HasPrefix(bytes.TrimSpace(cur), []byte(`"`)) {
		return p, errRef("next_cursor")
	}
	if err := json.Unmarshal(cur, &p.cursor); err != nil {
		return p, err
	}
	if hm, ok := m["has_more"]; ok {
		switch string(bytes.TrimSpace(hm)) {
		case "true":
			p.hasMore = true
		case "false":
		default:
			return p, errRef("has_more")
		}
	}
	var all []json.RawMessage
	if err := json.Unmarshal(items, &all); err != nil {
		return p, err
	}
	for _, it := range all {
		it = bytes.TrimSpace(it)
		var obj map[string]json.RawMessage
		var id string
		if !bytes.HasPrefix(it, []byte("{")) || json.Unmarshal(it, &obj) != nil || json.Unmarshal(obj["id"], &id) != nil || id == "" {
			p.rejected = append(p.rejected, it)
			continue
		}
		p.items = append(p.items, it)
		p.ids = append(p.ids, id)
	}
	return p, nil
}

type errRef string

func (e errRef) Error() string { return "reference: " + string(e) }

// nestingDepth is the maximum bracket depth outside strings.
func nestingDepth(b []byte) int {
	depth, maxDepth, inStr, esc := 0, 0, false, false
	for _, c := range b {
		switch {
		case inStr && esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case inStr && c == '"':
			inStr = false
		case inStr:
		case c == '"':
			inStr = true
		case c == '[' || c == '{':
			depth++
			maxDepth = max(maxDepth, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return maxDepth
}

// An item nested deeper than 512 levels is dead-lettered with its reason;
// the page's other items are delivered and the cursor moves on (the whole
// page was refused before, so the partition never moved).
func TestDecodePageDeepItemRejectedRestDelivered(t *testing.T) {
	for _, depth := range []int{513, 10_000, 200_000} {
		deep := `{"id":"deep","nest":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`
		body := `{"has_more":false,"items":[{"id":"a","type":"Event::Endpoint::Threat::Detected","created_at":"2026-11-26T10:00:00.000Z"},` +
			deep + `,` + strings.Repeat("[", depth) + strings.Repeat("]", depth) +
			`,{"id":"b","type":"Event::Endpoint::Threat::Detected","created_at":"2026-11-26T10:00:00.000Z"}],"next_cursor":"Y3Vy"}`
		p, err := decodePage([]byte(body), pipeline.Events, "t", 4)
		if err != nil {
			t.Fatalf("depth %d: page refused: %v", depth, err)
		}
		if len(p.Records) != 2 || p.Records[0].ID != "a" || p.Records[1].ID != "b" {
			t.Fatalf("depth %d: records %d", depth, len(p.Records))
		}
		if len(p.Rejected) != 2 || !strings.Contains(p.Rejected[0].Reason, "deeper than 512") || p.Cursor != "Y3Vy" {
			t.Fatalf("depth %d: rejected %+v cursor %q", depth, p.Rejected, p.Cursor)
		}
	}
	// Brackets that do not match are still a broken body (refetched).
	if _, err := decodePage([]byte(`{"items":[`+strings.Repeat("[", 600)+strings.Repeat("}", 600)+`]}`), pipeline.Events, "t", 1); err == nil {
		t.Fatal("mismatched deep brackets accepted")
	}
}
