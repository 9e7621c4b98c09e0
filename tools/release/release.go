package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/tools/internal/debrpm"
	"github.com/sophos-connect/sophos-connect/tools/internal/licenses"
)

// Options say what to release.
type Options struct {
	Version string // e.g. 1.2.3
	Out     string // output directory
}

// build is what every artifact is made from.
type build struct {
	root, version, revision string
	epoch                   time.Time
	bins                    map[licenses.Platform]string // built binaries
}

// Release builds every artifact into o.Out and returns their names (SHA256SUMS
// last).
func Release(wd string, o Options) ([]string, error) {
	root, err := licenses.Root(wd)
	if err != nil {
		return nil, err
	}
	b := build{root: root, version: o.Version, bins: map[licenses.Platform]string{}}
	if b.epoch, b.revision, err = sourceDate(root); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "sophos-connect-release")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	for _, p := range licenses.Platforms {
		bin, err := b.compile(p, filepath.Join(tmp, p.OS+"_"+p.Arch))
		if err != nil {
			return nil, err
		}
		b.bins[p] = bin
	}
	var arts []string
	for _, p := range licenses.Platforms {
		name, err := b.archive(p, o.Out)
		if err != nil {
			return nil, err
		}
		arts = append(arts, name)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		paths, err := debrpm.Build(debrpm.Options{
			Root: root, Version: o.Version, Arch: arch, Out: o.Out, Formats: []string{"deb", "rpm"},
			Binary: b.bins[licenses.Platform{OS: "linux", Arch: arch}], MTime: b.epoch,
			Help: b.bins[licenses.Platform{OS: "linux", Arch: hostArch()}],
		})
		if err != nil {
			return nil, fmt.Errorf("packages for %s: %w", arch, err)
		}
		for _, p := range paths {
			arts = append(arts, filepath.Base(p))
		}
	}
	sbom, err := b.sbom(o.Out)
	if err != nil {
		return nil, fmt.Errorf("SBOM: %w", err)
	}
	arts = append(arts, sbom)
	img, err := b.image(o.Out)
	if err != nil {
		return nil, fmt.Errorf("OCI image: %w", err)
	}
	arts = append(arts, img)
	sort.Strings(arts)
	if err := writeSums(o.Out, arts); err != nil {
		return nil, err
	}
	return append(arts, "SHA256SUMS"), nil
}

// sourceDate is SOURCE_DATE_EPOCH if set, else the commit's time; and the
// commit (empty outside a git checkout).
func sourceDate(root string) (time.Time, string, error) {
	rev, _ := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	revision := strings.TrimSpace(string(rev))
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		out, err := exec.Command("git", "-C", root, "log", "-1", "--format=%ct").Output()
		if err != nil {
			return time.Time{}, "", fmt.Errorf("no SOURCE_DATE_EPOCH and no git commit to take it from (git log: %v): set SOURCE_DATE_EPOCH", err)
		}
		s = strings.TrimSpace(string(out))
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("SOURCE_DATE_EPOCH %q: want Unix seconds", s)
	}
	return time.Unix(sec, 0).UTC(), revision, nil
}

func hostArch() string {
	out, err := exec.Command("go", "env", "GOHOSTARCH").Output()
	if err != nil {
		return "amd64"
	}
	return strings.TrimSpace(string(out))
}

// compile builds the binary for p: -trimpath, no build id, the product's
// go.mod alone (GOWORK=off), no cgo.
func (b *build) compile(p licenses.Platform, dir string) (string, error) {
	bin := filepath.Join(dir, exeName(p))
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -buildid= -X main.version="+b.version, "-o", bin, "./cmd/sophos-connect")
	cmd.Dir = b.root
	cmd.Env = append(os.Environ(), "GOOS="+p.OS, "GOARCH="+p.Arch, "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s/%s: %v\n%s", p.OS, p.Arch, err, out)
	}
	return bin, nil
}

func exeName(p licenses.Platform) string {
	if p.OS == "windows" {
		return "sophos-connect.exe"
	}
	return "sophos-connect"
}

// entry is one file of an archive or image layer.
type entry struct {
	name  string // slash path, no leading slash; a trailing slash = directory
	mode  fs.FileMode
	data  []byte
	uid   int
	isDir bool
}

// docs are the files every archive carries beside the binary.
func (b *build) docs() ([]entry, error) {
	var es []entry
	for _, f := range []string{"README.md", "LICENSE", "NOTICE", "sophos-connect.schema.json"} {
		d, err := os.ReadFile(filepath.Join(b.root, f))
		if err != nil {
			return nil, err
		}
		es = append(es, entry{name: f, mode: 0o644, data: d})
	}
	err := filepath.WalkDir(filepath.Join(b.root, "examples"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(b.root, p)
		es = append(es, entry{name: filepath.ToSlash(rel), mode: 0o644, data: data})
		return nil
	})
	return es, err
}

// ArchiveName is the archive's file name for p.
func ArchiveName(version string, p licenses.Platform) string {
	ext := ".tar.gz"
	if p.OS == "windows" {
		ext = ".zip"
	}
	return fmt.Sprintf("sophos-connect_%s_%s_%s%s", version, p.OS, p.Arch, ext)
}

func (b *build) archive(p licenses.Platform, out string) (string, error) {
	bin, err := os.ReadFile(b.bins[p])
	if err != nil {
		return "", err
	}
	es, err := b.docs()
	if err != nil {
		return "", err
	}
	es = append(es, entry{name: exeName(p), mode: 0o755, data: bin})
	dir := fmt.Sprintf("sophos-connect_%s_%s_%s/", b.version, p.OS, p.Arch)
	for i := range es {
		es[i].name = dir + es[i].name
	}
	es = withDirs(es)
	name := ArchiveName(b.version, p)
	var data []byte
	if p.OS == "windows" {
		data, err = zipOf(es, b.epoch)
	} else {
		data, err = tarGz(es, b.epoch)
	}
	if err != nil {
		return "", err
	}
	return name, os.WriteFile(filepath.Join(out, name), data, 0o644)
}

// withDirs adds every parent directory and sorts by name.
func withDirs(es []entry) []entry {
	have := map[string]bool{}
	for _, e := range es {
		have[e.name] = true
	}
	for _, e := range es {
		for d := path.Dir(strings.TrimSuffix(e.name, "/")); d != "." && d != "/"; d = path.Dir(d) {
			if !have[d+"/"] {
				have[d+"/"] = true
				es = append(es, entry{name: d + "/", mode: 0o755, isDir: true})
			}
		}
	}
	sort.Slice(es, func(i, j int) bool { return es[i].name < es[j].name })
	return es
}

// tarBytes writes es as a tar with fixed times and owners.
func tarBytes(es []entry, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Mode: int64(e.mode.Perm() | e.mode&fs.ModeSticky), ModTime: mtime, Uid: e.uid, Gid: e.uid, Format: tar.FormatPAX}
		if e.mode&fs.ModeSticky != 0 {
			h.Mode = int64(e.mode.Perm()) | 0o1000
		}
		if e.isDir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	err := tw.Close()
	return buf.Bytes(), err
}

func tarGz(es []entry, mtime time.Time) ([]byte, error) {
	t, err := tarBytes(es, mtime)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // no name, zero time: reproducible
	if _, err := zw.Write(t); err != nil {
		return nil, err
	}
	err = zw.Close()
	return buf.Bytes(), err
}

func zipOf(es []entry, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range es {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: mtime}
		h.SetMode(e.mode | map[bool]fs.FileMode{true: fs.ModeDir}[e.isDir])
		if e.isDir {
			h.Method = zip.Store
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(e.data); err != nil {
			return nil, err
		}
	}
	err := zw.Close()
	return buf.Bytes(), err
}

// writeSums writes SHA256SUMS in sha256sum's format.
func writeSums(out string, names []string) error {
	var b strings.Builder
	for _, n := range names {
		d, err := os.ReadFile(filepath.Join(out, n))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(d)
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), n)
	}
	return os.WriteFile(filepath.Join(out, "SHA256SUMS"), []byte(b.String()), 0o644)
}
