package sophos

import (
	"context"
	"math"
	"sync"
	"time"
)

// Adaptive concurrency (AIMD). The limiter bounds the requests a Client —
// one credential — has in flight. In adaptive mode it starts at aimdStart
// and adds one per answer while the limit is in use (slow start: it
// doubles per round trip) until the first sign of overload; from then on
// each window (one smoothed round-trip time) that used the whole limit adds
// one. Overload is a 429/503 answer to a request sent under the current
// limit (answers to requests sent under an older limit do not count again),
// or two windows in a row whose mean latency is above twice the base
// latency (the lowest window mean seen; a server that slow even at one
// request in flight resets it: not our load). Overload cuts the limit to
// aimdDecrease × the requests that were in flight (rising latency cuts
// down to half, as far as the latency rose). Within one of the point of
// the last overload it probes 8 times more slowly, and half as often again
// each time the same point is refused (down to 1/16), so a hard server cap
// costs few 429s. A Retry-After pauses every request of the credential
// until it has passed, in either mode.
const (
	aimdStart       = 4
	aimdDecrease    = 0.9
	aimdSlowProbe   = 0.125 // increase per window within one of the last overload point
	aimdMaxProbeDiv = 16    // repeated overloads there slow probing down to 1/16 of that
	aimdLatencyRise = 2.0   // window mean latency above this × the base latency: queueing
	aimdEWMA        = 0.2   // smoothing of the window length
)

// DefaultMaxConcurrency bounds adaptive concurrency.
const DefaultMaxConcurrency = 64

// outcome of one request, for the controller.
type outcome int

const (
	outcomeOK       outcome = iota // an answer that says nothing about load (2xx, 4xx)
	outcomeOverload                // 429 or 503: the server asks for less
	outcomeError                   // no answer (network error, timeout): no signal
)

type limiter struct {
	adaptive bool
	max      int

	mu         sync.Mutex
	limit      float64
	inflight   int
	changed    chan struct{} // closed (and replaced) when a slot frees or the limit or pause changes
	pauseUntil time.Time

	slowStart bool          // growing per answer until the first overload
	gen       uint64        // bumped on every decrease
	ceiling   float64       // where the last overload happened (0 = none known)
	probeDiv  float64       // slows probing near the ceiling after repeated overloads there
	srtt      time.Duration // smoothed window mean latency: the window length
	base      time.Duration // lowest window mean latency
	slowWins  int           // consecutive windows above aimdLatencyRise × base
	winStart  time.Time
	winSum    time.Duration
	winN      int
	winFull   bool
	winOver   bool
	onLimit   func(int)
	reported  int
}

// newLimiter: fixed > 0 pins the limit; else adaptive up to max. onLimit,
// if set, hears every change of the (whole) limit.
func newLimiter(fixed, max int, onLimit func(int)) *limiter {
	l := &limiter{changed: make(chan struct{}), max: max, probeDiv: 1, onLimit: onLimit}
	if fixed > 0 {
		l.limit, l.max = float64(fixed), fixed
	} else {
		l.adaptive, l.slowStart = true, true
		l.limit = float64(min(aimdStart, max))
	}
	l.report()
	return l
}

// report tells onLimit about a changed limit (called with mu held, or
// before the limiter is shared).
func (l *limiter) report() {
	if n := max(1, int(l.limit)); n != l.reported {
		l.reported = n
		if l.onLimit != nil {
			l.onLimit(n)
		}
	}
}

// Limit returns the current concurrency limit.
func (l *limiter) Limit() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.limit)
}

func (l *limiter) broadcast() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// acquire waits for a slot (and for any Retry-After pause to end). The
// returned function must be called with the request's outcome and latency.
func (l *limiter) acquire(ctx context.Context) (func(outcome, time.Duration), error) {
	for {
		l.mu.Lock()
		wait := time.Until(l.pauseUntil)
		if wait <= 0 && l.inflight < max(1, int(l.limit)) {
			l.inflight++
			if l.inflight >= int(l.limit) {
				l.winFull = true
			}
			gen := l.gen
			l.mu.Unlock()
			return func(o outcome, rtt time.Duration) { l.release(gen, o, rtt) }, nil
		}
		ch := l.changed
		l.mu.Unlock()
		var t *time.Timer
		var timer <-chan time.Time
		if wait > 0 {
			t = time.NewTimer(wait)
			timer = t.C
		}
		select {
		case <-ch:
		case <-timer:
		case <-ctx.Done():
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// pause holds every request back for d (a Retry-After).
func (l *limiter) pause(d time.Duration) {
	if d <= 0 {
		return
	}
	l.mu.Lock()
	if until := time.Now().Add(d); until.After(l.pauseUntil) {
		l.pauseUntil = until
	}
	l.mu.Unlock()
}

func (l *limiter) release(gen uint64, o outcome, rtt time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.broadcast()
	defer l.report()
	l.inflight--
	if !l.adaptive {
		return
	}
	now := time.Now()
	switch o {
	case outcomeOverload:
		l.winOver = true
		if gen == l.gen { // sent under the current limit
			l.decrease(true, l.inflight+1)
		}
	case outcomeOK:
		l.winSum += rtt
		l.winN++
		// Slow start: one more per answer while the limit is used, which
		// doubles it per round trip yet oversteps a hard cap by one
		// request, not by the whole limit.
		if l.slowStart && l.inflight+1 >= int(l.limit) {
			l.limit = min(float64(l.max), l.limit+1)
		}
	}
	if l.winStart.IsZero() {
		l.winStart = now
	}
	win := l.srtt
	if win <= 0 {
		win = rtt
	}
	if now.Sub(l.winStart) < win {
		return
	}
	// End of a window.
	if l.winN > 0 {
		mean := l.winSum / time.Duration(l.winN)
		rising := l.base > 0 && float64(mean) > aimdLatencyRise*float64(l.base)
		switch {
		case l.base == 0 || mean < l.base:
			l.base = mean
		case rising && l.limit <= 1:
			// Slow even with one request in flight: not our load, the
			// server is slower now.
			l.base = mean
			rising = false
		}
		// Two slow windows in a row (one in slow start): one can be noise
		// (a GC, a busy host). A slow window never raises the limit. The
		// cut follows the latency: twice the base takes 10 %, more takes
		// up to half.
		if rising && l.winN >= 2 {
			l.slowWins++
			if !l.winOver && (l.slowWins >= 2 || l.slowStart) {
				f := min(aimdDecrease, max(0.5, aimdLatencyRise*float64(l.base)/float64(mean)))
				l.cut(f, l.inflight+1, false)
				l.slowWins = 0
			}
			l.winOver = true
		} else {
			l.slowWins = 0
		}
		if l.srtt == 0 {
			l.srtt = mean
		}
		l.srtt = time.Duration((1-aimdEWMA)*float64(l.srtt) + aimdEWMA*float64(mean))
	}
	if !l.winOver && l.winFull {
		step := 1.0
		switch {
		case l.slowStart:
			step = 0 // grown per answer above
		case l.ceiling > 0 && l.limit+1 >= l.ceiling:
			step = aimdSlowProbe / l.probeDiv
		}
		l.limit = min(float64(l.max), l.limit+step)
		if l.ceiling > 0 && l.limit > l.ceiling+1 {
			l.ceiling, l.probeDiv = 0, 1 // the server takes more now: forget the old cap
		}
	}
	l.winStart, l.winSum, l.winN, l.winFull, l.winOver = now, 0, 0, false, false
}

// decrease cuts the limit after an overload (or rising latency) seen with
// inflight requests out: the server took fewer than the limit when that
// is lower (after slow start's doubling, it is).
func (l *limiter) decrease(overload bool, inflight int) { l.cut(aimdDecrease, inflight, overload) }

func (l *limiter) cut(factor float64, inflight int, overload bool) {
	at := min(l.limit, float64(inflight))
	if overload {
		// Refused again at the same cap: probe it half as often (up to
		// aimdMaxProbeDiv), since each probe costs a 429 — or, for a rate
		// limit, a Retry-After pause of the whole credential.
		if l.ceiling > 0 && math.Abs(at-l.ceiling) < 1.5 {
			l.probeDiv = min(aimdMaxProbeDiv, 2*l.probeDiv)
		} else {
			l.probeDiv = 1
		}
		l.ceiling = at
	}
	l.limit = max(1, at*factor)
	l.slowStart = false
	l.gen++
}
