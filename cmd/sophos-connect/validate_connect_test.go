package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/sinks/splunkhec/splunkhectest"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// TestValidateConnect: validate -connect fetches a Sophos token and
// whoami and runs every sink's start-up check, one line each, exit 1 when
// any fails — naming the failure and its fix, never the secret; a
// file sink is not started (its path is checked instead) and nothing is
// pulled or delivered.
func TestValidateConnect(t *testing.T) {
	hec := splunkhectest.New(splunkhectest.Options{Tokens: map[string]splunkhectest.Token{"right-token": {}}})
	defer hec.Close()
	emu := newEmu(t, emulator.Options{Tenants: 2, Partner: true, Events: 50, Alerts: 5})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close() // a port nothing listens on

	sinks := func(token, syslogAddr string) string {
		return fmt.Sprintf("sinks:\n  - name: splunk\n    type: splunk_hec\n    url: %s\n    token: %s\n  - name: siem\n    type: syslog\n    address: tcp://%s\n", hec.URL, token, syslogAddr)
	}
	dir := t.TempDir()
	good, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	go func() {
		for {
			c, err := good.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()

	cfg := writeConfig(t, dir, emu, sinks("right-token", good.Addr().String()))
	code, out, errOut := runApp(t, ctxT(t), "-c", cfg, "validate", "-connect")
	if code != 0 {
		t.Fatalf("all reachable: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"connection checks (-connect):", "sophos token and whoami", "ok: partner ", "2 tenant(s) reachable",
		"sink splunk (splunk_hec)", "sink siem (syslog)", "ok: start-up check passed", "ok: local output: its path is checked above"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(dir + "/state"); err == nil {
		entries, _ := os.ReadDir(dir + "/state")
		if len(entries) > 0 {
			t.Errorf("validate -connect wrote to the state dir: %v", entries)
		}
	}
	if len(hec.Events()) != 0 {
		t.Fatal("validate -connect delivered records")
	}

	// A wrong HEC token and a dead syslog receiver: both named, with a fix.
	cfg = writeConfig(t, t.TempDir(), emu, sinks("wrong-token-value", closed))
	code, out, errOut = runApp(t, ctxT(t), "-c", cfg, "validate", "-connect")
	if code != exitRuntime || !strings.Contains(errOut, "2 connection check(s) above failed") {
		t.Fatalf("two failing sinks: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"sink splunk (splunk_hec)         FAILED:", "fix: the destination refused the sink's credentials",
		"sink siem (syslog)               FAILED:", "fix: check the sink's address", "ok: partner"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+errOut, "wrong-token-value") {
		t.Fatalf("the token is in the output:\n%s%s", out, errOut)
	}

	// -json: the checks as data, ok false.
	code, out, _ = runApp(t, ctxT(t), "-c", cfg, "validate", "-connect", "-json")
	var v struct {
		OK     bool `json:"ok"`
		Checks []struct {
			Check string `json:"check"`
			OK    bool   `json:"ok"`
			Fix   string `json:"fix"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || code != exitRuntime || v.OK || len(v.Checks) != 7 {
		t.Fatalf("-json: exit %d, %+v, %v\n%s", code, v, err, out)
	}

	// Credentials Sophos refuses.
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), testClientSecret, "not-the-secret", 1)), 0o600)
	code, out, errOut = runApp(t, ctxT(t), "-c", cfg, "validate", "-connect")
	if code != exitRuntime || !strings.Contains(out, "sophos token and whoami          FAILED:") || !strings.Contains(out, "fix: check sophos.client_id and client_secret") {
		t.Fatalf("refused Sophos credentials: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "not-the-secret") {
		t.Fatal("the secret is in the output")
	}
}
