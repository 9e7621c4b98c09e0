package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTLSFilesAreParsed: validate reads the TLS files as the run does — a
// CA file that holds no certificate, or a client certificate without a
// usable key, fails with the key it is about.
func TestTLSFilesAreParsed(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	os.WriteFile(notPEM, []byte("this is not a certificate\n"), 0o600)
	if fe := (TLS{CAFile: notPEM}).Problem(); fe == nil || fe.Key != "ca_file" || !strings.Contains(fe.Msg, "holds no PEM certificate") {
		t.Fatalf("a CA file without a certificate: %v", fe)
	}
	if fe := (TLS{CertFile: notPEM, KeyFile: notPEM}).Problem(); fe == nil || fe.Key != "cert_file" {
		t.Fatalf("a client certificate that does not parse: %v", fe)
	}
	if fe := (TLS{CertFile: notPEM}).Problem(); fe == nil || fe.Key != "key_file" || !strings.Contains(fe.Msg, "together") {
		t.Fatalf("cert_file without key_file: %v", fe)
	}
	if fe := (TLS{CAFile: filepath.Join(dir, "missing.pem")}).Problem(); fe == nil || fe.Key != "ca_file" || !strings.Contains(fe.Msg, "cannot read") {
		t.Fatalf("a missing CA file: %v", fe)
	}
	if fe := (TLS{}).Problem(); fe != nil {
		t.Fatalf("no files: %v", fe)
	}
}
