//go:build unix

package main

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// TestValidateChecksPathsForTheServiceUser: validate run as root said
// "writable" for an output directory the service user cannot write
// (issue 27). With -as-user, and automatically when root finds a state
// dir owned by another user (a packaged host), the paths are checked for
// that user.
func TestValidateChecksPathsForTheServiceUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test hands directories to another user")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody on this host")
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	emu := newEmu(t, emulator.Options{})
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755) // t.TempDir is 0700: let nobody in
	}
	out, state := filepath.Join(dir, "out"), filepath.Join(dir, "state")
	for _, d := range []string{out, state} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := writeConfig(t, dir, emu, "save_file_location: "+out+"\nstate_dir: "+state+"\nlog_file_name: "+filepath.Join(state, "sophos-connect.log")+"\n")
	os.Chmod(cfg, 0o644)

	code, stdout, stderr := runApp(t, ctxT(t), "-c", cfg, "validate")
	if code != 0 {
		t.Fatalf("as root, root-owned dirs: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runApp(t, ctxT(t), "-c", cfg, "validate", "-as-user", "nobody")
	if code == 0 || !strings.Contains(stdout, "checked for user nobody") || !strings.Contains(stdout, "NOT WRITABLE: "+out+" is not writable by user nobody (owner root") ||
		!strings.Contains(stderr, "cannot be written by user nobody") {
		t.Fatalf("-as-user nobody on root's 0755 dirs: exit %d\n%s%s", code, stdout, stderr)
	}
	// The packaged host: the state dir belongs to the service user, so
	// root's validate checks for it without being told.
	if err := os.Chown(state, uid, gid); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runApp(t, ctxT(t), "-c", cfg, "validate")
	if code == 0 || !strings.Contains(stdout, "checked for user nobody") || !strings.Contains(stdout, out+" is not writable by user nobody") {
		t.Fatalf("root, state dir owned by nobody, output dir root's: exit %d\n%s%s", code, stdout, stderr)
	}
	if err := os.Chown(out, uid, gid); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runApp(t, ctxT(t), "-c", cfg, "validate")
	if code != 0 || !strings.Contains(stdout, "checked for user nobody") {
		t.Fatalf("everything nobody's: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr = runApp(t, ctxT(t), "-c", cfg, "validate", "-as-user", "no-such-user-xyz"); code != 2 || !strings.Contains(stderr, "no-such-user-xyz") {
		t.Fatalf("unknown user: exit %d %s", code, stderr)
	}
}
