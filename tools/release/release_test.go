package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/sophos-connect/sophos-connect/tools/internal/licenses"
)

const testVersion = "0.0.0-test"

var (
	distOnce sync.Once
	distDir  string
	distErr  string
)

// dist is a release of testVersion, built once per test binary. In CI,
// .ci/run builds it in the background while the other tests run and names
// it in SOPHOS_CONNECT_RELEASE_DIST; "<dir>.rc" appears with the exit code
// when it is done (the log is "<dir>.log").
func dist(t *testing.T) string {
	t.Helper()
	distOnce.Do(func() {
		if d := os.Getenv("SOPHOS_CONNECT_RELEASE_DIST"); d != "" {
			deadline := time.Now().Add(8 * time.Minute)
			for {
				rc, err := os.ReadFile(d + ".rc")
				if err == nil {
					if strings.TrimSpace(string(rc)) != "0" {
						log, _ := os.ReadFile(d + ".log")
						distErr = "the background release build failed (exit " + strings.TrimSpace(string(rc)) + "):\n" + string(log)
					}
					distDir = d
					return
				}
				if time.Now().After(deadline) {
					distErr = "the background release build in " + d + " did not finish in 8 minutes"
					return
				}
				time.Sleep(2 * time.Second)
			}
		}
		d, err := os.MkdirTemp("", "sophos-connect-dist")
		if err != nil {
			distErr = err.Error()
			return
		}
		if err := runRelease(d); err != nil {
			distErr = err.Error()
		}
		distDir = d
	})
	if distErr != "" {
		t.Fatal(distErr)
	}
	return distDir
}

// runRelease builds the release into out with the release command as a
// process of its own, as a user runs it: in this test binary under -race,
// compressing every archive and the image took over ten minutes.
func runRelease(out string) error {
	cmd := exec.Command("go", "run", ".", "-version", testVersion, "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go run ./tools/release: %v\n%s", err, b)
	}
	return nil
}

// wantArtifacts are every artifact's names; the packages' names are nfpm's
// (which spells a pre-release version its own way per format), matched by
// their architecture.
func wantArtifacts(t *testing.T, dir string) []string {
	t.Helper()
	var w []string
	for _, p := range licenses.Platforms {
		w = append(w, ArchiveName(testVersion, p))
	}
	w = append(w, SBOMName(testVersion), ImageName(testVersion), "SHA256SUMS")
	for _, suffix := range []string{"_amd64.deb", "_arm64.deb", ".x86_64.rpm", ".aarch64.rpm"} {
		found := ""
		for _, n := range names(t, dir) {
			if strings.HasPrefix(n, "sophos-connect") && strings.HasSuffix(n, suffix) {
				found = n
			}
		}
		if found == "" {
			t.Errorf("no package *%s in %v", suffix, names(t, dir))
		}
		w = append(w, found)
	}
	slices.Sort(w)
	return w
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range es {
		n = append(n, e.Name())
	}
	slices.Sort(n)
	return n
}

// TestReleaseReproducible builds the release a second time and wants the
// same artifacts, byte for byte; SHA256SUMS verifies with sha256sum -c.
func TestReleaseReproducible(t *testing.T) {
	first := dist(t)
	want := wantArtifacts(t, first)
	if got := names(t, first); !slices.Equal(got, want) {
		t.Fatalf("artifacts:\n got %v\nwant %v", got, want)
	}
	second := t.TempDir()
	if err := runRelease(second); err != nil {
		t.Fatal(err)
	}
	for _, n := range want {
		a, err := os.ReadFile(filepath.Join(first, n))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(second, n))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two builds (%d and %d bytes)", n, len(a), len(b))
		}
	}
	cmd := exec.Command("sha256sum", "-c", "SHA256SUMS")
	cmd.Dir = first
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c SHA256SUMS: %v\n%s", err, out)
	} else if strings.Count(string(out), ": OK") != len(want)-1 {
		t.Fatalf("sha256sum -c checked too few files:\n%s", out)
	}
}

func readTarGz(t *testing.T, path string) map[string]*tar.Header {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzipReader(f)
	if err != nil {
		t.Fatal(err)
	}
	return readTar(t, zr, nil)
}

func gzipReader(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }

// readTar lists a tar's headers; with keep, it also keeps the named files' bytes.
func readTar(t *testing.T, r io.Reader, keep map[string][]byte) map[string]*tar.Header {
	t.Helper()
	hs := map[string]*tar.Header{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hs
		}
		if err != nil {
			t.Fatal(err)
		}
		hs[h.Name] = h
		if _, ok := keep[h.Name]; ok {
			keep[h.Name], _ = io.ReadAll(tr)
		}
	}
}

// TestArchives: each archive holds the binary, README, LICENSE, NOTICE, the
// schema and the examples, under one directory, with the commit's time.
func TestArchives(t *testing.T) {
	d := dist(t)
	for _, p := range licenses.Platforms {
		name := ArchiveName(testVersion, p)
		top := strings.TrimSuffix(strings.TrimSuffix(name, ".tar.gz"), ".zip") + "/"
		files := map[string]bool{}
		if p.OS == "windows" {
			zr, err := zip.OpenReader(filepath.Join(d, name))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range zr.File {
				files[f.Name] = true
			}
			zr.Close()
		} else {
			for n, h := range readTarGz(t, filepath.Join(d, name)) {
				files[n] = true
				if h.Uid != 0 || h.ModTime.Unix() < 1e9 {
					t.Errorf("%s: %s has uid %d, time %v", name, n, h.Uid, h.ModTime)
				}
			}
		}
		for _, f := range []string{exeName(p), "README.md", "LICENSE", "NOTICE", "sophos-connect.schema.json", "examples/systemd.yaml", "examples/sophos-connect.service"} {
			if !files[top+f] {
				t.Errorf("%s lacks %s", name, top+f)
			}
		}
	}
}

// TestSBOM: the CycloneDX SBOM decodes and lists every module of the
// product's go.mod that the binary uses, with its version, and the Go
// standard library.
func TestSBOM(t *testing.T) {
	f, err := os.Open(filepath.Join(dist(t), SBOMName(testVersion)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(f, cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatal(err)
	}
	if bom.Metadata == nil || bom.Metadata.Component == nil || bom.Metadata.Component.Version != testVersion {
		t.Fatalf("metadata component: %+v", bom.Metadata)
	}
	got := map[string]string{}
	for _, c := range *bom.Components {
		got[c.Name] = c.Version
	}
	wd, _ := os.Getwd()
	root, _ := licenses.Root(wd)
	mods, err := licenses.Deps(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		if got[m.Path] != m.Version {
			t.Errorf("SBOM has %s at %q, the module graph at %s", m.Path, got[m.Path], m.Version)
		}
	}
	if !strings.HasPrefix(got["stdlib"], "go1.") {
		t.Errorf("SBOM lacks the Go standard library: %q", got["stdlib"])
	}
}

// TestImageConfig reads the OCI layout: an index of linux/amd64 and
// linux/arm64 images, each with the non-root user, the binary as entrypoint,
// the state volume, the OCI labels, and a layer with the CA bundle, zoneinfo
// and no shell.
func TestImageConfig(t *testing.T) {
	dir := t.TempDir()
	untar(t, filepath.Join(dist(t), ImageName(testVersion)), dir)
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	top, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Manifests) != 1 || tm.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != testVersion {
		t.Fatalf("index.json: %+v", tm.Manifests)
	}
	idx, err := top.ImageIndex(tm.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var archs []string
	for _, m := range im.Manifests {
		archs = append(archs, m.Platform.OS+"/"+m.Platform.Architecture)
		img, err := idx.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		checkImage(t, img, m.Platform.Architecture)
	}
	if !slices.Equal(archs, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("index platforms %v", archs)
	}
}

func checkImage(t *testing.T, img v1.Image, arch string) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if cf.RootFS.Type != "layers" || len(cf.RootFS.DiffIDs) != 1 {
		t.Errorf("%s: rootfs %+v, want type layers with one diff id", arch, cf.RootFS)
	}
	if cf.Architecture != arch || c.User != "65532:65532" || !slices.Equal(c.Entrypoint, []string{"/usr/bin/sophos-connect"}) || len(c.Cmd) != 0 {
		t.Errorf("%s: arch %s, user %q, entrypoint %q, cmd %q", arch, cf.Architecture, c.User, c.Entrypoint, c.Cmd)
	}
	if _, ok := c.Volumes["/var/lib/sophos-connect"]; !ok {
		t.Errorf("%s: volumes %v", arch, c.Volumes)
	}
	if !slices.Contains(c.Env, "SOPHOS_CONNECT_CONFIG=/etc/sophos-connect/sophos-connect.yaml") {
		t.Errorf("%s: env %v", arch, c.Env)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.version":  testVersion,
		"org.opencontainers.image.licenses": "Apache-2.0",
		"org.opencontainers.image.source":   "https://github.com/sophos-connect/sophos-connect",
	} {
		if c.Labels[k] != want {
			t.Errorf("%s: label %s = %q, want %q", arch, k, c.Labels[k], want)
		}
	}
	if len(c.Labels["org.opencontainers.image.revision"]) != 40 {
		t.Errorf("%s: revision label %q", arch, c.Labels["org.opencontainers.image.revision"])
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%s: layers %d, %v", arch, len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	keep := map[string][]byte{"etc/ssl/certs/ca-certificates.crt": nil, "usr/share/zoneinfo/Europe/Berlin": nil, "etc/passwd": nil}
	hs := readTar(t, rc, keep)
	for _, sh := range []string{"bin/sh", "usr/bin/sh", "bin/busybox"} {
		if hs[sh] != nil {
			t.Errorf("%s: the image has %s", arch, sh)
		}
	}
	if h := hs["usr/bin/sophos-connect"]; h == nil || h.Mode&0o111 == 0 {
		t.Errorf("%s: no executable /usr/bin/sophos-connect", arch)
	}
	if h := hs["var/lib/sophos-connect/"]; h == nil || h.Uid != 65532 {
		t.Errorf("%s: /var/lib/sophos-connect not owned by 65532: %+v", arch, h)
	}
	if hs["etc/sophos-connect/"] == nil {
		t.Errorf("%s: no /etc/sophos-connect", arch)
	}
	if n := bytes.Count(keep["etc/ssl/certs/ca-certificates.crt"], []byte("BEGIN CERTIFICATE")); n < 100 {
		t.Errorf("%s: CA bundle has %d certificates", arch, n)
	} else if b, _ := pem.Decode(keep["etc/ssl/certs/ca-certificates.crt"]); b == nil {
		t.Errorf("%s: CA bundle is not PEM", arch)
	}
	if _, err := time.LoadLocationFromTZData("Europe/Berlin", keep["usr/share/zoneinfo/Europe/Berlin"]); err != nil {
		t.Errorf("%s: zoneinfo Europe/Berlin: %v", arch, err)
	}
	if !bytes.Contains(keep["etc/passwd"], []byte(":65532:65532:")) {
		t.Errorf("%s: /etc/passwd lacks the 65532 user", arch)
	}
}

func untar(t *testing.T, archive, dir string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o755)
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		b, _ := io.ReadAll(tr)
		if err := os.WriteFile(p, b, os.FileMode(h.Mode)&0o777|0o600); err != nil {
			t.Fatal(err)
		}
	}
}
