package main

import (
	"archive/zip"
	"bytes"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"

	"github.com/sophos-connect/sophos-connect/tools/internal/licenses"
)

// The image's layout: what the README's `podman run` and the chart rely on.
const (
	ImageUser      = "65532:65532"
	ImageBinary    = "/usr/bin/sophos-connect"
	ImageConfigDir = "/etc/sophos-connect"
	ImageConfig    = ImageConfigDir + "/sophos-connect.yaml"
	ImageStateDir  = "/var/lib/sophos-connect"
	ImageCABundle  = "/etc/ssl/certs/ca-certificates.crt"
	ImageZoneinfo  = "/usr/share/zoneinfo"
	imageUID       = 65532
)

// ImageName is the OCI layout archive's file name.
func ImageName(version string) string { return "sophos-connect_" + version + "_oci.tar" }

// ImagePlatforms are the architectures of the multi-arch index.
var ImagePlatforms = []licenses.Platform{{OS: "linux", Arch: "amd64"}, {OS: "linux", Arch: "arm64"}}

// image writes a multi-arch OCI image index (linux/amd64, linux/arm64) as an
// OCI layout in a tar. Each image is one layer on scratch: the binary, the CA
// bundle (x/crypto's Mozilla roots), the zoneinfo of the Go toolchain, a
// passwd/group naming the non-root user, the config and state directories.
func (b *build) image(out string) (string, error) {
	common, err := b.imageFiles()
	if err != nil {
		return "", err
	}
	labels := map[string]string{
		"org.opencontainers.image.title":       "sophos-connect",
		"org.opencontainers.image.description": "Sophos Central SIEM collector",
		"org.opencontainers.image.source":      "https://github.com/sophos-connect/sophos-connect",
		"org.opencontainers.image.url":         "https://github.com/sophos-connect/sophos-connect",
		"org.opencontainers.image.version":     b.version,
		"org.opencontainers.image.revision":    b.revision,
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.created":     b.epoch.Format(time.RFC3339),
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range ImagePlatforms {
		bin, err := os.ReadFile(b.bins[p])
		if err != nil {
			return "", err
		}
		files := append(append([]entry(nil), common...), entry{name: strings.TrimPrefix(ImageBinary, "/"), mode: 0o755, data: bin})
		layerTar, err := tarBytes(withDirs(files), b.epoch)
		if err != nil {
			return "", err
		}
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(layerTar)), nil
		}, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return "", err
		}
		img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		img, err = mutate.ConfigFile(img, &v1.ConfigFile{
			Architecture: p.Arch, OS: p.OS,
			RootFS: v1.RootFS{Type: "layers"}, // required by the OCI image spec; runtimes (umoci) refuse an image without it
			Config: v1.Config{
				User:       ImageUser,
				Entrypoint: []string{ImageBinary},
				Env: []string{
					"PATH=/usr/bin",
					"SOPHOS_CONNECT_CONFIG=" + ImageConfig,
					"SSL_CERT_FILE=" + ImageCABundle,
					"ZONEINFO=" + ImageZoneinfo,
				},
				WorkingDir: ImageStateDir,
				Volumes:    map[string]struct{}{ImageStateDir: {}},
				Labels:     labels,
			},
		})
		if err != nil {
			return "", err
		}
		img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
			Created: v1.Time{Time: b.epoch}, CreatedBy: "go run ./tools/release", Comment: "sophos-connect " + b.version,
		}})
		if err != nil {
			return "", err
		}
		if img, err = mutate.CreatedAt(img, v1.Time{Time: b.epoch}); err != nil {
			return "", err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: p.OS, Architecture: p.Arch},
		}})
	}
	idx = mutate.Annotations(idx, labels).(v1.ImageIndex)
	dir, err := os.MkdirTemp("", "sophos-connect-oci")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return "", err
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": b.version,
	})); err != nil {
		return "", err
	}
	var es []entry
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			es = append(es, entry{name: filepath.ToSlash(rel) + "/", mode: 0o755, isDir: true})
			return nil
		}
		data, err := os.ReadFile(p)
		es = append(es, entry{name: filepath.ToSlash(rel), mode: 0o644, data: data})
		return err
	})
	if err != nil {
		return "", err
	}
	sort.Slice(es, func(i, j int) bool { return es[i].name < es[j].name })
	t, err := tarBytes(es, b.epoch)
	if err != nil {
		return "", err
	}
	name := ImageName(b.version)
	return name, os.WriteFile(filepath.Join(out, name), t, 0o644)
}

// imageFiles are the layer's files besides the binary.
func (b *build) imageFiles() ([]entry, error) {
	var ca bytes.Buffer
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue // a distrust-after root: a PEM file cannot carry the date
		}
		pem.Encode(&ca, &pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate})
	}
	if ca.Len() == 0 {
		return nil, fmt.Errorf("no CA roots in golang.org/x/crypto/x509roots/fallback/bundle")
	}
	es := []entry{
		{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{name: strings.TrimPrefix(ImageCABundle, "/"), mode: 0o644, data: ca.Bytes()},
		{name: "etc/sophos-connect/", mode: 0o755, isDir: true},
		{name: "var/lib/sophos-connect/", mode: 0o750, isDir: true, uid: imageUID},
		{name: "home/nonroot/", mode: 0o750, isDir: true, uid: imageUID},
		{name: "tmp/", mode: 0o777 | fs.ModeSticky, isDir: true},
	}
	for _, f := range []struct{ src, dst string }{
		{"LICENSE", "usr/share/doc/sophos-connect/LICENSE"},
		{"NOTICE", "usr/share/doc/sophos-connect/NOTICE"},
		{"sophos-connect.schema.json", "usr/share/sophos-connect/sophos-connect.schema.json"},
	} {
		d, err := os.ReadFile(filepath.Join(b.root, f.src))
		if err != nil {
			return nil, err
		}
		es = append(es, entry{name: f.dst, mode: 0o644, data: d})
	}
	zi, err := zoneinfo()
	if err != nil {
		return nil, err
	}
	return append(es, zi...), nil
}

// zoneinfo unpacks the Go toolchain's lib/time/zoneinfo.zip (the IANA
// database the toolchain ships) under usr/share/zoneinfo.
func zoneinfo() ([]entry, error) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOROOT: %v", err)
	}
	zr, err := zip.OpenReader(filepath.Join(strings.TrimSpace(string(out)), "lib", "time", "zoneinfo.zip"))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	var es []entry
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") {
			continue
		}
		r, err := f.Open()
		if err != nil {
			return nil, err
		}
		d, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			return nil, err
		}
		es = append(es, entry{name: strings.TrimPrefix(ImageZoneinfo, "/") + "/" + f.Name, mode: 0o644, data: d})
	}
	return es, nil
}
