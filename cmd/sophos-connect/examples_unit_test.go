package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// TestExamplesRunUnderTheUnitPaths: every example config, as the shipped
// unit runs it — $STATE_DIRECTORY and $LOGS_DIRECTORY set, the config in a
// directory of its own that nothing may write to — validates with every
// output path under those two directories; the file and syslog examples
// also run -once against the emulator. Issue 27 found the SOC example
// writing its log beside the read-only config and its CEF file outside
// LogsDirectory=, so the failing file sink held every page back.
func TestExamplesRunUnderTheUnitPaths(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 40, Alerts: 4})
	root := t.TempDir()
	state, logs := filepath.Join(root, "state"), filepath.Join(root, "logs")
	os.Mkdir(state, 0o750)
	os.Mkdir(logs, 0o750)
	t.Setenv("STATE_DIRECTORY", state)
	t.Setenv("LOGS_DIRECTORY", logs)
	t.Setenv("SOPHOS_CLIENT_ID", testClientID)
	t.Setenv("SOPHOS_CLIENT_SECRET", testClientSecret)
	t.Setenv("KAFKA_PASSWORD", "p")
	t.Setenv("ES_API_KEY", "k")
	for _, v := range []string{"SPLUNK_HEC_TOKEN", "AZURE_CLIENT_SECRET", "SIEM_CLIENT_SECRET"} {
		t.Setenv(v, "s")
	}
	t.Setenv("AZURE_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47")
	t.Setenv("AZURE_CLIENT_ID", "0c1ad2b3-4e5f-4a6b-8c7d-9e0f1a2b3c4d")

	// A syslog receiver for the syslog examples.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); bufio.NewReader(c).WriteTo(discard{}) }()
		}
	}()

	// The examples' CA files, as the operator would have placed them.
	caFile := filepath.Join(root, "ca.pem")
	if err := os.WriteFile(caFile, selfSignedPEM(t), 0o644); err != nil {
		t.Fatal(err)
	}
	pathLine := regexp.MustCompile(`^  (\S.*?)\s+(/\S+)  (ok|NOT WRITABLE.*)$`)
	files, _ := filepath.Glob("../../examples/*.yaml")
	run := map[string]bool{"systemd.yaml": true, "legacy-files.yaml": true, "soc-syslog-cef.yaml": true}
	ran := 0
	for _, f := range files {
		name := filepath.Base(f)
		if name == "prometheus-alerts.yaml" || name == "cluster.yaml" { // rules, not a config; distributed mode needs a Kafka group (cluster tests)
			continue
		}
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			y := strings.Replace(string(b), "sophos:\n", "sophos:\n  auth_url: "+emu.AuthURL()+"\n  api_host: "+emu.URL()+"\n", 1)
			y = regexp.MustCompile(`ca_file: /etc/sophos-connect/\S+\.pem`).ReplaceAllString(y, "ca_file: "+caFile)
			y = regexp.MustCompile(`(?m)^metrics_addr: .*$`).ReplaceAllString(y, "metrics_addr: 127.0.0.1:0")
			if run[name] {
				// The syslog receiver here: plain TCP, no CA file.
				y = regexp.MustCompile(`address: tcp\+tls://\S+`).ReplaceAllString(y, "address: tcp://"+ln.Addr().String())
				y = regexp.MustCompile(`(?m)^\s+tls: \{ca_file: .*\}\n`).ReplaceAllString(y, "")
			}
			etc := filepath.Join(root, "etc-"+strings.TrimSuffix(name, ".yaml"))
			os.Mkdir(etc, 0o755)
			cfg := filepath.Join(etc, "sophos-connect.yaml")
			if err := os.WriteFile(cfg, []byte(y), 0o640); err != nil {
				t.Fatal(err)
			}
			os.Chmod(etc, 0o555) // read-only, as /etc/sophos-connect is to the service

			code, out, errOut := runApp(t, ctxT(t), "-c", cfg, "validate")
			if code != 0 {
				t.Fatalf("validate: exit %d\n%s%s", code, out, errOut)
			}
			seen := 0
			for _, l := range strings.Split(out, "\n") {
				m := pathLine.FindStringSubmatch(l)
				if m == nil {
					continue
				}
				seen++
				if !strings.HasPrefix(m[2], state+"/") && m[2] != state && !strings.HasPrefix(m[2], logs+"/") && m[2] != logs {
					t.Errorf("%s writes %s, outside StateDirectory= and LogsDirectory= (the unit's ProtectSystem=strict forbids it)", m[1], m[2])
				}
				if m[3] != "ok" {
					t.Errorf("%s %s: %s", m[1], m[2], m[3])
				}
			}
			if seen < 2 { // at least the state dir and the log file
				t.Fatalf("validate listed %d output paths:\n%s", seen, out)
			}
			if !run[name] {
				return
			}
			ran++
			if code, out, errOut := runApp(t, ctxT(t), "-c", cfg, "-once"); code != 0 {
				t.Fatalf("-once under the unit's paths: exit %d\n%s%s", code, out, errOut)
			}
			entries, _ := os.ReadDir(etc)
			if len(entries) != 1 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("the run wrote beside the read-only config: %v", names)
			}
		})
	}
	if ran != len(run) {
		t.Fatalf("ran %d of the %d runnable examples", ran, len(run))
	}
}

// selfSignedPEM is a CA certificate in PEM.
func selfSignedPEM(t *testing.T) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "example CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
