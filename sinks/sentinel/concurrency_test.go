package sentinel

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
	"github.com/sophos-connect/sophos-connect/sinks/sentinel/sentineltest"
)

// TestConcurrentCallFailsInTheMiddle: a batch of 1000 records goes out as
// ~50 calls, 4 in flight; the API answers the 6th 503. Only that call's
// records come back failed (retryable), the rest are ingested, and writing
// the failed ones again ingests every record exactly once.
func TestConcurrentCallFailsInTheMiddle(t *testing.T) {
	srv := testServer(t, sentineltest.Options{})
	c := testConfig(t, srv)
	c.MaxBytes = 16 << 10
	c.Request.Concurrency = 4
	s := started(t, c)
	srv.SetFaults(sentineltest.Faults{FaultAfter: 5, Busy503: 1})
	s.lim.ResetMaxInFlight()
	outtest.MiddleFault(t, s.Write, outtest.Records(t, "mid", 1000), srv.IDs, s.lim.MaxInFlight)
}

// TestAppendMillisUTC: the hand-written timestamp is time's layout
// 2006-01-02T15:04:05.000Z in UTC, for any instant of years 0–9999.
func TestAppendMillisUTC(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("x", -7*3600-1800), time.FixedZone("y", 13*3600)}
	for i := 0; i < 20000; i++ {
		sec := rand.Int64N(253402300800) - 62135596800 // year 1 to 9999
		tm := time.Unix(sec, rand.Int64N(1e9)).In(zones[i%len(zones)])
		want := tm.UTC().Format("2006-01-02T15:04:05.000Z")
		if got := string(appendMillisUTC(nil, tm)); got != want {
			t.Fatalf("%v: %s, want %s", tm, got, want)
		}
	}
}

// TestConcurrentWrites: 4 batches in Write at once (as the pipeline's
// worker has them for this ConcurrentSink), each cut into several calls,
// all through one limiter of 4. Every record arrives exactly once.
func TestConcurrentWrites(t *testing.T) {
	srv := testServer(t, sentineltest.Options{})
	c := testConfig(t, srv)
	c.MaxBytes = 16 << 10
	c.Request.Concurrency = 4
	s := started(t, c)
	s.lim.ResetMaxInFlight()
	outtest.ConcurrentWrites(t, s, outtest.Records(t, "conc", 1000), 4, srv.IDs, s.lim.MaxInFlight, 4)
}
