package sophos

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// testSecret is distinctive so tests can assert it never leaks.
const testSecret = "s3cr3t-Zq8vX1-never-print-me"

// clock is a movable clock shared by an emulator and a client.
type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// newEmu starts an emulator with the test secret; it closes with the test.
func newEmu(t testing.TB, o emulator.Options) *emulator.Server {
	t.Helper()
	if o.ClientSecret == "" {
		o.ClientSecret = testSecret
	}
	if o.Events == 0 {
		o.Events = 300
	}
	if o.Alerts == 0 {
		o.Alerts = 30
	}
	s, err := emulator.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// logBuf collects the client's log lines (every level) for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newTestClient builds a client for emu with fast retries; mutate adjusts
// the config. The returned log buffer holds every log line.
func newTestClient(t testing.TB, emu *emulator.Server, mutate func(*Config)) (*Client, *logBuf) {
	t.Helper()
	cfg := Config{
		ClientID:     emu.Options().ClientID,
		ClientSecret: emu.Options().ClientSecret,
		AuthURL:      emu.AuthURL(),
		APIHost:      emu.URL(),
		Timeout:      10 * time.Second,
		Retry:        RetryPolicy{MaxAttempts: 8, Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond},
		Now:          emu.Options().Now,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	lb := &logBuf{}
	c, err := NewClient(cfg, slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // before the emulator's Close: it waits for unused connections
	return c, lb
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// oneTenant resolves the single tenant (retrying a malformed-body fault).
func oneTenant(t testing.TB, c *Client) Tenant {
	t.Helper()
	var err error
	for range 20 {
		var ts []Tenant
		if ts, err = c.Tenants(testCtx(t)); err == nil {
			if len(ts) != 1 {
				t.Fatalf("%d tenants, want 1", len(ts))
			}
			return ts[0]
		}
	}
	t.Fatal(err)
	return Tenant{}
}

// drain pages through a stream from pos until has_more is false, fetching a
// page again after a *PageError (as the pipeline does). It returns the ids
// in order, the pages and the last cursor.
func drain(t testing.TB, c *Client, tn Tenant, st pipeline.Stream, pos pipeline.Position, opt SIEMOptions) (ids []string, pages int, cursor string, recs []pipeline.Record) {
	t.Helper()
	ctx := testCtx(t)
	malformed := 0
	for pages < 10000 {
		p, err := c.SIEMPage(ctx, tn, st, pos, opt)
		var pe *PageError
		if errors.As(err, &pe) && malformed < 50 {
			malformed++
			continue
		}
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		pages++
		for _, r := range p.Records {
			ids = append(ids, r.ID)
		}
		recs = append(recs, p.Records...)
		pos = pipeline.Position{Cursor: p.Cursor}
		if !p.HasMore {
			return ids, pages, p.Cursor, recs
		}
	}
	t.Fatal("too many pages")
	return
}

// sameSet reports whether a and b hold the same ids (ignoring order and
// repeats: the emulator's replay fault repeats pages).
func sameSet(a, b []string) bool {
	m := map[string]bool{}
	for _, x := range a {
		m[x] = true
	}
	n := map[string]bool{}
	for _, x := range b {
		if !m[x] {
			return false
		}
		n[x] = true
	}
	return len(n) == len(m)
}
