package sinks

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/config"
)

// TestEverySinkFolder walks the sink folders (every folder under sinks/
// that the table names): each has its README.md stating its stability,
// config.go, sink.go, a benchmark, and a testdata/config.yaml whose sinks
// build through the table — and every type of the table has an example
// there. A folder without testdata/config.yaml fails.
func TestEverySinkFolder(t *testing.T) {
	folders := map[string][]string{} // folder -> types
	for _, f := range Table {
		if f.Folder == "" || !slices.Contains([]string{Stable, Beta, Alpha}, f.Stability) {
			t.Errorf("sink %s: folder %q, stability %q", f.Type, f.Folder, f.Stability)
		}
		folders[f.Folder] = append(folders[f.Folder], f.Type)
	}
	names := make([]string, 0, len(folders))
	for d := range folders {
		names = append(names, d)
	}
	sort.Strings(names)
	for _, dir := range names {
		t.Run(dir, func(t *testing.T) {
			for _, file := range []string{"README.md", "config.go", "sink.go", "testdata/config.yaml"} {
				if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
					t.Errorf("sinks/%s has no %s", dir, file)
				}
			}
			checkREADME(t, dir, folders[dir])
			checkBenchmark(t, dir)
			built := buildFixture(t, dir)
			for _, typ := range folders[dir] {
				if !built[typ] {
					t.Errorf("sinks/%s/testdata/config.yaml has no %s sink", dir, typ)
				}
			}
		})
	}
	if len(names) < 9 {
		t.Errorf("%d sink folders, want at least 9", len(names))
	}
}

// checkREADME: the README says the stability the table gives.
func checkREADME(t *testing.T, dir string, types []string) {
	b, _ := os.ReadFile(filepath.Join(dir, "README.md"))
	for _, typ := range types {
		want := "Stability: **" + Lookup(typ).Stability + "**"
		if !strings.Contains(string(b), want) {
			t.Errorf("sinks/%s/README.md does not say %q (sink %s)", dir, want, typ)
		}
	}
}

// checkBenchmark: some test file of the folder has a Benchmark.
func checkBenchmark(t *testing.T, dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	for _, f := range files {
		if b, _ := os.ReadFile(f); strings.Contains(string(b), "\nfunc Benchmark") {
			return
		}
	}
	t.Errorf("sinks/%s has no benchmark", dir)
}

// buildFixture builds every sink of dir/testdata/config.yaml (one mapping
// or a list) through the table, in the folder so relative paths resolve,
// and returns the types built.
func buildFixture(t *testing.T, dir string) map[string]bool {
	b, err := os.ReadFile(filepath.Join(dir, "testdata", "config.yaml"))
	if err != nil {
		return nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil || len(doc.Content) == 0 {
		t.Fatalf("sinks/%s/testdata/config.yaml: %v", dir, err)
	}
	nodes := []*yaml.Node{doc.Content[0]}
	if doc.Content[0].Kind == yaml.SequenceNode {
		nodes = doc.Content[0].Content
	}
	t.Chdir(dir)
	built := map[string]bool{}
	for i, n := range nodes {
		var common struct {
			Name string `yaml:"name"`
			Type string `yaml:"type"`
		}
		n.Decode(&common)
		comp := config.Component{Name: common.Name, Type: common.Type, Line: n.Line, Node: n}
		s, desc, err := Build(comp, "sinks["+string(rune('0'+i))+"]", nil, Env{})
		if err != nil {
			t.Errorf("sinks/%s/testdata/config.yaml: %v", dir, err)
			continue
		}
		if desc == "" {
			t.Errorf("sinks/%s: sink %s describes itself with nothing", dir, common.Type)
		}
		s.Close()
		built[common.Type] = true
	}
	return built
}
