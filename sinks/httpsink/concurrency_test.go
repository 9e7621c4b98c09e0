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

// TestConcurrentWrites: 4 batches in Write at once (as the pipeline's
// worker has them for this ConcurrentSink), each cut into several gzip'd
// requests, all through one limiter of 4. Every record arrives exactly once.
func TestConcurrentWrites(t *testing.T) {
	for _, body := range []string{"ndjson", "json_array", "single"} {
		t.Run(body, func(t *testing.T) {
			srv := httpsinktest.New(httpsinktest.Options{})
			defer srv.Close()
			c := testConfig(srv)
			c.Body = body
			c.Compression = "gzip"
			c.MaxBytes = 16 << 10
			c.Request.Concurrency = 4
			s := started(t, c)
			s.lim.ResetMaxInFlight()
			n := 1000
			if body == "single" {
				n = 200
			}
			outtest.ConcurrentWrites(t, s, outtest.Records(t, "conc", n), 4, srv.IDs, s.lim.MaxInFlight, 4)
		})
	}
}
