// Command release builds every release artifact of sophos-connect into one
// directory, reproducibly (two runs of the same commit give the same bytes):
//
//	go run ./tools/release -version 1.2.3 -out dist
//
// For linux/amd64, linux/arm64, windows/amd64, darwin/amd64 and darwin/arm64:
// an archive (.tar.gz; .zip for Windows) with the binary, README, LICENSE,
// NOTICE, the examples and the JSON Schema. The .deb and .rpm for both Linux
// architectures. A multi-arch OCI image (amd64, arm64) as an OCI layout
// archive, built with go-containerregistry (no daemon, no shell inside). A
// CycloneDX SBOM of the modules in the binaries. SHA256SUMS of all of it.
//
// Builds use -trimpath and no build id; file times are SOURCE_DATE_EPOCH, by
// default the commit's time.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	var o Options
	flag.StringVar(&o.Version, "version", "", "release version (semver without the v, e.g. 1.2.3)")
	flag.StringVar(&o.Out, "out", "dist", "output directory (created; existing artifacts of the same names are replaced)")
	flag.Parse()
	if o.Version == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "release: usage: go run ./tools/release -version 1.2.3 -out dist")
		os.Exit(2)
	}
	wd, _ := os.Getwd()
	if !filepath.IsAbs(o.Out) {
		o.Out = filepath.Join(wd, o.Out)
	}
	arts, err := Release(wd, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
	for _, a := range arts {
		fmt.Println(filepath.Join(o.Out, a))
	}
}
