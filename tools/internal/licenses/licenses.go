// Package licenses reads the licences of the Go modules compiled into the
// release binaries and renders the NOTICE file from them.
package licenses

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	classifier "github.com/google/licenseclassifier/v2"
	"github.com/google/licenseclassifier/v2/assets"
)

// Platform is one release target.
type Platform struct{ OS, Arch string }

// Platforms are the release targets; NOTICE covers the modules of all of them.
var Platforms = []Platform{
	{"linux", "amd64"}, {"linux", "arm64"}, {"windows", "amd64"}, {"darwin", "amd64"}, {"darwin", "arm64"},
}

// Permissive are the licences a dependency may carry (SPDX ids): each lets
// the binaries be redistributed under Apache-2.0 with the notices kept.
var Permissive = map[string]bool{
	"Apache-2.0": true, "MIT": true, "BSD-2-Clause": true, "BSD-3-Clause": true,
	"ISC": true, "0BSD": true, "Zlib": true, "BSD-2-Clause-FreeBSD": true,
}

// Module is one dependency with the licence files of its module root.
type Module struct {
	Path, Version, Dir string
	Files              []File
}

// File is one licence or notice file.
type File struct {
	Name string
	Text []byte
	IDs  []string // licences the classifier found in it
}

// IDs are the licences found in the module's files.
func (m Module) IDs() []string {
	seen := map[string]bool{}
	var ids []string
	for _, f := range m.Files {
		for _, id := range f.IDs {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	sort.Strings(ids)
	return ids
}

// Deps lists the modules (the product's own aside) whose packages the
// product's main package compiles in, on every platform. root is the
// product's repository; GOWORK=off so the product's go.mod alone decides.
func Deps(root string) ([]Module, error) {
	byPath := map[string]Module{}
	for _, p := range Platforms {
		cmd := exec.Command("go", "list", "-deps", "-f",
			`{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}} {{.Dir}}{{end}}{{end}}`, "./cmd/sophos-connect")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS="+p.OS, "GOARCH="+p.Arch, "CGO_ENABLED=0", "GOWORK=off")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("go list -deps for %s/%s: %v\n%s", p.OS, p.Arch, err, stderr.Bytes())
		}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.SplitN(l, " ", 3)
			if len(f) == 3 {
				byPath[f[0]] = Module{Path: f[0], Version: f[1], Dir: f[2]}
			}
		}
	}
	mods := make([]Module, 0, len(byPath))
	for _, m := range byPath {
		mods = append(mods, m)
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].Path < mods[j].Path })
	return mods, nil
}

var licenseName = regexp.MustCompile(`(?i)^(licen[cs]e|copying|notice|patents)([-._].*)?$`)

// Read fills each module's Files from its module root and classifies them.
func Read(mods []Module) ([]Module, error) {
	c, err := assets.DefaultClassifier()
	if err != nil {
		return nil, err
	}
	out := make([]Module, len(mods))
	for i, m := range mods {
		entries, err := os.ReadDir(m.Dir)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Path, err)
		}
		for _, e := range entries {
			if e.IsDir() || !licenseName.MatchString(e.Name()) {
				continue
			}
			b, err := os.ReadFile(filepath.Join(m.Dir, e.Name()))
			if err != nil {
				return nil, err
			}
			m.Files = append(m.Files, File{Name: e.Name(), Text: b, IDs: Classify(c, b)})
		}
		out[i] = m
	}
	return out, nil
}

// Classify names the licences in text (SPDX ids).
func Classify(c *classifier.Classifier, text []byte) []string {
	var ids []string
	seen := map[string]bool{}
	for _, m := range c.Match(text).Matches {
		if m.MatchType != "License" || seen[m.Name] {
			continue
		}
		seen[m.Name] = true
		ids = append(ids, m.Name)
	}
	sort.Strings(ids)
	return ids
}

// Problems lists each module without a licence file, or with a licence that
// is not permissive, as a sentence naming the module and the fix.
func Problems(mods []Module) []string {
	var p []string
	for _, m := range mods {
		ids := m.IDs()
		if len(ids) == 0 {
			p = append(p, fmt.Sprintf("%s %s: no licence file recognised in %s: check its licence by hand before depending on it", m.Path, m.Version, m.Dir))
		}
		for _, id := range ids {
			if !Permissive[id] {
				p = append(p, fmt.Sprintf("%s %s: licence %s is not on the permissive list (tools/internal/licenses.Permissive): replace the dependency", m.Path, m.Version, id))
			}
		}
	}
	return p
}

// Go is the toolchain's own licence (the runtime and standard library are in
// every binary).
func Go() (Module, error) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return Module{}, fmt.Errorf("go env GOROOT: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "LICENSE"))
	if err != nil {
		return Module{}, err
	}
	c, err := assets.DefaultClassifier()
	if err != nil {
		return Module{}, err
	}
	return Module{Path: "Go (runtime and standard library)", Files: []File{{Name: "LICENSE", Text: b, IDs: Classify(c, b)}}}, nil
}

const rule = "================================================================================\n"

// Notice renders the NOTICE file: the product's notice, then each module's
// name, version, licences and licence texts.
func Notice(mods []Module) []byte {
	var b bytes.Buffer
	b.WriteString(`sophos-connect
Copyright the sophos-connect authors.

Licensed under the Apache License, Version 2.0 (see LICENSE).

The sophos-connect binaries include the Go runtime and the third-party Go
modules below, each under the licence reproduced with it. This file is
generated from the module graph of ./cmd/sophos-connect for every release
platform by ` + "`go run ./tools/notice`" + `; a test fails when it is stale or a
dependency's licence is missing or not permissive.

`)
	for _, m := range mods {
		b.WriteString(rule)
		fmt.Fprintf(&b, "%s", m.Path)
		if m.Version != "" {
			fmt.Fprintf(&b, " %s", m.Version)
		}
		fmt.Fprintf(&b, " (%s)\n", strings.Join(m.IDs(), ", "))
		for _, f := range m.Files {
			b.WriteString(rule)
			fmt.Fprintf(&b, "%s/%s:\n\n", m.Path, f.Name)
			b.Write(bytes.TrimRight(f.Text, "\n"))
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

// Generate reads the product's dependencies and renders NOTICE, with the
// problems found.
func Generate(root string) ([]byte, []Module, []string, error) {
	deps, err := Deps(root)
	if err != nil {
		return nil, nil, nil, err
	}
	mods, err := Read(deps)
	if err != nil {
		return nil, nil, nil, err
	}
	goMod, err := Go()
	if err != nil {
		return nil, nil, nil, err
	}
	all := append([]Module{goMod}, mods...)
	return Notice(all), mods, Problems(all), nil
}

// Root returns the product's repository root: the nearest directory above
// dir holding cmd/sophos-connect.
func Root(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if st, err := os.Stat(filepath.Join(d, "cmd", "sophos-connect")); err == nil && st.IsDir() {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no cmd/sophos-connect above %s: run this inside the sophos-connect repository", dir)
		}
	}
}
