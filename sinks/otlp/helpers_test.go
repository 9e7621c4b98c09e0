package otlp

import (
	"context"
	"encoding/pem"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/sinks/otlp/otlptest"
)

func testServer(t testing.TB, o otlptest.Options) *otlptest.Server {
	t.Helper()
	srv := otlptest.New(o)
	t.Cleanup(srv.Close)
	return srv
}

func testConfig(endpoint string) Config {
	c := DefaultConfig()
	c.Endpoint = endpoint
	c.Timeout = config.Duration(10 * time.Second)
	return c
}

func newSink(t testing.TB, c Config, log *slog.Logger) *Sink {
	t.Helper()
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := New("otlp", c, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func started(t testing.TB, c Config) *Sink {
	t.Helper()
	s := newSink(t, c, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func writeCert(t testing.TB, path string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
