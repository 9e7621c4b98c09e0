package main

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// podman runs podman and returns its stdout, failing the test on an error.
func podman(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("podman", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("podman %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// loadImage loads the release's OCI archive into podman's store (the
// multi-arch index: podman picks this machine's architecture) under a
// name of this test run, removed at the end.
func loadImage(t *testing.T) string {
	t.Helper()
	need(t, "podman", "runs the released OCI image (apt-get install podman)")
	id := make([]byte, 4)
	rand.Read(id)
	name := "localhost/sophos-connect-test:" + hex.EncodeToString(id)
	archive := filepath.Join(dist(t), ImageName(testVersion))
	lines := strings.Fields(podman(t, "pull", "-q", "oci-archive:"+archive))
	if len(lines) == 0 {
		t.Fatal("podman pull printed no image id")
	}
	podman(t, "tag", lines[len(lines)-1], name)
	t.Cleanup(func() { exec.Command("podman", "rmi", "-f", name).Run() })
	return name
}

// TestImageRuns runs the released image with Debian's podman (rootful, as
// CI runs; the container's process is the image's user 65532): version,
// validate of a mounted config, and -once against the emulator on the
// host's loopback (--network=host), writing the seed's files into a volume.
func TestImageRuns(t *testing.T) {
	img := loadImage(t)

	if out := podman(t, "run", "--rm", img, "version"); !strings.HasPrefix(out, "sophos-connect "+testVersion+" ") || !strings.Contains(out, "linux/") {
		t.Errorf("version printed %q", out)
	}

	e := startEmulator(t)
	cfgDir := t.TempDir()
	os.Chmod(cfgDir, 0o755) // readable by the container's user 65532
	cfg := seedConfig(e, "/var/lib/sophos-connect/out", "/var/lib/sophos-connect/state")
	if err := os.WriteFile(filepath.Join(cfgDir, "sophos-connect.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	envFile := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(envFile, []byte("SOPHOS_CLIENT_ID=emulator-client\nSOPHOS_CLIENT_SECRET=emulator-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mount := cfgDir + ":/etc/sophos-connect:ro"

	if out := podman(t, "run", "--rm", "--env-file", envFile, "-v", mount, img, "validate"); !strings.Contains(out, "/etc/sophos-connect/sophos-connect.yaml") {
		t.Errorf("validate printed %q", out)
	}

	vol := strings.TrimSpace(podman(t, "volume", "create"))
	t.Cleanup(func() { exec.Command("podman", "volume", "rm", "-f", vol).Run() })
	podman(t, "run", "--rm", "--network=host", "--env-file", envFile, "-v", mount, "-v", vol+":/var/lib/sophos-connect", img, "-once")
	dir := strings.TrimSpace(podman(t, "volume", "inspect", "--format", "{{.Mountpoint}}", vol))
	for _, f := range seedFiles {
		p := filepath.Join(dir, "out", f)
		st, err := os.Stat(p)
		if err != nil {
			t.Errorf("-once in the container wrote no %s: %v", f, err)
			continue
		}
		if st.Size() == 0 {
			t.Errorf("%s is empty", f)
		}
		if uid := st.Sys().(*syscall.Stat_t).Uid; uid != 65532 {
			t.Errorf("%s is owned by uid %d, not the image's user 65532", f, uid)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); err != nil {
		t.Errorf("no state directory in the volume: %v", err)
	}
}
