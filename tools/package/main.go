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
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/sophos-connect/sophos-connect/tools/internal/debrpm"
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
	var o debrpm.Options
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
	paths, err := debrpm.Build(o)
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

// The installed paths, as the tests name them.
const (
	binPath    = debrpm.BinPath
	unitPath   = debrpm.UnitPath
	usersPath  = debrpm.UsersPath
	configPath = debrpm.ConfigPath
	envPath    = debrpm.EnvPath
	rotatePath = debrpm.RotatePath
	schemaPath = debrpm.SchemaPath
	docDir     = debrpm.DocDir
)
