package sophos

import (
	"net/http"
	"sync"
	"time"
)

// apiClock is Sophos Central's clock as its answers tell it: the Date header
// of every response gives the offset from the host's clock, and the newest
// created_at served is a lower bound. The SIEM 24 h window is the API's, so
// from_date and the gap horizon are judged by this clock: a host clock that
// runs fast or slow (the official script's issue #69) moves neither.
type apiClock struct {
	mu         sync.Mutex
	offset     time.Duration // API time − host time, from the last Date header
	known      bool
	lastServed time.Time // the newest created_at served
}

// observeDate takes a response's Date header, read at host time hostNow.
// Date has whole seconds: the API's time was within the second after it.
func (k *apiClock) observeDate(date string, hostNow time.Time) (time.Time, bool) {
	d, err := http.ParseTime(date)
	if err != nil {
		return time.Time{}, false
	}
	d = d.Add(500 * time.Millisecond)
	k.mu.Lock()
	k.offset, k.known = d.Sub(hostNow), true
	k.mu.Unlock()
	return d, true
}

// observeServed takes the created_at of an item the API served.
func (k *apiClock) observeServed(t time.Time) {
	k.mu.Lock()
	if t.After(k.lastServed) {
		k.lastServed = t
	}
	k.mu.Unlock()
}

// now is the API's time at host time hostNow: hostNow when no answer has
// told the offset yet, never before the newest item served.
func (k *apiClock) now(hostNow time.Time) time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	t := hostNow
	if k.known {
		t = hostNow.Add(k.offset)
	}
	if k.lastServed.After(t) {
		t = k.lastServed
	}
	return t
}

// APINow is Sophos Central's time now, as its answers tell it.
func (c *Client) APINow() time.Time { return c.clock.now(c.cfg.Now()) }

// APINow implements pipeline.APIClock.
func (s *Source) APINow() time.Time { return s.c.APINow() }
