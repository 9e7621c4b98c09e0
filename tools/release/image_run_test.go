package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Podman cannot run containers on this project's machines (Firecracker VMs
// with hybrid cgroup v1/v2 mounts: crun stops at "cgroups in hybrid mode not
// supported", and podman's default rlimits exceed the VM's), so the image
// runs the way a runtime would, from Debian's tools: skopeo resolves the
// multi-arch index to this machine's image, umoci unpacks it into an OCI
// runtime bundle (rootfs + config.json derived from the image config), and
// the test runs the bundle's process — its args, env and user, as the image
// declares them — chrooted into the rootfs inside a private mount namespace
// (unshare), the config bind-mounted read-only at /etc/sophos-connect.

// unpackedImage is an unpacked image: the rootfs and the process config.json
// derived from the image config.
type unpackedImage struct {
	rootfs string
	args   []string // entrypoint (and cmd)
	env    []string
	uid    uint32
	gid    uint32
}

// unpackImage turns the release's OCI archive into a runtime bundle.
func unpackImage(t *testing.T) unpackedImage {
	t.Helper()
	skopeo := need(t, "skopeo", "resolves the OCI image index to this machine's image (apt-get install skopeo)")
	umoci := need(t, "umoci", "unpacks the OCI image into a runtime bundle (apt-get install umoci)")
	need(t, "unshare", "runs the bundle in its own mount namespace (util-linux)")
	if os.Geteuid() != 0 {
		t.Skip("running the unpacked image needs root (chroot and bind mounts; CI runs as root)")
	}
	dir := t.TempDir()
	archive := filepath.Join(dist(t), ImageName(testVersion))
	layoutDir := filepath.Join(dir, "layout")
	run(t, skopeo, "copy", "--quiet", "oci-archive:"+archive+":"+testVersion, "oci:"+layoutDir+":host")
	bdir := filepath.Join(dir, "bundle")
	run(t, umoci, "unpack", "--image", layoutDir+":host", bdir)
	raw, err := os.ReadFile(filepath.Join(bdir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Process struct {
			Args []string `json:"args"`
			Env  []string `json:"env"`
			User struct {
				UID uint32 `json:"uid"`
				GID uint32 `json:"gid"`
			} `json:"user"`
		} `json:"process"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	b := unpackedImage{rootfs: filepath.Join(bdir, "rootfs"), args: spec.Process.Args, env: spec.Process.Env,
		uid: spec.Process.User.UID, gid: spec.Process.User.GID}
	if b.uid != 65532 || b.gid != 65532 || !slices.Equal(b.args, []string{ImageBinary}) {
		t.Fatalf("the unpacked image runs %q as %d:%d, want %s as 65532:65532", b.args, b.uid, b.gid, ImageBinary)
	}
	return b
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// exec runs the image's process with args appended, as the image's user,
// with configDir bind-mounted read-only at /etc/sophos-connect (if set),
// the host's network (loopback), and extra environment variables.
func (b unpackedImage) exec(t *testing.T, configDir string, extraEnv []string, args ...string) (string, int) {
	t.Helper()
	// The image's PATH is the one in force: the host tools go by full path.
	mount := need(t, "mount", "bind-mounts the config (util-linux)")
	chroot := need(t, "chroot", "enters the image's rootfs (coreutils)")
	script := `set -e
"$MOUNT" --make-rprivate /
if [ -n "$CONFIG_DIR" ]; then "$MOUNT" --bind "$CONFIG_DIR" "$ROOTFS/etc/sophos-connect"; "$MOUNT" -o remount,bind,ro "$ROOTFS/etc/sophos-connect"; fi
exec "$CHROOT" --userspec="$USERSPEC" "$ROOTFS" "$@"`
	cmdArgs := append([]string{"--mount", "--fork", "--", "/bin/sh", "-c", script, "sh"}, b.args...)
	cmdArgs = append(cmdArgs, args...)
	cmd := exec.Command("unshare", cmdArgs...)
	// The image's env plus extraEnv; the wrapper's five variables pass
	// through chroot too, and the binary reads none of them.
	cmd.Env = append(append(slices.Clone(b.env), extraEnv...),
		"ROOTFS="+b.rootfs, "CONFIG_DIR="+configDir, "MOUNT="+mount, "CHROOT="+chroot,
		"USERSPEC="+strconv.Itoa(int(b.uid))+":"+strconv.Itoa(int(b.gid)))
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("unshare: %v", err)
	}
	return string(out), code
}

// TestImageRuns runs the released image (see above for how): version,
// validate of a mounted config, and -once against the emulator on the
// host's loopback, writing the seed's files into the image's state volume
// as the image's user 65532.
func TestImageRuns(t *testing.T) {
	b := unpackImage(t)

	if out, code := b.exec(t, "", nil, "version"); code != 0 || !strings.HasPrefix(out, "sophos-connect "+testVersion+" ") || !strings.Contains(out, "linux/") {
		t.Errorf("version: exit %d: %q", code, out)
	}

	e := startEmulator(t)
	cfgDir := t.TempDir()
	os.Chmod(cfgDir, 0o755) // readable by the image's user 65532
	cfg := seedConfig(e, "/var/lib/sophos-connect/out", "/var/lib/sophos-connect/state")
	if err := os.WriteFile(filepath.Join(cfgDir, "sophos-connect.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	creds := []string{"SOPHOS_CLIENT_ID=emulator-client", "SOPHOS_CLIENT_SECRET=emulator-secret"}

	// validate with no -c: the image's SOPHOS_CONNECT_CONFIG names the mounted file.
	if out, code := b.exec(t, cfgDir, creds, "validate"); code != 0 || !strings.Contains(out, "/etc/sophos-connect/sophos-connect.yaml") {
		t.Errorf("validate: exit %d\n%s", code, out)
	}
	if out, code := b.exec(t, cfgDir, creds, "-once"); code != 0 {
		t.Fatalf("-once: exit %d\n%s", code, out)
	}
	vol := filepath.Join(b.rootfs, "var", "lib", "sophos-connect")
	for _, f := range seedFiles {
		st, err := os.Stat(filepath.Join(vol, "out", f))
		if err != nil {
			t.Errorf("-once in the image wrote no %s: %v", f, err)
			continue
		}
		if st.Size() == 0 {
			t.Errorf("%s is empty", f)
		}
		if uid := st.Sys().(*syscall.Stat_t).Uid; uid != 65532 {
			t.Errorf("%s is owned by uid %d, not the image's user 65532", f, uid)
		}
	}
	if _, err := os.Stat(filepath.Join(vol, "state", "checkpoints.json")); err != nil {
		t.Errorf("no checkpoints in the state volume: %v", err)
	}
}
