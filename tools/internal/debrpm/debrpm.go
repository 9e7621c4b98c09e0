// Package debrpm builds the .deb and .rpm of sophos-connect with nfpm (as a
// library, no shell packaging): the binary with the files of examples/ (the
// systemd unit, the sysusers.d entry, the config (mode 0640) and the
// credentials' env file (0600) in /etc/sophos-connect, never overwritten on
// upgrade, the logrotate snippet), the JSON Schema, the README, LICENSE,
// NOTICE and the `-h` text.
package debrpm

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

// Options say what to build.
type Options struct {
	Root    string    // the repository
	Version string    // semver, e.g. 1.2.3
	Arch    string    // GOARCH: amd64, arm64
	Out     string    // output directory
	Formats []string  // deb, rpm
	Binary  string    // a prebuilt linux binary; "" = build one
	Help    string    // a binary that runs here, for the `-h` text; "" = the packaged one if it runs here
	MTime   time.Time // the files' and packages' time (reproducible builds); zero = the Unix epoch
}

// Installed paths.
const (
	BinPath    = "/usr/bin/sophos-connect"
	UnitPath   = "/usr/lib/systemd/system/sophos-connect.service"
	UsersPath  = "/usr/lib/sysusers.d/sophos-connect.conf"
	ConfigPath = "/etc/sophos-connect/sophos-connect.yaml"
	EnvPath    = "/etc/sophos-connect/env"
	RotatePath = "/etc/logrotate.d/sophos-connect"
	SchemaPath = "/usr/share/sophos-connect/sophos-connect.schema.json"
	DocDir     = "/usr/share/doc/sophos-connect"
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
	helpBin := o.Help
	if helpBin == "" && o.Arch == runtime.GOARCH && runtime.GOOS == "linux" {
		helpBin = bin
	}
	if helpBin != "" {
		out, err := exec.Command(helpBin, "-h").Output()
		if err != nil {
			return nil, fmt.Errorf("%s -h: %v", helpBin, err)
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
		"$schema=../sophos-connect.schema.json", "$schema="+SchemaPath)
	if err != nil {
		return nil, err
	}
	unit, err := rewrite(tmp, filepath.Join(o.Root, "examples", "sophos-connect.service"),
		"/usr/local/bin/sophos-connect", BinPath)
	if err != nil {
		return nil, err
	}

	root := func(p string) string { return filepath.Join(o.Root, p) }
	copyright := filepath.Join(tmp, "copyright")
	if err := os.WriteFile(copyright, []byte(copyrightText), 0o644); err != nil {
		return nil, err
	}
	file := func(src, dst string, mode os.FileMode) *files.Content {
		return &files.Content{Source: src, Destination: dst, FileInfo: &files.ContentFileInfo{Mode: mode}}
	}
	conf := func(src, dst string, mode os.FileMode) *files.Content {
		c := file(src, dst, mode)
		c.Type = files.TypeConfigNoReplace
		return c
	}
	contents := files.Contents{
		file(bin, BinPath, 0o755),
		file(unit, UnitPath, 0o644),
		file(root("examples/sophos-connect.sysusers"), UsersPath, 0o644),
		conf(shippedCfg, ConfigPath, 0o640),
		conf(root("examples/sophos-connect.env"), EnvPath, 0o600),
		conf(root("examples/logrotate.conf"), RotatePath, 0o644),
		file(root("sophos-connect.schema.json"), SchemaPath, 0o644),
		file(root("README.md"), DocDir+"/README.md", 0o644),
		file(root("LICENSE"), DocDir+"/LICENSE", 0o644),
		file(root("NOTICE"), DocDir+"/NOTICE", 0o644),
		file(copyright, DocDir+"/copyright", 0o644),
	}
	// The examples one by one, 0644: documentation, not programs.
	err = filepath.WalkDir(root("examples"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(root("examples"), p)
		if err == nil {
			contents = append(contents, file(p, DocDir+"/examples/"+filepath.ToSlash(rel), 0o644))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if help != "" {
		contents = append(contents, file(help, DocDir+"/sophos-connect.help.txt", 0o644))
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
		MTime:       mtime(o.MTime),
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
		return "", fmt.Errorf("%s no longer contains %q: update tools/internal/debrpm", src, old)
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

func mtime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return t.UTC()
}

// copyrightText is Debian's machine-readable copyright file (DEP-5): the
// product's licence, and where the third-party notices are.
const copyrightText = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: sophos-connect
Source: https://github.com/sophos-connect/sophos-connect

Files: *
Copyright: sophos-connect contributors
License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License"); you may not
 use this file except in compliance with the License. You may obtain a copy of
 the License at http://www.apache.org/licenses/LICENSE-2.0
 .
 On Debian systems, the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0, and beside this file in LICENSE.
 .
 The binary includes third-party Go modules under their own (permissive)
 licences; their names and licence texts are in NOTICE beside this file.
`
