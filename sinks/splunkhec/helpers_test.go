package splunkhec

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/sinks/splunkhec/splunkhectest"
)

func testConfig(srv *splunkhectest.Server, token string) Config {
	c := DefaultConfig()
	c.URL = srv.URL
	c.Token = config.Secret(token)
	c.Timeout = config.Duration(10 * time.Second)
	return c
}

func newSink(t testing.TB, c Config) *Sink {
	t.Helper()
	s, err := New("hec", c, slog.New(slog.NewTextHandler(io.Discard, nil)))
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
