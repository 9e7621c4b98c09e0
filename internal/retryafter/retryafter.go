// Package retryafter reads an HTTP Retry-After value; the HTTP sinks and the
// Sophos client share it (sources must not import sinks).
package retryafter

import (
	"net/http"
	"strconv"
	"time"
)

// Parse reads v as seconds or an HTTP date, relative to now; a date in the
// past gives 0. ok is false when v is empty or neither form. The caller caps d.
func Parse(v string, now time.Time) (d time.Duration, ok bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		d = time.Duration(s * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	return max(d, 0), true
}
