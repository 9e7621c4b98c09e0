// Package tinydisk runs a test against a real full disk: a tmpfs of a few
// hundred KiB mounted in a private mount namespace (`unshare -rm`, so no
// root is needed where user namespaces are allowed), on which writes fail
// with ENOSPC as they do on a full state disk (as root, `unshare -m`).
//
// The test binary runs itself again inside the namespace for just that
// test; the parent reports the child's output and result.
package tinydisk

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

const envDir, envTest = "TINYDISK_DIR", "TINYDISK_TEST"

// Run calls fn with the path of an empty tmpfs of size bytes. Call it from
// a top-level test (not a subtest). Where unshare or tmpfs mounts are not
// allowed the test is skipped, saying so — and fails when CI is set.
func Run(t *testing.T, size int, fn func(t *testing.T, dir string)) {
	t.Helper()
	if dir := os.Getenv(envDir); dir != "" && os.Getenv(envTest) == t.Name() {
		fn(t, dir)
		return
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		unavailable(t, "unshare (util-linux) not found")
	}
	dir := t.TempDir()
	// root needs only a mount namespace; anyone else maps to root in a user namespace.
	ns := "-rm"
	if os.Geteuid() == 0 {
		ns = "-m"
	}
	probe := exec.Command(unshare, ns, "sh", "-c", `mount -t tmpfs -o size=4k tmpfs "$0"`, dir)
	if out, err := probe.CombinedOutput(); err != nil {
		unavailable(t, "cannot mount a tmpfs in a user namespace ("+err.Error()+": "+string(out)+")")
	}
	args := []string{ns, "sh", "-c", `mount -t tmpfs -o size="$0" tmpfs "$1" && shift && exec "$@"`,
		strconv.Itoa(size), dir, os.Args[0], "-test.run", "^" + t.Name() + "$", "-test.count=1", "-test.v"}
	cmd := exec.Command(unshare, args...)
	cmd.Env = append(os.Environ(), envDir+"="+dir, envTest+"="+t.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("on a %d-byte tmpfs:\n%s", size, out)
	if err != nil {
		t.Fatalf("the test on the tmpfs failed: %v", err)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatal("the test did not run on the tmpfs")
	}
}

func unavailable(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("full-disk test cannot run: %s (CI must run it)", why)
	}
	t.Skipf("full-disk test skipped: %s", why)
}
