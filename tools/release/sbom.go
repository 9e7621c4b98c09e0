package main

import (
	"bytes"
	"debug/buildinfo"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/sophos-connect/sophos-connect/tools/internal/licenses"
)

// SBOMName is the SBOM's file name.
func SBOMName(version string) string { return "sophos-connect_" + version + ".cdx.json" }

// sbom writes a CycloneDX JSON SBOM of every module compiled into the
// binaries, read from the binaries' own build info (so it is exactly what
// shipped), each with its version and the platforms that include it.
func (b *build) sbom(out string) (string, error) {
	type mod struct {
		version, sum string
		platforms    []string
	}
	mods := map[string]*mod{}
	goVersion := ""
	for _, p := range licenses.Platforms {
		bi, err := buildinfo.ReadFile(b.bins[p])
		if err != nil {
			return "", fmt.Errorf("%s: %w", b.bins[p], err)
		}
		goVersion = bi.GoVersion
		for _, d := range bi.Deps {
			if d.Replace != nil {
				d = d.Replace
			}
			m := mods[d.Path]
			if m == nil {
				m = &mod{version: d.Version, sum: d.Sum}
				mods[d.Path] = m
			}
			m.platforms = append(m.platforms, p.OS+"/"+p.Arch)
		}
	}
	paths := make([]string, 0, len(mods))
	for p := range mods {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	mainRef := "pkg:golang/github.com/sophos-connect/sophos-connect@v" + b.version
	comps := []cdx.Component{{
		Type: cdx.ComponentTypeLibrary, Name: "stdlib", Version: goVersion,
		BOMRef: "pkg:golang/stdlib@" + goVersion, PackageURL: "pkg:golang/stdlib@" + goVersion,
		Licenses: &cdx.Licenses{{License: &cdx.License{ID: "BSD-3-Clause"}}},
	}}
	refs := []string{comps[0].BOMRef}
	for _, p := range paths {
		m := mods[p]
		purl := "pkg:golang/" + p + "@" + m.version
		props := []cdx.Property{{Name: "go:module:sum", Value: m.sum}}
		for _, pl := range m.platforms {
			props = append(props, cdx.Property{Name: "sophos-connect:platform", Value: pl})
		}
		comps = append(comps, cdx.Component{
			Type: cdx.ComponentTypeLibrary, Name: p, Version: m.version,
			BOMRef: purl, PackageURL: purl, Properties: &props,
		})
		refs = append(refs, purl)
	}
	bom := cdx.NewBOM()
	bom.Metadata = &cdx.Metadata{
		Timestamp: b.epoch.Format(time.RFC3339),
		Component: &cdx.Component{
			Type: cdx.ComponentTypeApplication, Name: "sophos-connect", Version: b.version,
			BOMRef: mainRef, PackageURL: mainRef,
			Licenses: &cdx.Licenses{{License: &cdx.License{ID: "Apache-2.0"}}},
		},
	}
	bom.Components = &comps
	bom.Dependencies = &[]cdx.Dependency{{Ref: mainRef, Dependencies: &refs}}
	var buf bytes.Buffer
	if err := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON).SetPretty(true).Encode(bom); err != nil {
		return "", err
	}
	name := SBOMName(b.version)
	return name, os.WriteFile(filepath.Join(out, name), buf.Bytes(), 0o644)
}
