package arrows

import (
	"go/build"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/sophos-connect/sophos-connect"

// forbidden: the package (first) must not depend, directly or through
// others, on the second.
var forbidden = [][2]string{
	// cluster and the kafka sink share internal/kafkaconn, not each other
	{"cluster", "sinks/kafka"},
	// the light list is internal/lightevents
	{"transforms/filter", "sources/sophos"},
	// the CLI drives the collector, never the other way round
	{"collector", "cmd/sophos-connect"},
	{"seed", "cmd/sophos-connect"},
	{"sinks", "collector"},
	{"pipeline", "collector"},
}

func TestForbiddenArrows(t *testing.T) {
	for _, f := range forbidden {
		deps := moduleDeps(t, f[0])
		if slices.Contains(deps, f[1]) {
			t.Errorf("%s depends on %s (%s): see the README's Architecture for the package that holds what both need", f[0], f[1], path(t, f[0], f[1]))
		}
	}
}

// TestArrowsSeesDependencies: the walk finds arrows that exist, so the
// test above cannot pass by finding nothing.
func TestArrowsSeesDependencies(t *testing.T) {
	for _, f := range [][2]string{{"cluster", "internal/kafkaconn"}, {"sinks/kafka", "internal/kafkaconn"},
		{"transforms/filter", "internal/lightevents"}, {"sources/sophos", "internal/lightevents"}, {"collector", "sinks/kafka"}} {
		if !slices.Contains(moduleDeps(t, f[0]), f[1]) {
			t.Errorf("%s: %s not among its dependencies %v", f[0], f[1], moduleDeps(t, f[0]))
		}
	}
}

// root is the module's folder.
func root(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// imports are the module packages pkg (relative to the module) imports in
// its non-test files.
// It reads the folder's files (build.ImportDir: no go command).
func imports(t *testing.T, pkg string) []string {
	if out, ok := importCache[pkg]; ok {
		return out
	}
	p, err := build.ImportDir(filepath.Join(root(t), filepath.FromSlash(pkg)), 0)
	if err != nil {
		t.Fatalf("%s: %v", pkg, err)
	}
	var out []string
	for _, imp := range p.Imports {
		if rel, ok := strings.CutPrefix(imp, module+"/"); ok {
			out = append(out, rel)
		}
	}
	importCache[pkg] = out
	return out
}

var importCache = map[string][]string{}

// moduleDeps are the module packages pkg depends on, directly or not.
func moduleDeps(t *testing.T, pkg string) []string {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(p string) {
		for _, d := range imports(t, p) {
			if !seen[d] {
				seen[d] = true
				walk(d)
			}
		}
	}
	walk(pkg)
	out := make([]string, 0, len(seen))
	for d := range seen {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// path is one chain of imports from "from" to "to", for the message.
func path(t *testing.T, from, to string) string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == to {
			chain := []string{p}
			for q := prev[p]; q != ""; q = prev[q] {
				chain = append([]string{q}, chain...)
			}
			return strings.Join(chain, " -> ")
		}
		for _, d := range imports(t, p) {
			if _, ok := prev[d]; !ok {
				prev[d] = p
				queue = append(queue, d)
			}
		}
	}
	return "no path"
}
