package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/tools/internal/debrpm"
)

// build makes both packages once per test binary run.
func build(t *testing.T) (deb, rpm string) {
	t.Helper()
	wd, _ := os.Getwd()
	out := t.TempDir()
	paths, err := debrpm.Build(debrpm.Options{Root: findRoot(wd), Version: "1.2.3", Arch: "amd64", Out: out, Formats: []string{"deb", "rpm"}})
	if err != nil {
		t.Fatal(err)
	}
	return paths[0], paths[1]
}

func need(t *testing.T, tool, why string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found (CI is set, so this is a failure: %s)", tool, why)
		}
		t.Skipf("%s not found: %s", tool, why)
	}
	return p
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// wantFiles are the packaged files (directories aside).
var wantFiles = []string{
	binPath, unitPath, usersPath, configPath, envPath, rotatePath, schemaPath,
	docDir + "/README.md", docDir + "/LICENSE", docDir + "/NOTICE", docDir + "/sophos-connect.help.txt", docDir + "/examples/sophos-connect.service", docDir + "/copyright",
}

func debFiles(t *testing.T, deb string) map[string]string {
	out := run(t, "dpkg-deb", "-c", deb)
	files := map[string]string{} // path → mode string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 || strings.HasPrefix(f[0], "d") {
			continue
		}
		files[strings.TrimPrefix(f[len(f)-1], ".")] = f[0]
	}
	return files
}

// TestPackageContents checks the .deb with dpkg-deb and the .rpm with rpm:
// the same files, the config files marked as such and not world-readable.
func TestPackageContents(t *testing.T) {
	need(t, "dpkg-deb", "Debian's dpkg reads the .deb")
	deb, rpm := build(t)
	files := debFiles(t, deb)
	for _, f := range wantFiles {
		if _, ok := files[f]; !ok {
			t.Errorf("the .deb lacks %s", f)
		}
	}
	for f, mode := range files {
		if strings.HasPrefix(f, docDir+"/examples/") && mode != "-rw-r--r--" {
			t.Errorf("%s: %s, want -rw-r--r-- (examples are documentation)", f, mode)
		}
	}
	if files[configPath] != "-rw-r-----" || files[envPath] != "-rw-------" {
		t.Errorf("modes: config %s (want -rw-r-----), env %s (want -rw-------: it holds the credentials)", files[configPath], files[envPath])
	}
	ctl := t.TempDir()
	run(t, "dpkg-deb", "-e", deb, ctl)
	conffiles, _ := os.ReadFile(filepath.Join(ctl, "conffiles"))
	for _, f := range []string{configPath, envPath, rotatePath} {
		if !strings.Contains(string(conffiles), f) {
			t.Errorf("%s is not a conffile (an upgrade would overwrite it)", f)
		}
	}
	info := run(t, "dpkg-deb", "-I", deb)
	if !strings.Contains(info, "Version: 1.2.3") || !strings.Contains(info, "Package: sophos-connect") {
		t.Errorf("control:\n%s", info)
	}

	need(t, "rpm", "Debian's rpm package reads the .rpm (apt-get install rpm)")
	var rpmFiles []string
	for _, l := range strings.Split(strings.TrimSpace(run(t, "rpm", "-qpl", rpm)), "\n") {
		if _, ok := files[l]; ok || slices.Contains(wantFiles, l) {
			rpmFiles = append(rpmFiles, l)
		}
	}
	var debList []string
	for f := range files {
		debList = append(debList, f)
	}
	slices.Sort(debList)
	slices.Sort(rpmFiles)
	if !slices.Equal(debList, rpmFiles) {
		t.Errorf("rpm -qpl and the .deb differ:\nrpm: %v\ndeb: %v", rpmFiles, debList)
	}
	qi := run(t, "rpm", "-qpi", rpm)
	if !strings.Contains(qi, "sophos-connect") || !strings.Contains(qi, "1.2.3") {
		t.Errorf("rpm -qpi:\n%s", qi)
	}
	cfg := run(t, "rpm", "-qpc", rpm)
	for _, f := range []string{configPath, envPath} {
		if !strings.Contains(cfg, f) {
			t.Errorf("rpm: %s is not a %%config file", f)
		}
	}
}

// TestPackageInstall installs the .deb on this machine (CI only: it changes
// the system), runs the installed binary on the shipped config, verifies the
// unit with systemd-analyze, upgrades over a changed config, removes (the
// config stays) and purges (it goes).
func TestPackageInstall(t *testing.T) {
	if os.Getenv("CI") == "" || os.Geteuid() != 0 {
		t.Skip("installs a package into the system: runs in CI (CI set, as root) only")
	}
	need(t, "dpkg", "installs the .deb")
	deb, _ := build(t)
	run(t, "dpkg", "-i", deb)
	t.Cleanup(func() { exec.Command("dpkg", "-P", "sophos-connect").Run() })

	if out := run(t, binPath, "version"); !strings.Contains(out, "1.2.3") {
		t.Errorf("version: %s", out)
	}
	run(t, "getent", "passwd", "sophos-connect")
	for f, mode := range map[string]os.FileMode{configPath: 0o640, envPath: 0o600} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v, want %v", f, err, mode)
		}
	}
	if grp := strings.TrimSpace(run(t, "stat", "-c", "%G", configPath)); grp != "sophos-connect" {
		t.Errorf("%s: group %s, want sophos-connect (the service reads it)", configPath, grp)
	}
	if unit, _ := os.ReadFile(unitPath); !strings.Contains(string(unit), "ExecStart="+binPath+" ") {
		t.Errorf("the packaged unit does not start %s", binPath)
	}
	cmd := exec.Command(binPath, "validate", "-c", configPath)
	cmd.Env = append(os.Environ(), "SOPHOS_CLIENT_ID=id", "SOPHOS_CLIENT_SECRET=secret")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("validate of the shipped config: %v\n%s", err, out)
	}
	packagedHostConnects(t)
	if p, err := exec.LookPath("systemd-analyze"); err == nil {
		run(t, p, "verify", unitPath)
	} else {
		t.Error("systemd-analyze not found: the unit was not verified")
	}

	// An upgrade keeps a changed config.
	f, _ := os.OpenFile(configPath, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("# edited by the operator\n")
	f.Close()
	run(t, "dpkg", "-i", deb)
	if b, _ := os.ReadFile(configPath); !strings.Contains(string(b), "edited by the operator") {
		t.Error("reinstalling overwrote the edited config")
	}

	run(t, "dpkg", "-r", "sophos-connect")
	if _, err := os.Stat(binPath); err == nil {
		t.Error("dpkg -r left the binary")
	}
	if _, err := os.Stat(configPath); err != nil {
		t.Errorf("dpkg -r removed the config: %v", err)
	}
	run(t, "dpkg", "-P", "sophos-connect")
	if _, err := os.Stat(configPath); err == nil {
		t.Error("dpkg -P left the config")
	}
}

// TestProductModuleGraphHasNoTools: the tools live in their own module, so
// the product's module graph (GOWORK=off: the product's go.mod alone) holds
// none of the packaging libraries.
func TestProductModuleGraphHasNoTools(t *testing.T) {
	wd, _ := os.Getwd()
	cmd := exec.Command("go", "mod", "graph")
	cmd.Dir = findRoot(wd)
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod graph: %v", err)
	}
	if !strings.Contains(string(out), "github.com/segmentio/kafka-go") {
		t.Fatalf("go mod graph of the product does not look like the product's:\n%.500s", out)
	}
	for _, tool := range []string{"github.com/goreleaser/nfpm", "github.com/go-git/go-git"} {
		if strings.Contains(string(out), tool) {
			t.Errorf("the product's module graph holds %s: it belongs in tools/go.mod", tool)
		}
	}
}

// packagedHostConnects: with the .deb installed and the credentials only in
// /etc/sophos-connect/env (which only systemd reads), the documented
// command `sophos-connect validate -connect` — no other flag, from a
// directory without a config — finds the packaged config and the env
// file, checks the paths for the sophos-connect user and reaches the Sophos
// API (the installed binary's emulator on loopback) and every sink.
func packagedHostConnects(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	emu := exec.Command(binPath, "emulate", "-addr", addr, "-client-id", "pkg-client", "-client-secret", "pkg-secret-value", "-events", "20", "-alerts", "5")
	emu.Dir = t.TempDir()
	if err := emu.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { emu.Process.Kill(); emu.Wait() }()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the installed binary's emulator did not listen")
		}
	}
	// The operator's edits: the credentials in the env file, the API's
	// address (here the emulator's) in the config.
	oldEnv, _ := os.ReadFile(envPath)
	oldCfg, _ := os.ReadFile(configPath)
	defer os.WriteFile(envPath, oldEnv, 0o600)
	defer os.WriteFile(configPath, oldCfg, 0o640)
	if err := os.WriteFile(envPath, []byte("SOPHOS_CLIENT_ID=pkg-client\nSOPHOS_CLIENT_SECRET=pkg-secret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(oldCfg), "sophos:\n", fmt.Sprintf("sophos:\n  auth_url: http://%s/api/v2/oauth2/token\n  api_host: http://%s\n", addr, addr), 1)
	if err := os.WriteFile(configPath, []byte(cfg), 0o640); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"/var/lib/sophos-connect", "/var/log/sophos-connect"} {
		// What systemd's StateDirectory=/LogsDirectory= create at first start.
		os.MkdirAll(d, 0o750)
		run(t, "chown", "sophos-connect:sophos-connect", d)
	}
	cmd := exec.Command(binPath, "validate", "-connect")
	cmd.Dir = t.TempDir()
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "SOPHOS_") {
			env = append(env, e)
		}
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("validate -connect on the packaged host: %v\n%s", err, out)
	}
	for _, want := range []string{configPath + ": ok", "checked for user sophos-connect", "sophos token and whoami", "ok: tenant "} {
		if !strings.Contains(string(out), want) {
			t.Errorf("validate -connect output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "pkg-secret-value") {
		t.Error("the secret is in validate's output")
	}
}
