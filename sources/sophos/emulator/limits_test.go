package emulator

import (
	"sync"
	"testing"
	"time"
)

func TestParseLatencyAndRate(t *testing.T) {
	for _, c := range []struct {
		in        string
		mean, jit time.Duration
		ok        bool
	}{
		{"150ms", 150 * time.Millisecond, 0, true},
		{"150ms±50ms", 150 * time.Millisecond, 50 * time.Millisecond, true},
		{"150ms+-50ms", 150 * time.Millisecond, 50 * time.Millisecond, true},
		{"", 0, 0, true},
		{"fast", 0, 0, false},
		{"100ms±200ms", 0, 0, false},
	} {
		m, j, err := ParseLatency(c.in)
		if (err == nil) != c.ok || m != c.mean || j != c.jit {
			t.Errorf("ParseLatency(%q) = %v, %v, %v", c.in, m, j, err)
		}
	}
	for _, c := range []struct {
		in   string
		want float64
		ok   bool
	}{{"20/s", 20, true}, {"20", 20, true}, {"1200/m", 20, true}, {"x/s", 0, false}, {"5/week", 0, false}, {"-1", 0, false}} {
		v, err := ParseRate(c.in)
		if (err == nil) != c.ok || v != c.want {
			t.Errorf("ParseRate(%q) = %v, %v", c.in, v, err)
		}
	}
}

func TestLimitConcurrency(t *testing.T) {
	s, _ := start(t, Options{Limits: Limits{Latency: 1500 * time.Millisecond, MaxConcurrency: 4}})
	a := newAPI(t, s)
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			r := a.get("/siem/v1/events?limit=1")
			mu.Lock()
			codes[r.status]++
			mu.Unlock()
			if r.status == 429 && r.header.Get("Retry-After") != "" {
				t.Errorf("a concurrency 429 carries Retry-After %q", r.header.Get("Retry-After"))
			}
		})
	}
	wg.Wait()
	if codes[200] != 4 || codes[429] != 8 {
		t.Fatalf("12 requests at once against max 4 in flight: %v, want 4×200 and 8×429", codes)
	}
	if st := s.LimitStats(); st.PeakInflight != 4 || st.RejectedConcurrency != 8 {
		t.Fatalf("stats %+v", st)
	}
	// Slots free again once answered.
	if r := a.get("/siem/v1/events?limit=1"); r.status != 200 {
		t.Fatalf("after the burst: %d", r.status)
	}
}

func TestLimitRateAndLatency(t *testing.T) {
	s, _ := start(t, Options{Limits: Limits{Latency: 30 * time.Millisecond, Jitter: 10 * time.Millisecond, RateLimit: 5}})
	a := newAPI(t, s)
	ok, limited := 0, 0
	begin := time.Now()
	for range 8 {
		t0 := time.Now()
		r := a.get("/siem/v1/events?limit=1")
		switch r.status {
		case 200:
			ok++
			if d := time.Since(t0); d < 20*time.Millisecond {
				t.Errorf("answered in %s, latency is 30ms±10ms", d)
			}
		case 429:
			limited++
			if r.header.Get("Retry-After") != "1" {
				t.Errorf("rate 429 Retry-After = %q, want 1", r.header.Get("Retry-After"))
			}
		default:
			t.Fatalf("status %d", r.status)
		}
	}
	// A burst of 5, plus at most one token refilled per 200 ms.
	maxOK := 5 + int(time.Since(begin)/(200*time.Millisecond)) + 1
	if ok < 5 || ok > maxOK || limited == 0 {
		t.Fatalf("8 quick requests at 5/s: %d ok (want 5..%d), %d limited", ok, maxOK, limited)
	}
	if st := s.LimitStats(); st.RejectedRate != limited {
		t.Fatalf("stats %+v, limited %d", st, limited)
	}
}

// 10,000 tenants (the most Options allow) start with bounded memory:
// items are generated when served, never held.
func TestTenThousandTenants(t *testing.T) {
	before := heapAlloc()
	s, _ := start(t, Options{Tenants: 10000, Partner: true, Events: 100000, Alerts: 10000})
	grown := int64(heapAlloc()) - int64(before)
	t.Logf("10,000 tenants with 1.1 billion items of backlog: %d MiB of heap", grown>>20)
	if grown > 256<<20 {
		t.Fatalf("10,000 tenants cost %d MiB before serving", grown>>20)
	}
	ids := s.TenantIDs()
	a := newAPI(t, s)
	a.tenant = ids[9999]
	p, r := a.siem("events", "limit=1000")
	if r.status != 200 || len(p.Items) != 1000 || !*p.HasMore {
		t.Fatalf("last tenant's first page: %d, %d items", r.status, len(p.Items))
	}
}
