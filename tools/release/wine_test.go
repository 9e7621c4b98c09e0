package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// winePrefix makes a wine prefix for this test with the ProcessPrng shim
// (testdata/processprng, built with mingw-w64) in its system32: Go's runtime
// loads bcryptprimitives.dll from system32 only, and wine 8's has no
// ProcessPrng. It returns the environment for wine and C:\sophos-connect's
// host path.
func winePrefix(t *testing.T) (env []string, cdir string) {
	t.Helper()
	need(t, "wine", "runs the Windows binary (apt-get install wine wine64)")
	gcc := need(t, "x86_64-w64-mingw32-gcc", "builds the ProcessPrng shim (apt-get install gcc-mingw-w64-x86-64)")
	prefix := filepath.Join(t.TempDir(), "prefix")
	env = append(os.Environ(), "WINEPREFIX="+prefix, "WINEDEBUG=-all", "WINEARCH=win64",
		"WINEDLLOVERRIDES=bcryptprimitives=n;mscoree,mshtml=") // the shim, not wine's; no Mono/Gecko prompts
	t.Cleanup(func() {
		k := exec.Command("wineserver", "-k")
		k.Env = env
		k.Run()
	})
	boot := exec.Command("wine", "wineboot", "--init")
	boot.Env = env
	if out, err := boot.CombinedOutput(); err != nil {
		t.Fatalf("wineboot --init: %v\n%s", err, out)
	}
	sys32 := filepath.Join(prefix, "drive_c", "windows", "system32")
	src := filepath.Join("testdata", "processprng")
	cc := exec.Command(gcc, "-shared", "-O2", "-o", filepath.Join(sys32, "bcryptprimitives.dll"),
		filepath.Join(src, "processprng.c"), filepath.Join(src, "processprng.def"), "-ladvapi32")
	if out, err := cc.CombinedOutput(); err != nil {
		t.Fatalf("building the ProcessPrng shim: %v\n%s", err, out)
	}
	cdir = filepath.Join(prefix, "drive_c", "sophos-connect")
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		t.Fatal(err)
	}
	return env, cdir
}

// wine runs C:\sophos-connect\sophos-connect.exe with args and returns its
// output and exit code.
func wine(t *testing.T, env []string, timeout time.Duration, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "wine", append([]string{`C:\sophos-connect\sophos-connect.exe`}, args...)...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("wine sophos-connect.exe %s: no exit in %s\n%s", strings.Join(args, " "), timeout, out)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("wine: %v", err)
	}
	return string(out), code
}

// TestWindowsBinaryUnderWine runs the released windows/amd64 binary under
// Debian's wine: version, validate, -once against the emulator on loopback
// writing the seed's files, then the service commands.
func TestWindowsBinaryUnderWine(t *testing.T) {
	env, cdir := winePrefix(t)
	windowsBinary(t, cdir)

	out, code := wine(t, env, 2*time.Minute, "version")
	if code != 0 || !strings.HasPrefix(out, "sophos-connect "+testVersion+" ") || !strings.Contains(out, "windows/amd64") {
		t.Fatalf("version: exit %d\n%s", code, out)
	}

	e := startEmulator(t)
	cfg := seedConfig(e, "out", "state") // relative: beside the config, C:\sophos-connect
	if err := os.WriteFile(filepath.Join(cdir, "sophos-connect.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	env = append(env, "SOPHOS_CLIENT_ID=emulator-client", "SOPHOS_CLIENT_SECRET=emulator-secret")
	const cfgPath = `C:\sophos-connect\sophos-connect.yaml`
	if out, code := wine(t, env, 2*time.Minute, "validate", "-c", cfgPath); code != 0 {
		t.Fatalf("validate: exit %d\n%s", code, out)
	}
	if out, code := wine(t, env, 5*time.Minute, "-once", "-c", cfgPath); code != 0 {
		t.Fatalf("-once: exit %d\n%s", code, out)
	}
	for _, f := range seedFiles {
		st, err := os.Stat(filepath.Join(cdir, "out", f))
		if err != nil || st.Size() == 0 {
			t.Errorf("-once under wine: %s missing or empty (%v)", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(cdir, "state")); err != nil {
		t.Errorf("-once under wine wrote no state directory: %v", err)
	}

	t.Run("service", func(t *testing.T) { windowsService(t, env, cdir, e) })
}

// windowsService installs the binary as a service in wine's service manager,
// starts it (the collector runs with its own config: wine's services.exe
// does not pass on the test's environment, so the secret comes from
// client_secret_file), waits for it to pull into its output directory,
// stops it and uninstalls it.
func windowsService(t *testing.T, env []string, cdir string, e emulator) {
	if err := os.WriteFile(filepath.Join(cdir, "client_secret"), []byte("emulator-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := "sophos:\n" +
		"  client_id: emulator-client\n" +
		"  client_secret_file: client_secret\n" +
		"  auth_url: " + e.authURL + "\n" +
		"  api_host: " + e.baseURL + "\n" +
		"save_file_location: svc-out\n" +
		"json_file_creation: true\n" +
		"state_dir: svc-state\n"
	if err := os.WriteFile(filepath.Join(cdir, "service.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	const name = "sophos-connect-test"
	svc := func(args ...string) string {
		t.Helper()
		out, code := wine(t, env, 2*time.Minute, append([]string{"service"}, args...)...)
		if code != 0 {
			t.Fatalf("service %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
		t.Logf("service %s: %s", strings.Join(args, " "), strings.TrimSpace(out))
		return out
	}
	svc("install", "-name", name, "-c", `C:\sophos-connect\service.yaml`)
	installed := true
	t.Cleanup(func() {
		if installed {
			wine(t, env, time.Minute, "service", "stop", "-name", name)
			wine(t, env, time.Minute, "service", "uninstall", "-name", name)
		}
	})
	// Wine boots the prefix again after an idle moment, and the boot starts
	// an automatic service itself: then start answers "already running".
	if out := svc("start", "-name", name); !strings.Contains(out, "service "+name+" started") && !strings.Contains(out, "already running") {
		t.Fatalf("service start: %q", out)
	}
	// The running service pulls the emulator's backlog into svc-out.
	events := filepath.Join(cdir, "svc-out", "sophos_events.json")
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if st, err := os.Stat(events); err == nil && st.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(cdir, "svc-out", "Sophos_log.log"))
			t.Fatalf("the started service wrote no %s in 3 minutes; its log:\n%s", events, log)
		}
		time.Sleep(time.Second)
	}
	svc("stop", "-name", name)
	// Stopped, it drained and committed: its checkpoints are in svc-state.
	if st, err := os.Stat(filepath.Join(cdir, "svc-state", "checkpoints.json")); err != nil || st.Size() == 0 {
		t.Errorf("the stopped service committed no checkpoints (%v)", err)
	}
	svc("uninstall", "-name", name)
	installed = false
	if out, code := wine(t, env, time.Minute, "service", "start", "-name", name); code == 0 || !strings.Contains(out, "not installed") {
		t.Errorf("service start after uninstall: exit %d\n%s", code, out)
	}
}
