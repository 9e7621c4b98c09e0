package emulator

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits make the emulator behave like a real API under load: every API
// request (not the token endpoint) waits Latency±Jitter before it is
// answered; more than MaxConcurrency requests in flight get 429 at once;
// more than RateLimit requests per second (a token bucket per credential,
// burst = one second's worth) get 429 with Retry-After.
type Limits struct {
	Latency        time.Duration // mean added latency per request
	Jitter         time.Duration // latency is uniform in [Latency-Jitter, Latency+Jitter]
	RateLimit      float64       // requests per second per credential; 0 = unlimited
	MaxConcurrency int           // requests in flight per credential; 0 = unlimited
}

// Enabled reports whether any limit is set.
func (l Limits) Enabled() bool {
	return l.Latency > 0 || l.Jitter > 0 || l.RateLimit > 0 || l.MaxConcurrency > 0
}

// ParseLatency reads "150ms", "150ms±50ms" or "150ms+-50ms".
func ParseLatency(s string) (mean, jitter time.Duration, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, 0, nil
	}
	m, j, hasJ := strings.Cut(s, "±")
	if !hasJ {
		m, j, hasJ = strings.Cut(s, "+-")
	}
	bad := fmt.Errorf("latency %q: want a duration with an optional spread, e.g. 150ms or 150ms±50ms", s)
	if mean, err = time.ParseDuration(strings.TrimSpace(m)); err != nil || mean < 0 {
		return 0, 0, bad
	}
	if hasJ {
		if jitter, err = time.ParseDuration(strings.TrimSpace(j)); err != nil || jitter < 0 || jitter > mean {
			return 0, 0, fmt.Errorf("latency %q: the spread must be a duration between 0 and the mean", s)
		}
	}
	return mean, jitter, nil
}

// ParseRate reads "20/s", "1200/m", "20" (per second).
func ParseRate(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	num, unit, _ := strings.Cut(s, "/")
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	per := map[string]float64{"": 1, "s": 1, "m": 60, "min": 60, "h": 3600}[strings.TrimSpace(unit)]
	if err != nil || v < 0 || per == 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("rate limit %q: want requests per second, e.g. 20/s (or 1200/m)", s)
	}
	return v / per, nil
}

// limiter enforces Limits for the one credential the emulator issues.
type limiter struct {
	l Limits

	mu       sync.Mutex
	inflight int
	tokens   float64
	last     time.Time
	rng      rnd
	peak     int
	rejected map[string]int // "concurrency" | "rate"
}

func newLimiter(l Limits, seed uint64) *limiter {
	return &limiter{l: l, tokens: max(1, l.RateLimit), rng: newRnd(seed), rejected: map[string]int{}}
}

// admit takes a slot and a rate token, or answers 429 and returns false.
// The caller calls done after the response when admit returned true.
func (lm *limiter) admit(s *Server, w http.ResponseWriter) bool {
	now := time.Now()
	lm.mu.Lock()
	if lm.l.MaxConcurrency > 0 && lm.inflight >= lm.l.MaxConcurrency {
		lm.rejected["concurrency"]++
		lm.mu.Unlock()
		// Like most APIs that cap concurrent requests: no Retry-After, the
		// client backs off (and should send fewer at once).
		s.writeError(w, http.StatusTooManyRequests, fmt.Sprintf("Too many requests: more than %d requests in flight for these credentials.", lm.l.MaxConcurrency))
		return false
	}
	if r := lm.l.RateLimit; r > 0 {
		burst := max(1, r)
		if !lm.last.IsZero() {
			lm.tokens = min(burst, lm.tokens+now.Sub(lm.last).Seconds()*r)
		}
		lm.last = now
		if lm.tokens < 1 {
			wait := (1 - lm.tokens) / r
			lm.rejected["rate"]++
			lm.mu.Unlock()
			// Retry-After is whole seconds (RFC 9110 delay-seconds).
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait))))
			s.writeError(w, http.StatusTooManyRequests, fmt.Sprintf("Too many requests: the rate limit is %g requests per second for these credentials.", r))
			return false
		}
		lm.tokens--
	}
	lm.inflight++
	lm.peak = max(lm.peak, lm.inflight)
	d := lm.l.Latency
	if j := lm.l.Jitter; j > 0 {
		d += time.Duration(lm.rng.float()*float64(2*j)) - j
	}
	lm.mu.Unlock()
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-s.closed:
			t.Stop()
		}
	}
	return true
}

func (lm *limiter) done() {
	lm.mu.Lock()
	lm.inflight--
	lm.mu.Unlock()
}

// LimitStats are the emulator's limit counters.
type LimitStats struct {
	PeakInflight                      int // most requests in flight at once (admitted ones)
	RejectedConcurrency, RejectedRate int
}

// LimitStats returns the counters of Options.Limits.
func (s *Server) LimitStats() LimitStats {
	if s.lim == nil {
		return LimitStats{}
	}
	s.lim.mu.Lock()
	defer s.lim.mu.Unlock()
	return LimitStats{PeakInflight: s.lim.peak, RejectedConcurrency: s.lim.rejected["concurrency"], RejectedRate: s.lim.rejected["rate"]}
}
