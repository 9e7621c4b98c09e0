package main

import (
	"github.com/sophos-connect/sophos-connect/internal/winservice"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func TestServiceSpec(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte("sinks: []\n"), 0o600)
	t.Chdir(dir)
	spec, err := newServiceSpec(`C:\bin\sophos-connect.exe`, "c.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	// The service manager starts in System32: the config must be absolute.
	if spec.Name != "sophos-connect" || !reflect.DeepEqual(spec.Args, []string{winservice.Marker, "-c", cfg}) || !strings.Contains(spec.Description, cfg) {
		t.Fatalf("spec: %+v", spec)
	}
	if _, err := newServiceSpec("x", filepath.Join(dir, "missing.yaml"), "n"); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing config: %v", err)
	}
	if _, err := newServiceSpec("x", "", "n"); err == nil || !strings.Contains(err.Error(), `sophos-connect\sophos-connect.yaml`) {
		t.Fatalf("no config: %v", err)
	}
}

func TestServiceCommandOffWindows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("on Windows the command talks to the real service manager")
	}
	code, _, errOut := runApp(t, ctxT(t), "service", "start")
	if code != exitRuntime || !strings.Contains(errOut, "systemd") {
		t.Fatalf("service start on %s: %d %s", runtime.GOOS, code, errOut)
	}
	if code, _, _ := runApp(t, ctxT(t), "service"); code != exitUsage {
		t.Fatalf("service without an action: %d", code)
	}
}
