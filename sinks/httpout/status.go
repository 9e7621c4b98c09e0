package httpout

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sophos-connect/sophos-connect/internal/retryafter"
)

// StatusKind is the usual meaning of an HTTP status for a batch of records:
// 2xx delivered; 400 and 413 split (one record, or the size, is the cause);
// 408, 429 and 5xx retry; other 4xx reject.
func StatusKind(status int) Kind {
	switch {
	case status >= 200 && status < 300:
		return OK
	case status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge:
		return Split
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500:
		return Retry
	case status >= 400:
		return Reject
	}
	return Retry // 1xx/3xx: not an answer a sink can use
}

// MaxRetryAfter caps a receiver's Retry-After, so that a wrong header cannot
// stall a sink for hours.
const MaxRetryAfter = 5 * time.Minute

// RetryAfter reads a Retry-After header (seconds or an HTTP date), capped at
// MaxRetryAfter; ok is false when there is none.
func RetryAfter(h http.Header, now time.Time) (d time.Duration, ok bool) {
	d, ok = retryafter.Parse(strings.TrimSpace(h.Get("Retry-After")), now)
	if !ok {
		return 0, false
	}
	return min(d, MaxRetryAfter), true
}

// Gate holds requests back after a receiver asked to wait (Retry-After):
// the pipeline's backoff decides when a failed batch is written again, the
// gate makes sure no request leaves before the receiver said it may.
type Gate struct {
	mu    sync.Mutex
	until time.Time
}

// Hold keeps requests back for d from now (a longer hold already set stays).
func (g *Gate) Hold(d time.Duration) {
	t := time.Now().Add(d)
	g.mu.Lock()
	if t.After(g.until) {
		g.until = t
	}
	g.mu.Unlock()
}

// HoldFor applies the response's Retry-After, if any.
func (g *Gate) HoldFor(h http.Header) {
	if d, ok := RetryAfter(h, time.Now()); ok {
		g.Hold(d)
	}
}

// Wait returns when requests may go, or ctx's error.
func (g *Gate) Wait(ctx context.Context) error {
	g.mu.Lock()
	d := time.Until(g.until)
	g.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
