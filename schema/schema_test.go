package schema

import (
	"bytes"
	"os"
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
