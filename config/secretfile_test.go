package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretFiles: every secret key takes a *_file sibling (as Kubernetes
// and Docker mount secrets), read relative to the config file, one trailing
// newline dropped; its content is data (no ${VAR}, no YAML); the sources are
// listed without values; both keys at once, a missing and an empty file are
// errors at their line.
func TestSecretFiles(t *testing.T) {
	t.Setenv("SOPHOS_CLIENT_SECRET", "")
	t.Setenv("MY_ID", "the-id")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "sophos-secret"), []byte("s3cret: ${NOT_EXPANDED}\n"), 0o600)
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte("sophos:\n  client_id: ${MY_ID}\n  client_secret_file: sophos-secret\n"), 0o600)
	c, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Sophos.ClientSecret.Value(); got != "s3cret: ${NOT_EXPANDED}" {
		t.Fatalf("client_secret = %q", got)
	}
	if len(c.SecretFiles) != 1 || c.SecretFiles[0] != filepath.Join(dir, "sophos-secret") {
		t.Fatalf("SecretFiles = %v", c.SecretFiles)
	}
	if len(c.SecretSources) != 1 || c.SecretSources[0].Key != "sophos.client_secret" || c.SecretSources[0].From != "file "+filepath.Join(dir, "sophos-secret") || c.SecretSources[0].Line != 3 {
		t.Fatalf("sources = %+v", c.SecretSources)
	}
	t.Setenv("HEC", "tok")
	os.WriteFile(cfg, []byte("sophos:\n  client_id: x\n  client_secret: ${HEC}\n"), 0o600)
	if c, err = Load(cfg); err != nil || c.SecretSources[0].From != "environment variable HEC" {
		t.Fatalf("env source: %v %+v", err, c)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"sophos:\n  client_id: x\n  client_secret: a\n  client_secret_file: sophos-secret\n", ":4: sophos.client_secret_file: set either client_secret or client_secret_file, not both"},
		{"sophos:\n  client_id: x\n  client_secret_file: nope\n", ":3: sophos.client_secret_file: " + filepath.Join(dir, "nope") + " does not exist"},
		{"sophos:\n  client_id: x\n  client_secret_file: empty\n", "empty is empty"},
	} {
		os.WriteFile(filepath.Join(dir, "empty"), []byte("\n"), 0o600)
		os.WriteFile(cfg, []byte(tc.yaml), 0o600)
		_, err := Load(cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the secret is in the message: %v", err)
		}
	}
}

// TestTabIndentNamed: a tab in the indentation is named as such, at its line.
func TestTabIndentNamed(t *testing.T) {
	_, err := Parse("x.yaml", []byte("sophos:\n\tclient_id: a\n"))
	if err == nil || !strings.Contains(err.Error(), "x.yaml:2:") || !strings.Contains(err.Error(), "a tab in the indentation") {
		t.Fatalf("got %v", err)
	}
}

// TestValidateOpensWhatTheRunOpens: a missing or empty sophos.ca_file and a
// metrics_addr without a port fail validation at their line (the run failed
// on them, validate said ok).
func TestValidateOpensWhatTheRunOpens(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "empty.pem"), []byte("not a cert\n"), 0o600)
	for _, tc := range []struct{ yaml, want string }{
		{"sophos: {client_id: a, client_secret: b, ca_file: missing.pem}\n", ":1: sophos.ca_file: " + filepath.Join(dir, "missing.pem") + " does not exist"},
		{"sophos: {client_id: a, client_secret: b, ca_file: empty.pem}\n", "holds no PEM certificate"},
		{"sophos: {client_id: a, client_secret: b}\nmetrics_addr: 9464\n", `:2: metrics_addr: "9464" is not a listen address (missing port in address): write host:port, e.g. 127.0.0.1:9464`},
		{"sophos: {client_id: a, client_secret: b}\nmetrics_addr: 127.0.0.1:http-alt-x\n", "is not a number"},
	} {
		p := filepath.Join(dir, "c.yaml")
		os.WriteFile(p, []byte(tc.yaml), 0o600)
		c, err := Load(p)
		if err == nil {
			err = c.CheckFiles()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
	p := filepath.Join(dir, "c.yaml")
	os.WriteFile(p, []byte("sophos: {client_id: a, client_secret: b}\nmetrics_addr: :9464\n"), 0o600)
	if _, err := Load(p); err != nil {
		t.Fatalf(":9464 is a listen address: %v", err)
	}
}

func TestParseEnvFile(t *testing.T) {
	got, err := ParseEnvFile("env", []byte("# c\n; c\nA=1\n B = two words \nC=\"x \\\"y\\\"\"\nD='$not ${expanded}'\n\nE=\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"A", "1"}, {"B", "two words"}, {"C", `x "y"`}, {"D", "$not ${expanded}"}, {"E", ""}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if _, err := ParseEnvFile("env", []byte("A=1\nnot a pair\n")); err == nil || !strings.Contains(err.Error(), "env:2:") {
		t.Fatalf("got %v", err)
	}
}
