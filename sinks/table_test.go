package sinks

import (
	"fmt"
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
// config.go, sink.go, bench_test.go with a benchmark, and a testdata/config.yaml whose sinks
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
			for _, p := range folderProblems(dir, folders[dir]) {
				t.Error(p)
			}
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

// folderFiles are the files every sink folder has.
var folderFiles = []string{"README.md", "config.go", "sink.go", "testdata/config.yaml", "bench_test.go"}

// folderProblems says what the sink folder dir (of the given types) lacks:
// one of folderFiles, a README that states each type's stability as the
// table gives it, a Benchmark function in bench_test.go.
func folderProblems(dir string, types []string) []string {
	var out []string
	for _, file := range folderFiles {
		if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
			out = append(out, fmt.Sprintf("sinks/%s has no %s", dir, file))
		}
	}
	readme, _ := os.ReadFile(filepath.Join(dir, "README.md"))
	for _, typ := range types {
		want := "Stability: **" + Lookup(typ).Stability + "**"
		if !strings.Contains(string(readme), want) {
			out = append(out, fmt.Sprintf("sinks/%s/README.md does not say %q (sink %s)", dir, want, typ))
		}
	}
	bench, _ := os.ReadFile(filepath.Join(dir, "bench_test.go"))
	if !strings.Contains(string(bench), "\nfunc Benchmark") {
		out = append(out, fmt.Sprintf("sinks/%s/bench_test.go has no Benchmark function", dir))
	}
	return out
}

// TestFolderProblemsNamesWhatIsMissing: the folder check of
// TestEverySinkFolder fails for a folder without each required file, and
// passes a complete one.
func TestFolderProblemsNamesWhatIsMissing(t *testing.T) {
	dir := t.TempDir()
	if got := folderProblems(dir, []string{"txt"}); len(got) != len(folderFiles)+2 {
		t.Fatalf("empty folder: %d problems %q, want each file, the stability and the benchmark", len(got), got)
	}
	files := map[string]string{
		"README.md":            "Stability: **" + Lookup("txt").Stability + "**\n",
		"config.go":            "package x\n",
		"sink.go":              "package x\n",
		"testdata/config.yaml": "type: file\n",
		"bench_test.go":        "package x\n\nfunc BenchmarkX(b *testing.B) {}\n",
	}
	os.Mkdir(filepath.Join(dir, "testdata"), 0o755)
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := folderProblems(dir, []string{"txt"}); len(got) != 0 {
		t.Fatalf("complete folder: %q", got)
	}
	for name := range files {
		body, _ := os.ReadFile(filepath.Join(dir, name))
		os.Remove(filepath.Join(dir, name))
		got := folderProblems(dir, []string{"txt"})
		if len(got) == 0 || !strings.Contains(strings.Join(got, "\n"), name) {
			t.Errorf("without %s: problems %q", name, got)
		}
		os.WriteFile(filepath.Join(dir, name), body, 0o644)
	}
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
