package sophos

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// simAPI is a simulated API with a known concurrency cap: a request beyond
// capacity is refused at once (429), the others take latency.
type simAPI struct {
	capacity int
	latency  time.Duration
	inflight atomic.Int32
	ok, over atomic.Int64
}

// serve reports the nominal latency, so that a busy test machine's
// scheduling delays do not look like queueing to the controller (the
// latency signal has its own test).
func (s *simAPI) serve() (outcome, time.Duration) {
	n := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	if int(n) > s.capacity {
		s.over.Add(1)
		return outcomeOverload, time.Millisecond
	}
	time.Sleep(s.latency)
	s.ok.Add(1)
	return outcomeOK, s.latency
}

// pass sends n requests through l from 48 workers (more than the cap,
// as the runner does) and returns the limits seen after each request.
func (s *simAPI) pass(t *testing.T, l *limiter, n int) (limits []int, overloads int64) {
	var wg sync.WaitGroup
	var left atomic.Int64
	left.Store(int64(n))
	var mu sync.Mutex
	before := s.over.Load()
	for range 48 {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				rel, err := l.acquire(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				rel(s.serve())
				mu.Lock()
				limits = append(limits, l.Limit())
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return limits, s.over.Load() - before
}

func TestAIMDConvergesToTheServersCap(t *testing.T) {
	for _, capacity := range []int{6, 24} {
		api := &simAPI{capacity: capacity, latency: 20 * time.Millisecond}
		l := newLimiter(0, 64, nil)
		const perPass = 400
		// Converged within 3 passes: from the 4th on the limit stays
		// within 10 % (and one) of the cap, and under 2 % of the requests
		// are refused.
		for p := 1; p <= 6; p++ {
			limits, over := api.pass(t, l, perPass)
			if p <= 3 {
				continue
			}
			lo, hi := int(float64(capacity)*aimdDecrease)-1, capacity+1
			for _, v := range limits {
				if v < lo || v > hi {
					t.Fatalf("cap %d, pass %d: limit %d outside [%d, %d]", capacity, p, v, lo, hi)
				}
			}
			if share := float64(over) / perPass; share >= 0.02 {
				t.Fatalf("cap %d, pass %d: %.1f %% of the requests got 429", capacity, p, 100*share)
			}
		}
		t.Logf("cap %d: limit %d after 6 passes, %d of %d refused", capacity, l.Limit(), api.over.Load(), 6*perPass)
	}
}

func TestAIMDBacksOffWhenLatencyRises(t *testing.T) {
	// No 429s: beyond 8 in flight the server queues, so latency grows.
	var inflight atomic.Int32
	serve := func() (outcome, time.Duration) {
		t0 := time.Now()
		n := inflight.Add(1)
		defer inflight.Add(-1)
		d := 10 * time.Millisecond
		if n > 8 {
			d = time.Duration(n) * d / 8 * time.Duration(n) / 8
		}
		time.Sleep(d)
		return outcomeOK, time.Since(t0)
	}
	l := newLimiter(0, 64, nil)
	var wg sync.WaitGroup
	var maxAfter atomic.Int32
	start := time.Now()
	for range 64 {
		wg.Go(func() {
			for time.Since(start) < 3*time.Second {
				rel, _ := l.acquire(context.Background())
				rel(serve())
				if time.Since(start) > 2*time.Second {
					if v := int32(l.Limit()); v > maxAfter.Load() {
						maxAfter.Store(v)
					}
				}
			}
		})
	}
	wg.Wait()
	// Latency doubles at about 11 in flight; the limit must stay well
	// below the 64 it could reach without the latency signal.
	if m := maxAfter.Load(); m > 16 {
		t.Fatalf("limit reached %d with latency rising beyond 8 in flight", m)
	}
}

func TestLimiterFixedAndPause(t *testing.T) {
	l := newLimiter(3, 64, nil)
	ctx := context.Background()
	var rels []func(outcome, time.Duration)
	for range 3 {
		r, _ := l.acquire(ctx)
		rels = append(rels, r)
	}
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if _, err := l.acquire(short); err == nil {
		t.Fatal("a 4th request got a slot with a fixed limit of 3")
	}
	for _, r := range rels {
		r(outcomeOverload, time.Millisecond) // a fixed limit ignores the signal
	}
	if l.Limit() != 3 {
		t.Fatalf("fixed limit moved to %d", l.Limit())
	}
	l.pause(150 * time.Millisecond)
	t0 := time.Now()
	r, err := l.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r(outcomeOK, time.Millisecond)
	if d := time.Since(t0); d < 140*time.Millisecond {
		t.Fatalf("acquire during a Retry-After pause returned after %s", d)
	}
}

// Against the emulator's concurrency cap, over HTTP: the client, adaptive
// by default, settles at the cap with few 429s.
func TestAdaptiveClientAgainstEmulatorCap(t *testing.T) {
	emu := newEmu(t, emulator.Options{Tenants: 40, Partner: true, Events: 5, Alerts: 1,
		Limits: emulator.Limits{Latency: 25 * time.Millisecond, Jitter: 5 * time.Millisecond, MaxConcurrency: 6}})
	var reported atomic.Int32
	c, _ := newTestClient(t, emu, func(cfg *Config) { cfg.OnConcurrencyLimit = func(n int) { reported.Store(int32(n)) } })
	ctx := testCtx(t)
	ts, err := c.Tenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	jobs := make(chan Tenant)
	for range 32 {
		wg.Go(func() {
			for tn := range jobs {
				if _, err := c.SIEMPage(ctx, tn, pipeline.Events, pipeline.Position{Since: time.Now().Add(-23 * time.Hour)}, SIEMOptions{Limit: 1}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for range 15 {
		for _, tn := range ts {
			jobs <- tn
		}
	}
	close(jobs)
	wg.Wait()
	ok := emu.Requests()["GET /siem/v1/events 200"]
	refused := emu.LimitStats().RejectedConcurrency
	if ok != 600 {
		t.Fatalf("%d pages served, want 600", ok)
	}
	if share := float64(refused) / float64(ok+refused); share > 0.03 {
		t.Fatalf("%d of %d requests refused (%.1f %%)", refused, ok+refused, 100*share)
	}
	if lim := c.ConcurrencyLimit(); lim < 5 || lim > 7 {
		t.Fatalf("limit %d after 600 requests against a cap of 6", lim)
	}
	if int(reported.Load()) != c.ConcurrencyLimit() {
		t.Fatalf("OnConcurrencyLimit last heard %d, the limit is %d", reported.Load(), c.ConcurrencyLimit())
	}
	t.Logf("limit %d, %d refused of %d", c.ConcurrencyLimit(), refused, ok+refused)
}

// A Retry-After stops every request of the credential, not only the one
// that got it.
func TestRetryAfterPausesTheCredential(t *testing.T) {
	emu := newEmu(t, emulator.Options{Tenants: 4, Partner: true, Events: 5, Alerts: 1,
		Limits: emulator.Limits{RateLimit: 3}})
	c, _ := newTestClient(t, emu, func(cfg *Config) { cfg.Retry.MaxRetryAfter = 5 * time.Second })
	ctx := testCtx(t)
	ts, err := c.Tenants(ctx) // whoami + one tenants page: 2 of the 3 tokens
	if err != nil {
		t.Fatal(err)
	}
	get := func(tn Tenant) {
		if _, err := c.SIEMPage(ctx, tn, pipeline.Events, pipeline.Position{Since: time.Now().Add(-23 * time.Hour)}, SIEMOptions{Limit: 1}); err != nil {
			t.Error(err)
		}
	}
	get(ts[0]) // the last token
	var wg sync.WaitGroup
	wg.Go(func() { get(ts[1]) }) // refused, Retry-After: 1
	// Wait for the client to have read the 429 and paused, not only for
	// the emulator to have counted it: requests sent in between are
	// refused too (they left before the client knew), which is no bug.
	for {
		c.lim.mu.Lock()
		paused := !c.lim.pauseUntil.IsZero()
		c.lim.mu.Unlock()
		if paused {
			break
		}
		time.Sleep(time.Millisecond)
	}
	// Sent while the credential is told to wait: they wait too, instead of
	// being refused one by one.
	for i := range 2 {
		wg.Go(func() { get(ts[i+2]) })
	}
	wg.Wait()
	if r := emu.LimitStats().RejectedRate; r != 1 {
		t.Fatalf("%d requests refused by the rate limit, want 1: the Retry-After pause is not shared", r)
	}
}

// Tenant pages after the first are fetched at once, and the list keeps
// the API's order.
func TestTenantPagesInParallelKeepOrder(t *testing.T) {
	emu := newEmu(t, emulator.Options{Tenants: 230, Partner: true, Events: 1, Alerts: -1,
		Limits: emulator.Limits{Latency: 50 * time.Millisecond}})
	c, _ := newTestClient(t, emu, nil)
	ts, err := c.Tenants(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := emu.TenantIDs()
	if len(ts) != len(want) {
		t.Fatalf("%d tenants, want %d", len(ts), len(want))
	}
	for i := range want {
		if ts[i].ID != want[i] {
			t.Fatalf("tenant %d is %s, want %s", i, ts[i].ID, want[i])
		}
	}
	if n := emu.RequestCount("GET /partner/v1/tenants"); n != 5 {
		t.Fatalf("%d tenant pages fetched, want 5", n)
	}
	// whoami and page 1, then pages 2..5 together (each answer takes
	// 50 ms, so they overlap at the emulator).
	if peak := emu.LimitStats().PeakInflight; peak < 2 {
		t.Fatalf("at most %d request in flight while listing tenants: pages fetched one by one", peak)
	}
}
