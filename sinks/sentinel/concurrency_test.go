package sentinel

import (
	"testing"

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
