package encoding

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

var ocsfSchemaDir = flag.String("ocsf-schema", "", "a checkout of ocsf/ocsf-schema at the pinned release: TestOCSFTrimSchema rewrites testdata/ocsf from it")

// ocsfTestdata is the pinned release's files the tests validate against.
var ocsfTestdata = filepath.Join("testdata", "ocsf", OCSFVersion)

// catalogueRecords returns records of every type the emulator generates
// on a stream, perType of each.
func catalogueRecords(t testing.TB, stream pipeline.Stream, perType int) []*pipeline.Record {
	t.Helper()
	var out []*pipeline.Record
	for _, it := range emulator.Catalogue(string(stream), perType, 7) {
		r, err := pipeline.NewRecord(stream, "3f8a2c71-5d1e-4b9a-8c07-6e2f19d4a5b8", it.Item)
		if err != nil {
			t.Fatalf("%s %s: %v", stream, it.Type, err)
		}
		out = append(out, &r)
	}
	if len(out) == 0 {
		t.Fatalf("the emulator's catalogue has no %s", stream)
	}
	return out
}

func ocsfStreams() []pipeline.Stream { return pipeline.AllStreams }

// TestOCSFCatalogueValidates encodes every record type of the emulator's
// catalogue, with and without raw_data, and validates each against the
// pinned OCSF release.
func TestOCSFCatalogueValidates(t *testing.T) {
	s, err := loadOCSFSchema(ocsfTestdata)
	if err != nil {
		t.Fatal(err)
	}
	if s.version != OCSFVersion {
		t.Fatalf("testdata schema is %q, the encoder writes %s", s.version, OCSFVersion)
	}
	classes := map[string]map[int64]bool{}
	for _, raw := range []bool{false, true} {
		enc := mustNew(t, "ocsf", Options{OCSF: OCSFOptions{RawData: raw}})
		for _, stream := range ocsfStreams() {
			for _, r := range catalogueRecords(t, stream, 4) {
				out := encode(t, enc, r)
				if errs := s.validate([]byte(out)); len(errs) > 0 {
					t.Errorf("%s %s does not validate:\n  %s\n%s", stream, r.Type, strings.Join(errs, "\n  "), out)
					continue
				}
				var v struct {
					ClassUID int64  `json:"class_uid"`
					RawData  string `json:"raw_data"`
					Metadata struct {
						UID string `json:"uid"`
					} `json:"metadata"`
				}
				if err := json.Unmarshal([]byte(out), &v); err != nil {
					t.Fatal(err)
				}
				if v.Metadata.UID != r.ID {
					t.Errorf("%s: metadata.uid %q, want the Sophos id %q", r.Type, v.Metadata.UID, r.ID)
				}
				if raw != (v.RawData == string(r.Raw)) {
					t.Errorf("%s: raw_data with ocsf.raw_data=%v: %q", r.Type, raw, v.RawData)
				}
				key := string(stream) + " " + catalogueKey(r)
				if classes[key] == nil {
					classes[key] = map[int64]bool{}
				}
				classes[key][v.ClassUID] = true
			}
		}
	}
	// The mapping table: every alert a Detection Finding; every event type
	// of the catalogue mapped explicitly to the class the README names.
	for _, typ := range emulator.CatalogueTypes("alert") {
		if got := classes["alert "+typ]; len(got) != 1 || !got[2004] {
			t.Errorf("alert %s: classes %v, want Detection Finding (2004) only", typ, got)
		}
	}
	for _, stream := range []string{"detection", "case"} {
		want := map[string]int64{"detection": 2004, "case": 2005}[stream]
		for _, typ := range emulator.CatalogueTypes(stream) {
			if got := classes[stream+" "+typ]; len(got) != 1 || !got[want] {
				t.Errorf("%s %s: classes %v, want %d", stream, typ, got, want)
			}
		}
	}
	for _, typ := range emulator.CatalogueTypes("event") {
		m, ok := ocsfEventTypes[typ]
		if !ok {
			t.Errorf("event type %s of the emulator's catalogue has no OCSF mapping in ocsfEventTypes", typ)
			continue
		}
		if got := classes["event "+typ]; len(got) != 1 || !got[m.class.uid] {
			t.Errorf("event %s: classes %v, want %d (%s)", typ, got, m.class.uid, m.class.name)
		}
	}
}

// TestOCSFMappingTableInREADME checks the README's OCSF table names each
// event type with the class the encoder uses.
func TestOCSFMappingTableInREADME(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for typ, m := range ocsfEventTypes {
		short := strings.TrimPrefix(typ, "Event::Endpoint::")
		found := false
		for _, line := range strings.Split(readme, "\n") {
			if strings.HasPrefix(line, "|") && strings.Contains(line, "`"+short+"`") && strings.Contains(line, m.class.name) {
				found = true
			}
		}
		if !found {
			t.Errorf("README's OCSF table has no row naming `%s` with %s", short, m.class.name)
		}
	}
}

// TestOCSFValidatorCatchesViolations makes sure the validator fails what
// it should: each mutation of a valid record must be reported.
func TestOCSFValidatorCatchesViolations(t *testing.T) {
	s, err := loadOCSFSchema(ocsfTestdata)
	if err != nil {
		t.Fatal(err)
	}
	enc := mustNew(t, "ocsf", Options{})
	r := catalogueRecords(t, pipeline.Alerts, 1)[0]
	good := encode(t, enc, r)
	if errs := s.validate([]byte(good)); len(errs) > 0 {
		t.Fatalf("base record invalid: %v", errs)
	}
	mutate := func(f func(m jmap)) []byte {
		var m jmap
		if err := json.Unmarshal([]byte(good), &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	cases := map[string]func(m jmap){
		"required time missing":        func(m jmap) { delete(m, "time") },
		"required finding_info.uid":    func(m jmap) { delete(m["finding_info"].(jmap), "uid") },
		"type_uid not class*100+act":   func(m jmap) { m["type_uid"] = 200400 },
		"severity_id outside the enum": func(m jmap) { m["severity_id"] = 7 },
		"severity not its caption":     func(m jmap) { m["severity"] = "Severe" },
		"attribute the class lacks":    func(m jmap) { m["sophos_threat"] = "x" },
		"object attribute it lacks":    func(m jmap) { m["device"].(jmap)["endpoint_platform"] = "windows" },
		"wrong type: time as string":   func(m jmap) { m["time"] = "2026-01-01T00:00:00Z" },
		"ip not an IP":                 func(m jmap) { m["device"].(jmap)["ip"] = "not-an-ip" },
		"profile attribute unlisted":   func(m jmap) { m["metadata"].(jmap)["profiles"] = []any{} },
		"profile the class lacks":      func(m jmap) { m["metadata"].(jmap)["profiles"] = []any{"host", "no_such"} },
		"device type_id unknown":       func(m jmap) { m["device"].(jmap)["type_id"] = 16 },
		"category_uid wrong":           func(m jmap) { m["category_uid"] = 3 },
		"metadata.version other":       func(m jmap) { m["metadata"].(jmap)["version"] = "1.7.0" },
		"activity_id outside enum":     func(m jmap) { m["activity_id"] = 4; m["type_uid"] = 200404 },
		"array attribute as scalar":    func(m jmap) { m["finding_info"].(jmap)["types"] = "x" },
		"at_least_one of user":         func(m jmap) { m["actor"] = jmap{"user": jmap{"domain": "X"}} },
	}
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if errs := s.validate(mutate(cases[n])); len(errs) == 0 {
			t.Errorf("%s: the validator found nothing wrong", n)
		}
	}
}

// TestOCSFTrimSchema rewrites testdata/ocsf/<version> from a checkout of
// the pinned release (-ocsf-schema): the classes and objects the catalogue's
// records use, the profile files they include, and the dictionary entries
// of their attributes, without descriptions.
func TestOCSFTrimSchema(t *testing.T) {
	if *ocsfSchemaDir == "" {
		t.Skip("maintenance: run with -ocsf-schema=<checkout of ocsf-schema at tag " + OCSFVersion + "> to rewrite testdata/ocsf")
	}
	s, err := loadOCSFSchema(*ocsfSchemaDir)
	if err != nil {
		t.Fatal(err)
	}
	if s.version != OCSFVersion {
		t.Fatalf("%s is schema %s, want %s", *ocsfSchemaDir, s.version, OCSFVersion)
	}
	for _, raw := range []bool{false, true} {
		enc := mustNew(t, "ocsf", Options{OCSF: OCSFOptions{RawData: raw}})
		for _, stream := range ocsfStreams() {
			for _, r := range catalogueRecords(t, stream, 4) {
				out := encode(t, enc, r)
				if errs := s.validate([]byte(out)); len(errs) > 0 {
					t.Fatalf("%s %s does not validate against the release:\n  %s\n%s", stream, r.Type, strings.Join(errs, "\n  "), out)
				}
			}
		}
	}
	// The classes the tests name too: every class a record may become.
	for _, m := range append([]ocsfMap{ocsfAlert}, mapValues(ocsfEventTypes)...) {
		if name, ok := s.byUID[m.class.uid]; ok {
			r, _ := s.resolve("class", name)
			s.markUsed(r)
		}
	}
	for _, name := range []string{"incident_finding"} {
		r, err := s.resolve("class", name)
		if err != nil {
			t.Fatal(err)
		}
		s.markUsed(r)
	}
	out := ocsfTestdata
	if err := os.RemoveAll(out); err != nil {
		t.Fatal(err)
	}
	attrNames := map[string]bool{}
	write := func(rel string, v any) {
		p := filepath.Join(out, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var kept []string
	for f := range s.used {
		kept = append(kept, f)
	}
	sort.Strings(kept)
	for _, f := range kept {
		rel := s.pathOf[f]
		if rel == "" {
			rel = f // an $include path
		}
		m, ok := s.files[rel]
		if !ok {
			continue // objects:object, the generic object, has no attributes to keep
		}
		write(rel, trimFile(m, attrNames))
	}
	dict := jmap{}
	for k := range attrNames {
		dict[k] = trimAttr(s.dict[k].(jmap))
	}
	types := jmap{}
	for k, v := range s.types {
		tv := jmap{}
		for _, key := range []string{"type", "regex", "max_len", "range", "values"} {
			if x, ok := v.(jmap)[key]; ok {
				tv[key] = x
			}
		}
		types[k] = tv
	}
	write("dictionary.json", jmap{"name": "dictionary", "attributes": dict, "types": jmap{"attributes": types}})
	cats := jmap{}
	for k, v := range s.categories {
		cats[k] = jmap{"uid": v.(jmap)["uid"], "caption": v.(jmap)["caption"]}
	}
	write("categories.json", jmap{"attributes": cats})
	write("version.json", jmap{"version": s.version})
	t.Logf("wrote %d files to %s", len(kept)+3, out)
}

func mapValues(m map[string]ocsfMap) []ocsfMap {
	var out []ocsfMap
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// trimFile keeps what validation reads of a class, object or profile file.
func trimFile(m jmap, attrNames map[string]bool) jmap {
	out := jmap{}
	for _, k := range []string{"name", "caption", "uid", "extends", "category", "profiles", "constraints"} {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	attrs := jmap{}
	for k, v := range m["attributes"].(jmap) {
		if k == "$include" {
			attrs[k] = v
			continue
		}
		attrNames[k] = true
		attrs[k] = trimAttr(v.(jmap))
	}
	out["attributes"] = attrs
	return out
}

func trimAttr(a jmap) jmap {
	out := jmap{}
	for _, k := range []string{"requirement", "profile", "type", "is_array", "sibling"} {
		if v, ok := a[k]; ok {
			out[k] = v
		}
	}
	if en, ok := a["enum"].(jmap); ok {
		e := jmap{}
		for k, v := range en {
			e[k] = jmap{"caption": v.(jmap)["caption"]}
		}
		out["enum"] = e
	}
	return out
}

// catalogueKey is the record's catalogue type: the SIEM type, a
// detection's rule, a case's status.
func catalogueKey(r *pipeline.Record) string {
	switch r.Stream {
	case pipeline.Detections:
		return r.Name
	case pipeline.Cases:
		var v struct{ Status string }
		_ = json.Unmarshal(r.Raw, &v)
		return v.Status
	}
	return r.Type
}
