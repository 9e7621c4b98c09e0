package googlesecops

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/sinks/googlesecops/googlesecopstest"
)

const (
	project    = "soc-secops-prod"
	customerID = "c8c65bfa-5f2c-42d4-9189-64bb7b939f2c"
)

// testServer serves the SecOps APIs for project/us/customerID.
func testServer(t testing.TB, o googlesecopstest.Options) *googlesecopstest.Server {
	t.Helper()
	o.Project, o.Location, o.CustomerID = project, "us", customerID
	srv := googlesecopstest.New(o)
	t.Cleanup(srv.Close)
	return srv
}

// testConfig points a sink (api v1alpha or v2) at srv, trusting its
// certificate and signing in with the account it trusts.
func testConfig(t testing.TB, srv *googlesecopstest.Server, api string) Config {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, srv.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.API, c.CustomerID, c.Credentials = api, customerID, config.Secret(srv.Key())
	if api == "v1alpha" {
		c.Project = project
	}
	c.Endpoint, c.TokenURL = srv.URL, srv.TokenURL
	c.TLS.CAFile = ca
	c.Timeout = config.Duration(10 * time.Second)
	return c
}

func newSink(t testing.TB, c Config) *Sink {
	t.Helper()
	s, err := New("secops", c, slog.New(slog.NewTextHandler(io.Discard, nil)))
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
