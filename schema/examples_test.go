package schema

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

func compiled(t *testing.T) *jsonschema.Schema {
	t.Helper()
	raw, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(ID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(ID)
	if err != nil {
		t.Fatalf("the schema does not compile as draft 2020-12: %v", err)
	}
	return s
}

// yamlDoc reads a YAML config as the JSON value a YAML language server checks.
func yamlDoc(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	// Round-trip through JSON for the validator's value types.
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// configExamples are the files in examples/ that are sophos-connect configs.
func configExamples(t *testing.T) []string {
	files, _ := filepath.Glob("../examples/*.yaml")
	packaged, _ := filepath.Glob("../packaging/*.yaml")
	files = append(files, packaged...)
	var out []string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "yaml-language-server: $schema=") && strings.Contains(string(b), "sophos-connect.schema.json") {
			out = append(out, f)
		} else if !strings.Contains(string(b), "\ngroups:") { // Prometheus rules are not configs
			t.Errorf("%s: no `# yaml-language-server: $schema=../sophos-connect.schema.json` line", f)
		}
	}
	if len(out) < 5 {
		t.Fatalf("config examples: %v", out)
	}
	return out
}

// TestExamplesMatchSchema validates every example config against the schema.
func TestExamplesMatchSchema(t *testing.T) {
	s := compiled(t)
	for _, f := range configExamples(t) {
		b, _ := os.ReadFile(f)
		if err := s.Validate(yamlDoc(t, b)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestSchemaRejects: the schema is strict where the loader is.
func TestSchemaRejects(t *testing.T) {
	s := compiled(t)
	for name, y := range map[string]string{
		"unknown top-level key": "pull_tme: 10\n",
		"unknown sink key":      "sinks:\n  - type: kafka\n    brokers: [k:9092]\n    topik: x\n",
		"unknown sink type":     "sinks:\n  - type: kafkaa\n",
		"sink without type":     "sinks:\n  - name: x\n",
		"key of another sink":   "sinks:\n  - type: txt\n    path: a.txt\n    brokers: [k:9092]\n",
		"wrong type":            "workers: many\n",
		"bad duration":          "pull_time: 10 minutes\n",
		"unknown transform key": "transforms:\n  - type: dedupe\n    ttl: 25h\n    ttll: 1h\n",
		"bad size":              "sinks:\n  - type: kafka\n    brokers: [k:9092]\n    batch_bytes: 1 lot\n",
		"list where a map goes": "sophos: [a]\n",
	} {
		if err := s.Validate(yamlDoc(t, []byte(y))); err == nil {
			t.Errorf("%s: accepted:\n%s", name, y)
		}
	}
	for name, y := range map[string]string{
		"env in a number": "workers: ${WORKERS:-4}\n",
		"seconds":         "pull_time: 10\n",
		"duration":        "pull_time: 1m30s\n",
		"size with unit":  "sinks:\n  - type: kafka\n    brokers: [k:9092]\n    batch_bytes: 512KiB\n",
		"common keys":     "sinks:\n  - type: stdout\n    name: out\n    streams: [alerts]\n    when: severity >= high\n    batch: {max_events: 10}\n    retry: {initial: 1s}\n    buffer: {type: memory}\n",
	} {
		if err := s.Validate(yamlDoc(t, []byte(y))); err != nil {
			t.Errorf("%s: refused: %v\n%s", name, err, y)
		}
	}
}
