package main

import (
	"archive/zip"
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/tools/internal/licenses"
)

// need returns tool's path; without it the test skips, or fails under CI.
func need(t *testing.T, tool, why string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found (CI is set, so this is a failure; .ci/run installs it): %s", tool, why)
		}
		t.Skipf("%s not found: %s", tool, why)
	}
	return p
}

// hostBinary unpacks the released binary for this machine from its archive.
func hostBinary(t *testing.T) string {
	t.Helper()
	p := licenses.Platform{OS: "linux", Arch: runtime.GOARCH}
	dir := t.TempDir()
	f, err := os.Open(filepath.Join(dist(t), ArchiveName(testVersion, p)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := strings.TrimSuffix(ArchiveName(testVersion, p), ".tar.gz") + "/sophos-connect"
	keep := map[string][]byte{want: nil}
	zr, err := gzipReader(f)
	if err != nil {
		t.Fatal(err)
	}
	readTar(t, zr, keep)
	bin := filepath.Join(dir, "sophos-connect")
	if err := os.WriteFile(bin, keep[want], 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// windowsBinary unpacks sophos-connect.exe from the Windows archive into dir.
func windowsBinary(t *testing.T, dir string) string {
	t.Helper()
	p := licenses.Platform{OS: "windows", Arch: "amd64"}
	zr, err := zip.OpenReader(filepath.Join(dist(t), ArchiveName(testVersion, p)))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/sophos-connect.exe") {
			r, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			exe := filepath.Join(dir, "sophos-connect.exe")
			if err := os.WriteFile(exe, b, 0o755); err != nil {
				t.Fatal(err)
			}
			return exe
		}
	}
	t.Fatal("no sophos-connect.exe in the Windows archive")
	return ""
}

// emulator is the released binary's Sophos Central emulator on loopback.
type emulator struct{ baseURL, authURL string }

// startEmulator runs `sophos-connect emulate` on a free loopback port with a
// small backlog until the test ends.
func startEmulator(t *testing.T) emulator {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, hostBinary(t), "emulate", "-addr", "127.0.0.1:0", "-events", "300", "-alerts", "30")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	var e emulator
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l := strings.TrimSpace(sc.Text())
			if v, ok := strings.CutPrefix(l, "base URL:"); ok {
				e.baseURL = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(l, "auth URL:"); ok {
				e.authURL = strings.TrimSpace(v)
			}
			if strings.HasPrefix(l, "Serving until interrupted") {
				go io.Copy(io.Discard, out)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the emulator printed no banner in a minute")
	}
	if e.baseURL == "" || e.authURL == "" {
		t.Fatalf("emulator banner without URLs: %+v", e)
	}
	return e
}

// seedConfig is a config for the emulator writing the seed's txt and JSON
// files and the log into out, with state in state.
func seedConfig(e emulator, out, state string) string {
	return "sophos:\n" +
		"  client_id: ${SOPHOS_CLIENT_ID}\n" +
		"  client_secret: ${SOPHOS_CLIENT_SECRET}\n" +
		"  auth_url: " + e.authURL + "\n" +
		"  api_host: " + e.baseURL + "\n" +
		"save_file_location: " + out + "\n" +
		"txt_file_creation: true\n" +
		"json_file_creation: true\n" +
		"state_dir: " + state + "\n"
}

// seedFiles are the files a -once run over the emulator writes.
var seedFiles = []string{"sophos_alerts", "sophos_events", "sophos_alerts.json", "sophos_events.json", "Sophos_log.log"}
