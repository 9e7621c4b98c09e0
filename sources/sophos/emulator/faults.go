package emulator

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Faults configures fault injection. Rates are probabilities per request in
// [0, 1]; every draw comes from one RNG seeded by Options.Seed, so a
// sequential client sees the same faults on every run.
type Faults struct {
	Rate429      float64       // "429=P": 429 Too Many Requests (standard body)
	RetryAfter   time.Duration // "retry-after=D": the Retry-After value; half of the 429s carry it, half carry none (default 1s)
	Rate503      float64       // "503=P": start a burst of 503 Service Unavailable
	Burst503     int           // "503-burst=N": responses per 503 burst (default 3)
	Midpage401   int           // "401-midpage[=N]": every token stops working after N SIEM pages (default 3)
	Slow         time.Duration // "slow=D": delay every API response by D
	Malformed    float64       // "malformed=P": a 200 body cut in the middle (broken JSON)
	StaleCursor  float64       // "stale-cursor[=P]": a cursor is treated as older than 24 h (silent restart at now-24h; default P 0.1)
	LateArrivals float64       // "late-arrivals[=P]": after a SIEM page, an item arrives with created_at up to 2 min in the past, behind a caught-up watermark (default P 0.2)
	Replay       float64       // "replay[=P]": a SIEM page's next_cursor is the request's cursor, so the page is served again (default P 0.1)

	// The faults below are API bugs a collector must survive. With
	// "tenant=ID" (or a 1-based index) the per-tenant ones hit only that tenant.
	SameCursor  bool    // "same-cursor": after the first page, next_cursor is the cursor sent and has_more is true (a loop)
	EmptyCursor bool    // "empty-cursor": after the first page, next_cursor is ""
	MissingID   float64 // "missing-id[=P]": a fraction of SIEM items lose their "id" (default P 0.1)
	ForeignHost bool    // "foreign-host": the tenant's apiHost (or whoami's dataRegion) is http://localhost:PORT, a listener that counts requests carrying a bearer token (ForeignRequests)
	EchoToken   bool    // "echo-token": the token endpoint answers 401 with the request body echoed in "message" (the client secret, URL-encoded)
	TenantsLoop bool    // "tenants-loop": the tenant listing ignores page and omits pages.total, so it never ends
	Tenant      string  // "tenant=ID|N": limit same-cursor, empty-cursor, missing-id and foreign-host to one tenant

	// Hostile bodies (per tenant, like the API bugs above; with both set,
	// odd tenants get the huge item and even ones the bomb).
	HugeItem int64 // "huge-item=BYTES": every SIEM page is one item holding a BYTES-long string, streamed without Content-Length
	GzipBomb int64 // "gzip-bomb=BYTES": every SIEM page is gzip-encoded and decompresses to BYTES (a few KB on the wire)

	// WithholdAlerts ("withhold-alerts=N"): at start, N of each tenant's
	// alerts in the window are never served by the SIEM stream while the
	// Common API still lists them — the silent loss `reconcile` finds.
	WithholdAlerts int
}

// Enabled reports whether any fault is configured.
func (f Faults) Enabled() bool {
	return f.Rate429 > 0 || f.Rate503 > 0 || f.Midpage401 > 0 || f.Slow > 0 || f.Malformed > 0 ||
		f.StaleCursor > 0 || f.LateArrivals > 0 || f.Replay > 0 || f.SameCursor || f.EmptyCursor || f.MissingID > 0 ||
		f.ForeignHost || f.EchoToken || f.TenantsLoop || f.HugeItem > 0 || f.GzipBomb > 0 || f.WithholdAlerts > 0
}

// String renders the faults in ParseFaults syntax.
func (f Faults) String() string {
	var parts []string
	p := func(k string, v float64) {
		if v > 0 {
			parts = append(parts, k+"="+strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	p("429", f.Rate429)
	if f.Rate429 > 0 && f.RetryAfter > 0 {
		parts = append(parts, "retry-after="+f.RetryAfter.String())
	}
	p("503", f.Rate503)
	if f.Rate503 > 0 && f.Burst503 > 0 {
		parts = append(parts, "503-burst="+strconv.Itoa(f.Burst503))
	}
	if f.Midpage401 > 0 {
		parts = append(parts, "401-midpage="+strconv.Itoa(f.Midpage401))
	}
	if f.Slow > 0 {
		parts = append(parts, "slow="+f.Slow.String())
	}
	p("malformed", f.Malformed)
	p("stale-cursor", f.StaleCursor)
	p("late-arrivals", f.LateArrivals)
	p("replay", f.Replay)
	for _, b := range []struct {
		k string
		v bool
	}{{"same-cursor", f.SameCursor}, {"empty-cursor", f.EmptyCursor}, {"foreign-host", f.ForeignHost}, {"echo-token", f.EchoToken}, {"tenants-loop", f.TenantsLoop}} {
		if b.v {
			parts = append(parts, b.k)
		}
	}
	p("missing-id", f.MissingID)
	if f.WithholdAlerts > 0 {
		parts = append(parts, "withhold-alerts="+strconv.Itoa(f.WithholdAlerts))
	}
	if f.Tenant != "" {
		parts = append(parts, "tenant="+f.Tenant)
	}
	return strings.Join(parts, ",")
}

// ParseFaults parses a comma-separated fault list, e.g.
// "429=0.1,503=0.05,401-midpage,slow=200ms,stale-cursor,late-arrivals,malformed=0.01,retry-after=1s".
// Keys: 429, 503, 503-burst, retry-after, 401-midpage, slow, malformed,
// stale-cursor, late-arrivals, replay (alias page-replay). An empty spec is no faults.
func ParseFaults(spec string) (Faults, error) {
	var f Faults
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		key, val, hasVal := strings.Cut(item, "=")
		key = strings.ToLower(strings.TrimSpace(key))
		val = strings.TrimSpace(val)
		rate := func(def float64) (float64, error) {
			if !hasVal {
				return def, nil
			}
			v, err := strconv.ParseFloat(val, 64)
			if err != nil || v < 0 || v > 1 {
				return 0, fmt.Errorf("fault %q: want a probability between 0 and 1, got %q", key, val)
			}
			return v, nil
		}
		dur := func() (time.Duration, error) {
			d, err := time.ParseDuration(val)
			if err != nil || d < 0 {
				return 0, fmt.Errorf("fault %q: want a duration like 200ms, got %q", key, val)
			}
			return d, nil
		}
		count := func(def int) (int, error) {
			if !hasVal {
				return def, nil
			}
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 {
				return 0, fmt.Errorf("fault %q: want a count >= 1, got %q", key, val)
			}
			return n, nil
		}
		var err error
		switch key {
		case "429":
			f.Rate429, err = rate(0.1)
		case "503":
			f.Rate503, err = rate(0.05)
		case "503-burst":
			f.Burst503, err = count(3)
		case "retry-after":
			f.RetryAfter, err = dur()
		case "401-midpage":
			f.Midpage401, err = count(3)
		case "slow":
			f.Slow, err = dur()
		case "malformed":
			f.Malformed, err = rate(0.01)
		case "stale-cursor":
			f.StaleCursor, err = rate(0.1)
		case "late-arrivals":
			f.LateArrivals, err = rate(0.2)
		case "replay", "page-replay":
			f.Replay, err = rate(0.1)
		case "same-cursor", "empty-cursor", "foreign-host", "echo-token", "tenants-loop":
			if hasVal {
				return Faults{}, fmt.Errorf("fault %q takes no value (limit it with tenant=ID)", key)
			}
			switch key {
			case "same-cursor":
				f.SameCursor = true
			case "empty-cursor":
				f.EmptyCursor = true
			case "foreign-host":
				f.ForeignHost = true
			case "echo-token":
				f.EchoToken = true
			case "tenants-loop":
				f.TenantsLoop = true
			}
		case "huge-item", "gzip-bomb":
			n, perr := strconv.ParseInt(val, 10, 64)
			if perr != nil || n < 1 {
				return Faults{}, fmt.Errorf("fault %q: want a size in bytes, got %q", key, val)
			}
			if key == "huge-item" {
				f.HugeItem = n
			} else {
				f.GzipBomb = n
			}
		case "missing-id":
			f.MissingID, err = rate(0.1)
		case "withhold-alerts":
			f.WithholdAlerts, err = count(5)
		case "tenant":
			if val == "" {
				return Faults{}, fmt.Errorf("fault \"tenant\" needs a tenant id or a 1-based index, e.g. tenant=2")
			}
			f.Tenant = val
		default:
			return Faults{}, fmt.Errorf("unknown fault %q (known: 429, 503, 503-burst, retry-after, 401-midpage, slow, malformed, stale-cursor, late-arrivals, replay, same-cursor, empty-cursor, missing-id, foreign-host, echo-token, tenants-loop, huge-item, gzip-bomb, withhold-alerts, tenant)", key)
		}
		if err != nil {
			return Faults{}, err
		}
		if (key == "slow" || key == "retry-after") && !hasVal {
			return Faults{}, fmt.Errorf("fault %q needs a duration, e.g. %s=200ms", key, key)
		}
	}
	return f, nil
}

// hits reports whether a per-tenant fault applies to t (index i).
func (f *Faults) hits(t *tenant, i int) bool {
	if f.Tenant == "" {
		return true
	}
	if n, err := strconv.Atoi(f.Tenant); err == nil {
		return n == i+1
	}
	return strings.EqualFold(f.Tenant, t.id)
}
