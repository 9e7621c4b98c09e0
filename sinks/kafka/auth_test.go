package kafka

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/internal/kafkaconn"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files.
type testPKI struct {
	caFile, certFile, keyFile string // CA; client cert and key
	server                    tls.Certificate
	pool                      *x509.CertPool
}

func newPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	pemFile := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	srvDER, srvKey := issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	cliDER, cliKey := issue(3, "sophos-connect", x509.ExtKeyUsageClientAuth, nil)
	cliKeyDER, _ := x509.MarshalECPrivateKey(cliKey)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return testPKI{
		caFile:   pemFile("ca.pem", "CERTIFICATE", caDER),
		certFile: pemFile("client.pem", "CERTIFICATE", cliDER),
		keyFile:  pemFile("client-key.pem", "EC PRIVATE KEY", cliKeyDER),
		server:   tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey},
		pool:     pool,
	}
}

// TestSASL delivers through each SASL mechanism kfake supports.
func TestSASL(t *testing.T) {
	for _, mech := range kafkaconn.Mechanisms {
		t.Run(mech, func(t *testing.T) {
			c := startCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "secured"),
				kfake.EnableSASL(), kfake.Superuser(strings.ToUpper(mech), "collector", "s3cret,=pass"))
			cfg := testConfig(c, "secured")
			cfg.SASL = SASL{Mechanism: mech, Username: "collector", Password: "s3cret,=pass"}
			s := newStarted(t, cfg)
			recs := makeRecords(t, 500, []string{"t1"}, 11)
			writeAll(t, s, recs, 250)
			checkDelivered(t, s, recs, readTopicAs(t, cfg, "secured"), 2)
		})
	}
}

// readTopicAs reads with the sink's own credentials (the cluster demands them).
func readTopicAs(t *testing.T, cfg Config, topic string) []readMsg {
	t.Helper()
	tr, err := newTransport(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return readTopicWith(t, tr, cfg.Brokers, topic)
}

// TestSASLWrongPassword fails at Start with a clear reason that never shows
// the password.
func TestSASLWrongPassword(t *testing.T) {
	for _, mech := range kafkaconn.Mechanisms {
		t.Run(mech, func(t *testing.T) {
			c := startCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "secured"),
				kfake.EnableSASL(), kfake.Superuser(strings.ToUpper(mech), "collector", "right"))
			cfg := testConfig(c, "secured")
			cfg.SASL = SASL{Mechanism: mech, Username: "collector", Password: "wrong-Pa55word"}
			s, err := New("bus", cfg, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			err = s.Start(ctx)
			if err == nil || !strings.Contains(err.Error(), "SASL authentication failed — check sasl.username and sasl.password") || !pipeline.IsAuthFailure(err) {
				t.Fatalf("Start: %v, want a SASL authentication error", err)
			}
			if strings.Contains(err.Error(), "wrong-Pa55word") {
				t.Fatalf("error shows the password: %v", err)
			}
			t.Logf("Start: %v", err)
		})
	}
}

// TestTLS delivers over TLS (server verified against ca_file), over mutual
// TLS with a client certificate, and over TLS with SCRAM; an unknown CA fails
// at Start with a clear reason.
func TestTLS(t *testing.T) {
	pki := newPKI(t)
	serverTLS := func(mutual bool) *tls.Config {
		c := &tls.Config{Certificates: []tls.Certificate{pki.server}, MinVersion: tls.VersionTLS12}
		if mutual {
			c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, pki.pool
		}
		return c
	}
	cases := []struct {
		name   string
		opts   []kfake.Opt
		mutual bool
		sasl   SASL
	}{
		{name: "server-auth"},
		{name: "mutual", mutual: true},
		{name: "scram-sha-512", opts: []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "collector", "pw")},
			sasl: SASL{Mechanism: "scram-sha-512", Username: "collector", Password: "pw"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(2, "tls"), kfake.TLS(serverTLS(tc.mutual))}, tc.opts...)
			c := startCluster(t, opts...)
			cfg := testConfig(c, "tls")
			cfg.TLS = &config.TLS{CAFile: pki.caFile}
			if tc.mutual {
				cfg.TLS.CertFile, cfg.TLS.KeyFile = pki.certFile, pki.keyFile
			}
			cfg.SASL = tc.sasl
			s := newStarted(t, cfg)
			recs := makeRecords(t, 400, []string{"t1"}, 13)
			writeAll(t, s, recs, 200)
			checkDelivered(t, s, recs, readTopicAs(t, cfg, "tls"), 2)
		})
	}
	t.Run("unknown-ca", func(t *testing.T) {
		c := startCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "tls"), kfake.TLS(serverTLS(false)))
		cfg := testConfig(c, "tls")
		cfg.TLS = &config.TLS{} // system roots only
		err := startErr(t, cfg)
		if err == nil || !strings.Contains(err.Error(), "certificate not trusted — check tls.ca_file") {
			t.Fatalf("Start: %v, want a certificate error", err)
		}
		t.Logf("Start: %v", err)
	})
	t.Run("plaintext-to-tls", func(t *testing.T) {
		c := startCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "tls"), kfake.TLS(serverTLS(false)))
		cfg := testConfig(c, "tls")
		cfg.WriteTimeout = config.Duration(2 * time.Second)
		if err := startErr(t, cfg); err == nil {
			t.Fatal("Start succeeded in plain text against a TLS listener")
		} else {
			t.Logf("Start: %v", err)
		}
	})
}

// startErr builds the sink and returns Start's error.
func startErr(t *testing.T, cfg Config) error {
	t.Helper()
	s, err := New("bus", cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return s.Start(ctx)
}
