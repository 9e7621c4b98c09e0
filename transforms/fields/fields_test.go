package fields

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
	"github.com/sophos-connect/sophos-connect/transforms/internal/samples"
)

func TestEdits(t *testing.T) {
	const item = `{"id":"1","a":{"b":1,"c":"x"},"n":null,"s":"str","e":{}}`
	cases := []struct {
		name string
		edit func([]byte) ([]byte, error)
		want string
	}{
		{"set replaces in place", set("a.b", `2`, false), `{"id":"1","a":{"b":2,"c":"x"},"n":null,"s":"str","e":{}}`},
		{"set appends a new key at the end", set("z", `"new"`, false), `{"id":"1","a":{"b":1,"c":"x"},"n":null,"s":"str","e":{},"z":"new"}`},
		{"set appends inside a nested object", set("a.d", `true`, false), `{"id":"1","a":{"b":1,"c":"x","d":true},"n":null,"s":"str","e":{}}`},
		{"set into an empty object", set("e.k", `1`, false), `{"id":"1","a":{"b":1,"c":"x"},"n":null,"s":"str","e":{"k":1}}`},
		{"set creates intermediate objects", set("x.y.z", `"v"`, false), `{"id":"1","a":{"b":1,"c":"x"},"n":null,"s":"str","e":{},"x":{"y":{"z":"v"}}}`},
		{"set through null makes an object", set("n.k.l", `1`, false), `{"id":"1","a":{"b":1,"c":"x"},"n":{"k":{"l":1}},"s":"str","e":{}}`},
		{"set replaces null itself", set("n", `{"o":1}`, false), `{"id":"1","a":{"b":1,"c":"x"},"n":{"o":1},"s":"str","e":{}}`},
		{"add keeps an existing value", set("a.b", `2`, true), item},
		{"add keeps an existing null", set("n", `2`, true), item},
		{"add writes an absent key", set("a.q", `2`, true), `{"id":"1","a":{"b":1,"c":"x","q":2},"n":null,"s":"str","e":{}}`},
		{"drop the first member", del("id"), `{"a":{"b":1,"c":"x"},"n":null,"s":"str","e":{}}`},
		{"drop a middle member", del("n"), `{"id":"1","a":{"b":1,"c":"x"},"s":"str","e":{}}`},
		{"drop the last member", del("e"), `{"id":"1","a":{"b":1,"c":"x"},"n":null,"s":"str"}`},
		{"drop a nested member", del("a.c"), `{"id":"1","a":{"b":1},"n":null,"s":"str","e":{}}`},
		{"drop the only member", func(b []byte) ([]byte, error) {
			b, _ = del("a.b")(b)
			return del("a.c")(b)
		}, `{"id":"1","a":{},"n":null,"s":"str","e":{}}`},
		{"drop an absent path", del("a.zz"), item},
		{"drop below a non-object", del("s.x"), item},
	}
	for _, c := range cases {
		in := []byte(item)
		got, err := c.edit(in)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if string(got) != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
		if string(in) != item {
			t.Errorf("%s: the input buffer was modified", c.name)
		}
	}
	if _, _, err := setPath([]byte(item), []string{"s", "x"}, []byte(`1`), false); err == nil || err.Error() != "s is a string, not an object" {
		t.Errorf("set through a string: %v", err)
	}
	if _, _, err := setPath([]byte(`[1]`), []string{"x"}, []byte(`1`), false); err == nil {
		t.Error("set on an array: no error")
	}
}

func TestEditsKeepSpacing(t *testing.T) {
	const item = "{\n  \"a\": 1,\n  \"b\": {\n    \"c\": 2\n  }\n}"
	got, _, _ := setPath([]byte(item), []string{"b", "d"}, []byte(`3`), false)
	if want := "{\n  \"a\": 1,\n  \"b\": {\n    \"c\": 2,\"d\":3\n  }\n}"; string(got) != want {
		t.Errorf("set: %q", got)
	}
	got, _, _ = deletePath([]byte(item), []string{"a"})
	if want := "{\n  \"b\": {\n    \"c\": 2\n  }\n}"; string(got) != want {
		t.Errorf("drop first: %q", got)
	}
	got, _, _ = deletePath([]byte(item), []string{"b"})
	if want := "{\n  \"a\": 1\n}"; string(got) != want {
		t.Errorf("drop last: %q", got)
	}
	// Escaped keys are matched after unquoting.
	got, _, _ = setPath([]byte(`{"\u0069d":"1"}`), []string{"id"}, []byte(`"2"`), false)
	if string(got) != `{"\u0069d":"2"}` {
		t.Errorf("escaped key: %s", got)
	}
}

func set(path, val string, onlyIfAbsent bool) func([]byte) ([]byte, error) {
	return func(b []byte) ([]byte, error) {
		out, _, err := setPath(b, strings.Split(path, "."), []byte(val), onlyIfAbsent)
		return out, err
	}
}

func del(path string) func([]byte) ([]byte, error) {
	return func(b []byte) ([]byte, error) {
		out, _, err := deletePath(b, strings.Split(path, "."))
		return out, err
	}
}

func decode(t testing.TB, src string) Config {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	if err := config.DecodeStrict(n.Content[0], &c, "transforms[1]", "type"); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return c
}

// keys returns the top-level keys of a JSON object in order.
func keys(t *testing.T, raw []byte) []string {
	var ks []string
	if err := rawjson.EachMember(raw, func(k, _ []byte) bool {
		ks = append(ks, rawjson.String(k))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return ks
}

// TestSamples runs one configuration over every sample event and alert and
// checks the result against a full decode: values, key order, typed fields.
func TestSamples(t *testing.T) {
	t.Setenv("SITE", "site-a")
	cfg := decode(t, `
rename: {location: host.name, source_info.ip: host.ip, customer_id: tenant_id}
set: {severity: high, observer.stream: "${stream}", observer.tenant: "${tenant}"}
add: {collector: "${env:SITE}", data.site: "${env:SITE}", priority: 5, tags: [sophos, siem], group: NONE}
drop: [source_info, when, data.endpoint_java_id]
`)
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, stream := range []pipeline.Stream{pipeline.Events, pipeline.Alerts} {
		for _, r := range samples.Records(stream) {
			orig := append([]byte(nil), r.Raw...)
			origRaw := r.Raw
			var before map[string]any
			_ = json.Unmarshal(orig, &before)
			origKeys := keys(t, orig)

			out, err := f.Process(r, nil)
			if err != nil {
				t.Fatalf("%s: %v", r.ID, err)
			}
			if len(out) != 1 || out[0] != r {
				t.Fatalf("Process returned %d records", len(out))
			}
			if !bytes.Equal(origRaw, orig) {
				t.Fatalf("%s: the source's buffer was modified", r.ID)
			}
			if !rawjson.Valid(r.Raw) {
				t.Fatalf("%s: invalid JSON: %s", r.ID, r.Raw)
			}
			var after map[string]any
			if err := json.Unmarshal(r.Raw, &after); err != nil {
				t.Fatal(err)
			}
			host := after["host"].(map[string]any)
			if host["name"] != before["location"] {
				t.Errorf("%s: host.name = %v, want location %v", r.ID, host["name"], before["location"])
			}
			if si, ok := before["source_info"].(map[string]any); ok && host["ip"] != si["ip"] {
				t.Errorf("%s: host.ip = %v", r.ID, host["ip"])
			}
			for _, gone := range []string{"location", "customer_id", "source_info", "when"} {
				if _, ok := after[gone]; ok {
					t.Errorf("%s: %s still present", r.ID, gone)
				}
			}
			if after["tenant_id"] != samples.Tenant || after["severity"] != "high" || after["collector"] != "site-a" || after["priority"] != float64(5) {
				t.Errorf("%s: wrong values: %v", r.ID, after)
			}
			obs := after["observer"].(map[string]any)
			if obs["stream"] != string(stream) || obs["tenant"] != samples.Tenant {
				t.Errorf("%s: observer = %v", r.ID, obs)
			}
			if tags, _ := json.Marshal(after["tags"]); string(tags) != `["sophos","siem"]` {
				t.Errorf("%s: tags = %s", r.ID, tags)
			}
			// add keeps the events' group; alerts had none.
			if g, had := before["group"]; had && after["group"] != g || !had && after["group"] != "NONE" {
				t.Errorf("%s: group = %v (before %v)", r.ID, after["group"], g)
			}
			if stream == pipeline.Alerts {
				data := after["data"].(map[string]any)
				if data["site"] != "site-a" || data["endpoint_java_id"] != nil || data["endpoint_id"] == nil {
					t.Errorf("%s: data = %v", r.ID, data)
				}
			}
			// Untouched keys keep their order; new keys follow.
			var kept []string
			for _, k := range origKeys {
				if _, ok := after[k]; ok {
					kept = append(kept, k)
				}
			}
			got := keys(t, r.Raw)
			if strings.Join(got[:len(kept)], ",") != strings.Join(kept, ",") {
				t.Errorf("%s: key order %v, want %v first", r.ID, got, kept)
			}
			// The typed fields follow the edits.
			if r.Severity != "high" || r.Host != "" || r.When != "" || r.Stream != stream || r.Tenant != samples.Tenant {
				t.Errorf("%s: typed fields not re-derived: %+v", r.ID, *r)
			}
			if stream == pipeline.Alerts && r.Group != "NONE" {
				t.Errorf("%s: group %q", r.ID, r.Group)
			}
		}
	}
}

// TestRetypeMatchesNewRecord: after edits to typed keys the record is what
// pipeline.NewRecord makes of the new bytes (the stage reads the typed
// fields from its parsed members instead of walking the item again).
func TestRetypeMatchesNewRecord(t *testing.T) {
	for _, src := range []string{
		`{rename: {location: host.name, description: summary, source: user}}`,
		`{set: {severity: high, type: X, name: renamed, description: d, group: G, when: w, created_at: c, location: L, source: S}}`,
		`{drop: [endpoint_id, endpoint_type]}`,
		`{set: {data.endpoint_id: e1, endpoint_type: null}}`,
		`{rename: {data: payload}}`,
		`{add: {name: n, description: d, group: g, endpoint_id: x}}`,
	} {
		f, err := New(decode(t, src))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range samples.All() {
			if _, err := f.Process(r, nil); err != nil {
				t.Fatalf("%s: %v", src, err)
			}
			want, err := pipeline.NewRecord(r.Stream, r.Tenant, r.Raw)
			if err != nil || fmt.Sprint(want) != fmt.Sprint(*r) {
				t.Errorf("%s on %s:\n got %+v\nwant %+v (%v)", src, r.ID, *r, want, err)
			}
		}
	}
}

func TestRetypeOnlyWhenNeeded(t *testing.T) {
	f, err := New(decode(t, `{set: {extra: 1}}`))
	if err != nil {
		t.Fatal(err)
	}
	r := samples.Records(pipeline.Events)[0]
	r.Host = "kept: typed fields are not re-read when no typed key changed"
	if _, err := f.Process(r, nil); err != nil {
		t.Fatal(err)
	}
	if r.Host != "kept: typed fields are not re-read when no typed key changed" || !bytes.HasSuffix(r.Raw, []byte(`,"extra":1}`)) {
		t.Errorf("record = %+v", r)
	}
}

func TestProcessErrors(t *testing.T) {
	cases := []struct{ yaml, raw, want string }{
		{`{set: {source_info.ip.v4: x}}`, `{"id":"1","source_info":{"ip":"10.0.0.1"}}`, "fields: set source_info.ip.v4: source_info.ip is a string, not an object"},
		{`{rename: {a: b.c}}`, `{"id":"1","a":1,"b":[1]}`, "fields: rename a: b is an array, not an object"},
		{`{set: {x: 1}}`, `{"id":"1",`, "fields: invalid JSON"},
		{`{set: {x: 1}}`, `"str"`, "not a JSON object"},
	}
	for _, c := range cases {
		f, err := New(decode(t, c.yaml))
		if err != nil {
			t.Fatal(err)
		}
		r := &pipeline.Record{Stream: pipeline.Events, ID: "1", Raw: []byte(c.raw)}
		out, err := f.Process(r, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || len(out) != 0 {
			t.Errorf("%s on %s: %v, %d out; want error %q", c.yaml, c.raw, err, len(out), c.want)
		}
		if string(r.Raw) != c.raw {
			t.Errorf("a failed edit changed the record: %s", r.Raw)
		}
	}
}

func TestTemplates(t *testing.T) {
	t.Setenv("SC_SITE", `paris "north"`)
	r := &pipeline.Record{Stream: pipeline.Alerts, Tenant: "t-1", ID: "1", Raw: []byte(`{"id":"1"}`)}
	cases := []struct{ tmpl, want string }{
		{"plain", `"plain"`},
		{"${stream}", `"alert"`},
		{"sophos-${stream}-${tenant}", `"sophos-alert-t-1"`},
		{"${env:SC_SITE}/${tenant}", `"paris \"north\"/t-1"`},
		{"$${stream} costs $5", `"${stream} costs $5"`},
		{"", `""`},
	}
	for _, c := range cases {
		tp, err := parseTemplate(c.tmpl, osLookup)
		if err != nil {
			t.Errorf("%q: %v", c.tmpl, err)
			continue
		}
		if got := string(tp.appendJSON(nil, r)); got != c.want {
			t.Errorf("%q = %s, want %s", c.tmpl, got, c.want)
		}
	}
	for tmpl, want := range map[string]string{
		"${env:SC_UNSET_VARIABLE}": "environment variable SC_UNSET_VARIABLE is not set",
		"${host}":                  "unknown placeholder ${host}",
		"${env:}":                  "unknown placeholder ${env:}",
		"${stream":                 "unclosed ${",
	} {
		if _, err := parseTemplate(tmpl, osLookup); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", tmpl, err, want)
		}
	}
	if _, err := New(decode(t, `{add: {site: "${env:SC_UNSET_VARIABLE}"}}`)); err == nil || !strings.Contains(err.Error(), "add.site: environment variable SC_UNSET_VARIABLE is not set") {
		t.Errorf("New with an unset variable: %v", err)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{`{drop: [id]}`, "drop[0]: id cannot be removed"},
		{`{rename: {id: event_id}}`, "rename.id: id cannot be removed"},
		{`{set: {id: x}}`, "set.id: id cannot be changed"},
		{`{rename: {a: id}}`, "rename.a: id cannot be changed"},
		{`{add: {a..b: 1}}`, `add.a..b: path "a..b" has an empty key`},
		{`{drop: [""]}`, "drop[0]: empty path"},
		{`{set: {x: "${nope}"}}`, "set.x: unknown placeholder ${nope}"},
	}
	for _, c := range cases {
		cfg := decode(t, c.yaml)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.yaml, err, c.want)
		}
	}
	for src, want := range map[string]string{
		"set: [a, b]":         "expected a mapping of path: value",
		"rename: {a: {b: c}}": "the new name must be a path",
		"add: {x: .inf}":      ".inf cannot be written as JSON",
		"add: {x: {1: a}}":    "mapping keys must be strings",
		"add: {x: 1}\nfoo: 2": "foo: unknown key",
	} {
		var n yaml.Node
		_ = yaml.Unmarshal([]byte(src), &n)
		c := DefaultConfig()
		if err := config.DecodeStrict(n.Content[0], &c, "transforms[1]"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", src, err, want)
		}
	}
}

func TestString(t *testing.T) {
	f, err := New(decode(t, `{rename: {location: host.name}, set: {a: 1}, add: {collector: x, b: y}, drop: [customer_id, when]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.String(), "fields(rename: location→host.name; set: a; add: collector, b; drop: [customer_id, when])"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// FuzzFields: for any object and any paths and value, every edit yields
// valid JSON, set/add leave the value readable at the path, and drop leaves
// it absent. Invalid input is an error, never a panic.
func FuzzFields(f *testing.F) {
	for _, raw := range samples.Items(pipeline.Events)[:3] {
		f.Add(string(raw), "source_info.ip", "new.key", `x"\y`)
	}
	alerts := samples.Items(pipeline.Alerts)
	f.Add(string(alerts[0]), "data", "endpoint_type", "x")
	f.Add(string(alerts[1]), "data.endpoint_id", "endpoint_id", "")
	f.Add(string(alerts[2]), "description", "name", "n")
	f.Add(string(samples.Items(pipeline.Events)[4]), "location", "host.name", "h")
	f.Add(`{"id":"1","endpoint_id":"","data":{"endpoint_id":"d"}}`, "endpoint_id", "data.endpoint_type", "t")
	f.Add(`{"a":{"b":null},"c":[1,{"d":2}]}`, "a.b.c", "c.d", "v")
	f.Add(`{ }`, "a", "a", "")
	f.Add(`{"a" : 1 , "b" :{ } }`, "b.x", "a", "é")
	f.Add(`{"\u0061":1}`, "a", "a.b", "\x00")
	f.Fuzz(func(t *testing.T, raw, p1, p2, val string) {
		path1, err1 := splitPath(p1)
		path2, err2 := splitPath(p2)
		if err1 != nil || err2 != nil {
			return
		}
		in := []byte(raw)
		valid := rawjson.Valid(in)
		jv := rawjson.AppendString(nil, val)
		check := func(what string, out []byte, err error) []byte {
			if err != nil {
				return in
			}
			if !valid && !bytes.Equal(out, in) {
				// Edits on malformed input either fail or touch only
				// a well-formed prefix; the result need not be valid.
				return in
			}
			if valid && !rawjson.Valid(out) {
				t.Fatalf("%s on %s: invalid result %s", what, raw, out)
			}
			return out
		}
		out, _, err := setPath(in, path1, jv, false)
		out = check("set "+p1, out, err)
		if err == nil && valid {
			if got := rawjson.Get(out, path1...); string(got) != string(jv) {
				t.Fatalf("after set %s=%s on %s: Get = %s (%s)", p1, jv, raw, got, out)
			}
		}
		out2, _, err := setPath(in, path1, jv, true)
		check("add "+p1, out2, err)
		out3, _, err := deletePath(out, path2)
		out3 = check("drop "+p2, out3, err)
		if err == nil && valid && rawjson.Get(out3, path2...) != nil && !hasDuplicateKeys(out) {
			t.Fatalf("after drop %s on %s: still present in %s", p2, out, out3)
		}
		// The stage: rename, add, set, drop; the typed fields must be what
		// pipeline.NewRecord reads from the result.
		for _, stream := range []pipeline.Stream{pipeline.Events, pipeline.Alerts} {
			rr, err := pipeline.NewRecord(stream, "t", in)
			if err != nil {
				continue
			}
			t1, t2 := typedBits[path1[0]], typedBits[path2[0]]
			fl := &Fields{ops: []op{
				{kind: 'r', path: path1, to: path2, typed: t1 | t2},
				{kind: 'a', path: path2, json: jv, typed: t2},
				{kind: 's', path: []string{"severity"}, json: jv, typed: bSeverity},
				{kind: 'd', path: path1, typed: t1},
			}}
			if _, err := fl.Process(&rr, nil); err != nil {
				continue
			}
			if valid && !rawjson.Valid(rr.Raw) {
				t.Fatalf("rename %s→%s on %s: invalid %s", p1, p2, raw, rr.Raw)
			}
			want, err := pipeline.NewRecord(stream, "t", rr.Raw)
			if err != nil || fmt.Sprint(want) != fmt.Sprint(rr) {
				t.Fatalf("typed fields after the edits on %s:\n got %+v\nwant %+v (%v)", raw, rr, want, err)
			}
		}
	})
}

// hasDuplicateKeys reports whether any object in raw repeats a key (drop
// removes the first; a second stays readable).
func hasDuplicateKeys(raw []byte) bool {
	dup := false
	var walk func(v []byte)
	walk = func(v []byte) {
		if dup || len(v) == 0 {
			return
		}
		switch v[0] {
		case '{':
			seen := map[string]bool{}
			_ = rawjson.EachMember(v, func(k, val []byte) bool {
				s := rawjson.String(k)
				if seen[s] {
					dup = true
					return false
				}
				seen[s] = true
				walk(val)
				return true
			})
		case '[':
			_ = rawjson.EachElement(v, func(e []byte) bool { walk(e); return !dup })
		}
	}
	walk(raw)
	return dup
}

func BenchmarkFields(b *testing.B) {
	b.Setenv("SITE", "site-a")
	f, err := New(decode(b, `{rename: {location: host.name}, add: {collector: "${env:SITE}", tenant_id: "${tenant}"}, drop: [customer_id]}`))
	if err != nil {
		b.Fatal(err)
	}
	recs := samples.All()
	raws := make([][]byte, len(recs))
	for i, r := range recs {
		raws[i] = r.Raw
	}
	b.ReportAllocs()
	i := 0
	var out []*pipeline.Record
	for b.Loop() {
		r := *recs[i%len(recs)]
		r.Raw = raws[i%len(recs)]
		out, _ = f.Process(&r, out[:0])
		i++
	}
}
