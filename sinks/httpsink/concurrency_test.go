package httpsink

import (
	"testing"

	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
	"github.com/sophos-connect/sophos-connect/sinks/httpsink/httpsinktest"
)

// TestConcurrentRequestFailsInTheMiddle: a batch of 1000 records goes out
// as ~50 NDJSON requests (gzip), 4 in flight; the receiver answers the 6th
// 503. Only that request's records come back failed (retryable), the rest
// are delivered, and writing the failed ones again delivers every record
// exactly once.
func TestConcurrentRequestFailsInTheMiddle(t *testing.T) {
	srv := httpsinktest.New(httpsinktest.Options{})
	defer srv.Close()
	c := testConfig(srv)
	c.Compression = "gzip"
	c.MaxBytes = 16 << 10
	c.Request.Concurrency = 4
	s := started(t, c)
	srv.SetFaults(httpsinktest.Faults{Statuses: []int{0, 0, 0, 0, 0, 503}})
	s.lim.ResetMaxInFlight()
	outtest.MiddleFault(t, s.Write, outtest.Records(t, "mid", 1000), srv.IDs, s.lim.MaxInFlight)
}
