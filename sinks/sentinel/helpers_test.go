package sentinel

import (
	"context"
	"encoding/pem"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/sinks/sentinel/sentineltest"
)

const (
	tenantID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	clientID = "0c1ad2b3-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	secret   = "s3cret~Value.From-the_portal"
	dcrID    = "dcr-00112233445566778899aabbccddeeff"
)

// testServer serves the Logs Ingestion API with the stream declared by
// examples/sentinel-dcr.json.
func testServer(t testing.TB, o sentineltest.Options) *sentineltest.Server {
	t.Helper()
	streams, err := sentineltest.LoadDCR(filepath.Join("..", "..", "examples", "sentinel-dcr.json"))
	if err != nil {
		t.Fatal(err)
	}
	o.TenantID, o.ClientID, o.DCR, o.Streams = tenantID, clientID, dcrID, streams
	if o.ClientSecret == "" {
		o.ClientSecret = secret
	}
	srv := sentineltest.New(o)
	t.Cleanup(srv.Close)
	return srv
}

// testConfig points a sink at srv, trusting its certificate.
func testConfig(t testing.TB, srv *sentineltest.Server) Config {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.TenantID, c.ClientID, c.ClientSecret = tenantID, clientID, config.Secret(secret)
	c.Endpoint, c.AuthorityHost, c.DCRImmutableID = srv.URL, srv.URL, dcrID
	c.TLS.CAFile = ca
	c.Timeout = config.Duration(10 * time.Second)
	return c
}

func newSink(t testing.TB, c Config) *Sink {
	t.Helper()
	s, err := New("sentinel", c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func started(t testing.TB, c Config) *Sink {
	t.Helper()
	s := newSink(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}
