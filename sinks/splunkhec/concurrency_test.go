package splunkhec

import (
	"fmt"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
	"github.com/sophos-connect/sophos-connect/sinks/splunkhec/splunkhectest"
)

// TestConcurrentRequestFailsInTheMiddle: a batch of 1000 records goes out
// as ~50 requests, 4 in flight; HEC answers the 6th "server busy" (503
// code 9). Only that request's records come back failed (retryable), the
// rest are delivered (with ack: acknowledged), and writing the failed ones
// again delivers every record exactly once.
func TestConcurrentRequestFailsInTheMiddle(t *testing.T) {
	for _, ack := range []bool{false, true} {
		t.Run(fmt.Sprintf("ack=%v", ack), func(t *testing.T) {
			srv := splunkhectest.New(splunkhectest.Options{Tokens: map[string]splunkhectest.Token{"t": {Ack: ack}}})
			defer srv.Close()
			c := testConfig(srv, "t")
			c.Ack, c.AckPollInterval = ack, config.Duration(5*time.Millisecond)
			c.MaxBytes = 16 << 10
			c.Request.Concurrency = 4
			s := started(t, c)
			srv.SetFaults(splunkhectest.Faults{FaultAfter: 5, Busy503: 1})
			s.lim.ResetMaxInFlight()
			outtest.MiddleFault(t, s.Write, outtest.Records(t, "mid", 1000), srv.IDs, s.lim.MaxInFlight)
		})
	}
}

// TestConcurrentWrites: 8 batches in Write at once (as the pipeline's
// worker has them for this ConcurrentSink), each cut into several requests,
// all through one limiter of 4; with ack each Write waits for its own
// ackIds on the sink's one channel. Every record arrives exactly once.
func TestConcurrentWrites(t *testing.T) {
	for _, ack := range []bool{false, true} {
		t.Run(fmt.Sprintf("ack=%v", ack), func(t *testing.T) {
			srv := splunkhectest.New(splunkhectest.Options{Tokens: map[string]splunkhectest.Token{"t": {Ack: ack}}})
			defer srv.Close()
			c := testConfig(srv, "t")
			c.Ack, c.AckPollInterval = ack, config.Duration(5*time.Millisecond)
			c.MaxBytes = 16 << 10
			c.Request.Concurrency = 4
			s := started(t, c)
			s.lim.ResetMaxInFlight()
			outtest.ConcurrentWrites(t, s, outtest.Records(t, "conc", 1000), 4, srv.IDs, s.lim.MaxInFlight, 4)
		})
	}
}
