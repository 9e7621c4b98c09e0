package licenses

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/licenseclassifier/v2/assets"
)

// TestNoticeIsCurrent regenerates NOTICE from the module graph and fails when
// the committed file differs (a new or bumped dependency) or a dependency
// has no licence or one that is not permissive.
func TestNoticeIsCurrent(t *testing.T) {
	wd, _ := os.Getwd()
	root, err := Root(wd)
	if err != nil {
		t.Fatal(err)
	}
	notice, mods, problems, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	if len(mods) < 10 {
		t.Fatalf("only %d modules in the product's graph: the listing is broken", len(mods))
	}
	have, err := os.ReadFile(filepath.Join(root, "NOTICE"))
	if err != nil {
		t.Fatalf("%v: run `go run ./tools/notice`", err)
	}
	for _, m := range mods {
		if !bytes.Contains(have, []byte("\n"+m.Path+" "+m.Version+" (")) {
			t.Errorf("NOTICE lacks %s %s: run `go run ./tools/notice`", m.Path, m.Version)
		}
	}
	if !bytes.Equal(have, notice) {
		t.Errorf("NOTICE is stale: run `go run ./tools/notice`")
	}
}

// TestProblems: the check that guards NOTICE rejects a copyleft licence and a
// module without a licence file, and accepts a permissive one.
func TestProblems(t *testing.T) {
	c, err := assets.DefaultClassifier()
	if err != nil {
		t.Fatal(err)
	}
	gpl, err := assets.ReadLicenseFile("License/GPL-3.0/license.txt")
	if err != nil {
		t.Fatal(err)
	}
	mit, err := assets.ReadLicenseFile("License/MIT/pristine.txt")
	if err != nil {
		t.Fatal(err)
	}
	mods := []Module{
		{Path: "example.com/copyleft", Version: "v1.0.0", Files: []File{{Name: "LICENSE", Text: gpl, IDs: Classify(c, gpl)}}},
		{Path: "example.com/nolicence", Version: "v1.0.0"},
		{Path: "example.com/mit", Version: "v1.0.0", Files: []File{{Name: "LICENSE", Text: mit, IDs: Classify(c, mit)}}},
	}
	p := strings.Join(Problems(mods), "\n")
	for _, want := range []string{"example.com/copyleft v1.0.0: licence GPL-3.0", "example.com/nolicence v1.0.0: no licence file"} {
		if !strings.Contains(p, want) {
			t.Errorf("problems lack %q:\n%s", want, p)
		}
	}
	if strings.Contains(p, "example.com/mit") {
		t.Errorf("MIT reported as a problem:\n%s", p)
	}
}

// TestWorkspaceBuildsTheShippedVersions: go.work joins the product and the
// tools, and the tools' needs may raise a module the product also uses; the
// product's tests (workspace mode) would then run other versions than the
// release builds (GOWORK=off). `go work sync` writes them back to go.mod.
func TestWorkspaceBuildsTheShippedVersions(t *testing.T) {
	wd, _ := os.Getwd()
	root, err := Root(wd)
	if err != nil {
		t.Fatal(err)
	}
	list := func(gowork string) map[string]string {
		cmd := exec.Command("go", "list", "-deps", "-test", "-f", `{{with .Module}}{{.Path}} {{.Version}}{{end}}`, "./...")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOWORK="+gowork)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list (GOWORK=%s): %v", gowork, err)
		}
		m := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if f := strings.Fields(l); len(f) == 2 {
				m[f[0]] = f[1]
			}
		}
		return m
	}
	shipped, workspace := list("off"), list(filepath.Join(root, "go.work"))
	if len(shipped) < 10 {
		t.Fatalf("only %d modules listed", len(shipped))
	}
	for path, v := range shipped {
		if w := workspace[path]; w != v {
			t.Errorf("%s: go.mod has %s, the workspace builds %s: run `go work sync && go mod tidy`", path, v, w)
		}
	}
}
