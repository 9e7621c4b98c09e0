// Command package builds the .deb and .rpm of sophos-connect with nfpm (as a
// library, no shell packaging):
//
//	go run ./tools/package -version 1.2.3 -out dist
//
// It cross-compiles the binary for -arch (linux), and packs it with the
// files of examples/: the systemd unit, the sysusers.d entry, the config
// (mode 0640) and the credentials' env file (0600) in /etc/sophos-connect
// (never overwritten on upgrade), the logrotate snippet; plus the JSON
// Schema, the README and the `-h` text.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

// Options say what to build.
type Options struct {
	Root    string   // the repository
	Version string   // semver, e.g. 1.2.3
	Arch    string   // GOARCH: amd64, arm64
	Out     string   // output directory
	Formats []string // deb, rpm
	Binary  string   // a prebuilt linux binary; "" = build one
}

func main() {
	var o Options
	var formats string
	flag.StringVar(&o.Version, "version", "0.1.0", "package version (semver)")
	flag.StringVar(&o.Arch, "arch", runtime.GOARCH, "GOARCH of the binary (amd64, arm64)")
	flag.StringVar(&o.Out, "out", "dist", "output directory")
	flag.StringVar(&formats, "formats", "deb,rpm", "package formats")
	flag.StringVar(&o.Binary, "binary", "", "use this linux binary instead of building one")
	flag.Parse()
	o.Formats = strings.Split(formats, ",")
	wd, _ := os.Getwd()
	o.Root = findRoot(wd)
	paths, err := Build(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "package:", err)
		os.Exit(1)
	}
	for _, p := range paths {
		fmt.Println(p)
	}
}

// findRoot returns the product's repository root: the nearest directory
// holding cmd/sophos-connect (tools/ is a module of its own, so the nearest
// go.mod is not it).
func findRoot(dir string) string {
	for d := dir; filepath.Dir(d) != d; d = filepath.Dir(d) {
		if st, err := os.Stat(filepath.Join(d, "cmd", "sophos-connect")); err == nil && st.IsDir() {
			return d
		}
	}
	return dir
}

// Installed paths.
const (
	binPath    = "/usr/bin/sophos-connect"
	unitPath   = "/usr/lib/systemd/system/sophos-connect.service"
	usersPath  = "/usr/lib/sysusers.d/sophos-connect.conf"
	configPath = "/etc/sophos-connect/sophos-connect.yaml"
	envPath    = "/etc/sophos-connect/env"
	rotatePath = "/etc/logrotate.d/sophos-connect"
	schemaPath = "/usr/share/sophos-connect/sophos-connect.schema.json"
	docDir     = "/usr/share/doc/sophos-connect"
)

// Build writes one package per format into o.Out and returns their paths.
func Build(o Options) ([]string, error) {
	tmp, err := os.MkdirTemp("", "sophos-connect-package")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin := o.Binary
	if bin == "" {
		bin = filepath.Join(tmp, "sophos-connect")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+o.Version, "-o", bin, "./cmd/sophos-connect")
		cmd.Dir = o.Root
		// GOWORK=off: the product builds with its own go.mod's versions, not
		// the workspace's (which the tools module's needs may raise).
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+o.Arch, "CGO_ENABLED=0", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build: %v\n%s", err, out)
		}
	}
	// Generated files: the `-h` text and the shipped config pointing at the
	// installed schema.
	help := filepath.Join(tmp, "sophos-connect.help.txt")
	if o.Arch == runtime.GOARCH && runtime.GOOS == "linux" {
		out, err := exec.Command(bin, "-h").Output()
		if err != nil {
			return nil, fmt.Errorf("%s -h: %v", bin, err)
		}
		if err := os.WriteFile(help, out, 0o644); err != nil {
			return nil, err
		}
	} else {
		help = ""
	}
	// The examples are the single source: the systemd config (pointing at
	// the installed schema) and the unit (with the packaged binary's path).
	shippedCfg, err := rewrite(tmp, filepath.Join(o.Root, "examples", "systemd.yaml"),
		"$schema=../sophos-connect.schema.json", "$schema="+schemaPath)
	if err != nil {
		return nil, err
	}
	unit, err := rewrite(tmp, filepath.Join(o.Root, "examples", "sophos-connect.service"),
		"/usr/local/bin/sophos-connect", binPath)
	if err != nil {
		return nil, err
	}

	root := func(p string) string { return filepath.Join(o.Root, p) }
	file := func(src, dst string, mode os.FileMode) *files.Content {
		return &files.Content{Source: src, Destination: dst, FileInfo: &files.ContentFileInfo{Mode: mode}}
	}
	conf := func(src, dst string, mode os.FileMode) *files.Content {
		c := file(src, dst, mode)
		c.Type = files.TypeConfigNoReplace
		return c
	}
	contents := files.Contents{
		file(bin, binPath, 0o755),
		file(unit, unitPath, 0o644),
		file(root("examples/sophos-connect.sysusers"), usersPath, 0o644),
		conf(shippedCfg, configPath, 0o640),
		conf(root("examples/sophos-connect.env"), envPath, 0o600),
		conf(root("examples/logrotate.conf"), rotatePath, 0o644),
		file(root("sophos-connect.schema.json"), schemaPath, 0o644),
		file(root("README.md"), docDir+"/README.md", 0o644),
		file(root("examples"), docDir+"/examples", 0o755),
	}
	contents[len(contents)-1].Type = files.TypeTree
	if help != "" {
		contents = append(contents, file(help, docDir+"/sophos-connect.help.txt", 0o644))
	}
	info := &nfpm.Info{
		Name:        "sophos-connect",
		Arch:        o.Arch,
		Platform:    "linux",
		Version:     o.Version,
		Section:     "admin",
		Priority:    "optional",
		Maintainer:  "sophos-connect maintainers <sophos-connect@users.noreply.github.com>",
		Description: "Sophos Central SIEM collector\nPulls Sophos Central alerts and events and forwards them to files, syslog,\nKafka, Elasticsearch, Splunk HEC, Microsoft Sentinel and HTTP receivers.",
		Vendor:      "sophos-connect",
		Homepage:    "https://github.com/sophos-connect/sophos-connect",
		License:     "Apache-2.0",
		MTime:       time.Unix(0, 0).UTC(),
		Overridables: nfpm.Overridables{
			Contents: contents,
			Scripts: nfpm.Scripts{
				PostInstall: root("packaging/postinstall.sh"),
				PreRemove:   root("packaging/preremove.sh"),
				PostRemove:  root("packaging/postremove.sh"),
			},
			Recommends: []string{"logrotate"},
			RPM:        nfpm.RPM{Group: "System Environment/Daemons", Summary: "Sophos Central SIEM collector"},
		},
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	var out []string
	for _, format := range o.Formats {
		p, err := pack(info, format, o.Out)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// rewrite copies src into dir with every old replaced by new.
func rewrite(dir, src, old, new string) (string, error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	if !bytes.Contains(b, []byte(old)) {
		return "", fmt.Errorf("%s no longer contains %q: update tools/package", src, old)
	}
	out := filepath.Join(dir, filepath.Base(src))
	return out, os.WriteFile(out, bytes.ReplaceAll(b, []byte(old), []byte(new)), 0o644)
}

func pack(base *nfpm.Info, format, dir string) (string, error) {
	pkgr, err := nfpm.Get(format)
	if err != nil {
		return "", err
	}
	info := *base
	info.Overridables.Contents = append(files.Contents(nil), base.Overridables.Contents...)
	info.Target = ""
	in := nfpm.WithDefaults(&info)
	if err := nfpm.PrepareForPackager(in, format); err != nil {
		return "", fmt.Errorf("%s: %w", format, err)
	}
	path := filepath.Join(dir, pkgr.ConventionalFileName(in))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := pkgr.Package(in, f); err != nil {
		f.Close()
		return "", fmt.Errorf("%s: %w", format, err)
	}
	return path, f.Close()
}
