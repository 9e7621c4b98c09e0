package encoding

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// FuzzEncoders feeds arbitrary JSON objects to every encoder: none may
// panic; raw, official-json, ecs, integration and ocsf must give valid JSON (the last four
// valid UTF-8 too, and ocsf one line); with cef_strict no line format may contain a newline or
// carriage return; a failed Append leaves dst as it was.
func FuzzEncoders(f *testing.F) {
	for _, pg := range goldenPages {
		page, err := os.ReadFile(filepath.Join("testdata", pg.file))
		if err != nil {
			f.Fatal(err)
		}
		_ = rawjson.EachElement(rawjson.Get(page, "items"), func(v []byte) bool {
			f.Add(append([]byte(nil), v...), pg.stream == pipeline.Alerts)
			return true
		})
	}
	for _, s := range []string{`{}`, `{"a":null}`, `{"type":"Event::Endpoint::Threat::Detected","name":"'a' 'b'\n'c' 'd'"}`,
		`{"data":{"threat_id":{"timestamp":1,"machineIdentifier":2,"processIdentifier":3,"counter":4}},"x":1e999}`,
		`{"location":"İ\u212a","source":"\\","name":"\ud800"}`, `[1]`, `"x"`, `{"a":1`} {
		f.Add([]byte(s), false)
	}
	type variant struct {
		format string
		strict bool
	}
	var variants []variant
	for _, fm := range Formats {
		variants = append(variants, variant{fm, false}, variant{fm, true})
	}
	encs := make([]Encoder, len(variants))
	for i, v := range variants {
		encs[i] = mustNew(f, v.format, Options{CEFStrict: v.strict})
	}
	f.Fuzz(func(t *testing.T, item []byte, alert bool) {
		stream := pipeline.Events
		if alert {
			stream = pipeline.Alerts
		}
		r := &pipeline.Record{Stream: stream, Tenant: "t\"\n", Raw: item}
		isObject := rawjson.Valid(item) && item[rawjson.SkipSpace(item, 0)] == '{'
		prefix := []byte("prefix")
		for i, v := range variants {
			out, err := encs[i].Append(append([]byte(nil), prefix...), r)
			if err != nil {
				if isObject {
					t.Fatalf("%s: error on a JSON object: %v", v.format, err)
				}
				if !bytes.Equal(out, prefix) {
					t.Fatalf("%s: failed Append changed dst: %q", v.format, out)
				}
				continue
			}
			if !isObject {
				t.Fatalf("%s: no error for %q", v.format, item)
			}
			if !bytes.HasPrefix(out, prefix) {
				t.Fatalf("%s: dst prefix lost", v.format)
			}
			body := out[len(prefix):]
			switch v.format {
			case "raw":
				if !json.Valid(body) {
					t.Fatalf("raw: invalid JSON %q", body)
				}
			case "official-json", "ecs", "integration", "ocsf":
				if !json.Valid(body) || !utf8.Valid(body) {
					t.Fatalf("%s: invalid JSON %q", v.format, body)
				}
				if v.format == "ocsf" && bytes.ContainsAny(body, "\r\n") {
					t.Fatalf("ocsf: newline in %q", body)
				}
			default:
				if (v.strict || v.format == "leef") && bytes.ContainsAny(body, "\r\n") {
					t.Fatalf("%s strict: newline in %q", v.format, body)
				}
			}
		}
	})
}
