package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/collector"
)

// unitKeys reads a systemd unit's [Service] keys (a key may repeat).
func unitKeys(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "[") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if ok {
			keys[k] = append(keys[k], v)
		}
	}
	return keys
}

// TestSystemdUnitVerifies runs systemd's own checker on
// examples/sophos-connect.service (with ExecStart pointing at a real
// binary) and checks what the unit promises: the directories, the
// credentials file, reload by SIGHUP, and that under ProtectSystem=strict
// every path examples/systemd.yaml writes is one the unit makes writable.
func TestSystemdUnitVerifies(t *testing.T) {
	sa := needTool(t, "systemd-analyze", "/usr/bin/systemd-analyze")
	bin := buildBinary(t)
	src := filepath.Join("..", "..", "examples", "sophos-connect.service")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "sophos-connect.service")
	os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/sophos-connect", bin)), 0o644)
	out, err := exec.Command(sa, "verify", unit).CombinedOutput()
	if err != nil || strings.Contains(string(out), "sophos-connect.service") {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	k := unitKeys(t, src)
	for key, want := range map[string]string{
		"StateDirectory": "sophos-connect", "LogsDirectory": "sophos-connect", "ConfigurationDirectory": "sophos-connect",
		"User": "sophos-connect", "EnvironmentFile": "/etc/sophos-connect/env", "ExecReload": "/bin/kill -HUP $MAINPID",
		"ProtectSystem": "strict", "KillSignal": "SIGTERM",
		// A configuration error (exit 2: a bad config, a refused credential)
		// is not restarted every 10 s forever.
		"RestartPreventExitStatus": "2",
	} {
		if got := strings.Join(k[key], ","); got != want {
			t.Errorf("%s=%q, want %q", key, got, want)
		}
	}
	// The user comes from the documented sysusers.d file.
	su, _ := os.ReadFile(filepath.Join("..", "..", "examples", "sophos-connect.sysusers"))
	if !strings.Contains(string(su), "u sophos-connect ") {
		t.Errorf("examples/sophos-connect.sysusers does not create the unit's user:\n%s", su)
	}
	env, _ := os.ReadFile(filepath.Join("..", "..", "examples", "sophos-connect.env"))
	for _, v := range []string{"SOPHOS_CLIENT_ID=", "SOPHOS_CLIENT_SECRET="} {
		if !strings.Contains(string(env), "\n"+v) {
			t.Errorf("examples/sophos-connect.env lacks %s", v)
		}
	}
	// Under ProtectSystem=strict only StateDirectory, LogsDirectory (and
	// ReadWritePaths) are writable: the example config must write there.
	writable := []string{"/var/lib/" + k["StateDirectory"][0], "/var/log/" + k["LogsDirectory"][0]}
	for _, v := range k["ReadWritePaths"] {
		writable = append(writable, strings.Fields(v)...)
	}
	t.Setenv("STATE_DIRECTORY", "")
	t.Setenv("LOGS_DIRECTORY", "")
	t.Setenv("SOPHOS_CLIENT_ID", "id")
	t.Setenv("SOPHOS_CLIENT_SECRET", "secret")
	cfg, err := loadConfig(&globals{config: filepath.Join("..", "..", "examples", "systemd.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range collector.OutputPaths(cfg, enabledStreams(cfg, nil)) {
		ok := false
		for _, w := range writable {
			if p.Path == w || strings.HasPrefix(p.Path, w+"/") {
				ok = true
			}
		}
		if !ok {
			t.Errorf("%s %s is not writable under the unit's ProtectSystem=strict (writable: %v)", p.What, p.Path, writable)
		}
	}
}
