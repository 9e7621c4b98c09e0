package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestDocsUpToDate fails when a config field's comment changed (or a field
// was added) without regenerating docs_gen.go.
func TestDocsUpToDate(t *testing.T) {
	wd, _ := os.Getwd()
	root, module, err := ModuleRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Generate(root, module)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("docs_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("schema/docs_gen.go is stale: run `go run ./schema/gen`")
	}
}

// TestEveryKeyDescribed: each config key has a one-line description (the
// Go comment of its field), which editors show on hover.
func TestEveryKeyDescribed(t *testing.T) {
	_, missing, _ := Build(nil)
	for _, m := range missing {
		t.Errorf("no description (write a comment on the field, then go run ./schema/gen): %s", m)
	}
}

// TestSchemaFileUpToDate: the committed sophos-connect.schema.json (which
// the examples and editors point at) is what `sophos-connect schema` prints.
func TestSchemaFileUpToDate(t *testing.T) {
	want, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../sophos-connect.schema.json")
	if err != nil || !bytes.Equal(got, want) {
		t.Fatal("sophos-connect.schema.json is stale: run `go run ./cmd/sophos-connect schema > sophos-connect.schema.json`")
	}
}

// TestEveryEmittedPropertyDescribed walks the schema as emitted (not the
// config types) and wants a description on every property, wherever it
// sits: in a sink's or transform's branch, in the lists' own `type` key, in
// nested objects. An editor hovering over any key shows something.
func TestEveryEmittedPropertyDescribed(t *testing.T) {
	b, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch v := v.(type) {
		case map[string]any:
			if props, ok := v["properties"].(map[string]any); ok {
				for name, p := range props {
					pm, _ := p.(map[string]any)
					// An `if` clause's properties only test a value.
					if d, _ := pm["description"].(string); d == "" && !strings.HasSuffix(path, ".if") {
						t.Errorf("no description: %s.%s", path, name)
					}
				}
			}
			for k, c := range v {
				walk(c, path+"."+k)
			}
		case []any:
			for i, c := range v {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(doc, "$")
}

// TestComponentTypesListed: the sinks' and transforms' `type` key lists
// every type with its one line.
func TestComponentTypesListed(t *testing.T) {
	b, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Properties map[string]struct {
			Items struct {
				Properties struct {
					Type struct {
						Enum        []string `json:"enum"`
						Description string   `json:"description"`
					} `json:"type"`
				} `json:"properties"`
			} `json:"items"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, list := range []string{"sinks", "transforms"} {
		typ := doc.Properties[list].Items.Properties.Type
		if len(typ.Enum) < 2 {
			t.Fatalf("%s: types %v", list, typ.Enum)
		}
		for _, e := range typ.Enum {
			if !strings.Contains(typ.Description, "\n- "+e+": ") {
				t.Errorf("%s[].type's description lacks %q:\n%s", list, e, typ.Description)
			}
		}
	}
}
