package elasticsearch

import (
	"testing"

	"github.com/sophos-connect/sophos-connect/sinks/elasticsearch/elasticsearchtest"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
)

// TestConcurrentBulkFailsInTheMiddle: a batch of 1000 documents goes out as
// 4 parts of ~8 _bulk requests each, 4 in flight; the cluster answers the
// 6th request 503 as a whole. Only that request's documents come back
// failed (retryable), the rest are indexed, and writing the failed ones
// again indexes every document exactly once (all at _version 1).
func TestConcurrentBulkFailsInTheMiddle(t *testing.T) {
	srv, tg := testServer(t, elasticsearchtest.Options{})
	c := tg.config("${stream}")
	c.MaxBytes = 32 << 10
	c.Request.Concurrency = 4
	s := tg.sink(t, c)
	srv.SetFaults(elasticsearchtest.Faults{FaultAfter: 5, Request503First: 1})
	s.lim.ResetMaxInFlight()
	recs := makeRecords(t, loadSamples(t), tg.run, 1000, fixedWhen)
	received := func() map[string]int {
		out := map[string]int{}
		for id, h := range tg.docs(t, tg.prefix+"*") {
			out[id] = int(h.Version) // a second write of a document makes it version 2
		}
		return out
	}
	outtest.MiddleFault(t, s.Write, recs, received, s.lim.MaxInFlight)
}

// TestConcurrentWrites: 4 batches in Write at once (as the pipeline's
// worker has them for this ConcurrentSink), each cut into parts of several
// _bulk requests, all through one limiter of 4. Every document is indexed
// exactly once (all at _version 1).
func TestConcurrentWrites(t *testing.T) {
	srv, tg := testServer(t, elasticsearchtest.Options{})
	_ = srv
	c := tg.config("${stream}")
	c.MaxBytes = 32 << 10
	c.Request.Concurrency = 4
	s := tg.sink(t, c)
	s.lim.ResetMaxInFlight()
	recs := makeRecords(t, loadSamples(t), tg.run, 1600, fixedWhen)
	received := func() map[string]int {
		out := map[string]int{}
		for id, h := range tg.docs(t, tg.prefix+"*") {
			out[id] = int(h.Version)
		}
		return out
	}
	outtest.ConcurrentWrites(t, s, recs, 4, received, s.lim.MaxInFlight, 4)
}
