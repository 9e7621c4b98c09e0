package opensearch

import (
	"testing"

	"github.com/sophos-connect/sophos-connect/sinks/elasticsearch/elasticsearchtest"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
)

// TestConcurrentBulkFailsInTheMiddle: through opensearch-go's transport, a
// batch of 1000 documents goes out as ~30 _bulk requests, 4 in flight; the
// node answers the 6th 503 as a whole. Only that request's documents come
// back failed (retryable), and writing them again indexes every document
// exactly once (all at _version 1). (The fault needs the test server; the
// real node's runs are in the other tests.)
func TestConcurrentBulkFailsInTheMiddle(t *testing.T) {
	srv := elasticsearchtest.New(elasticsearchtest.Options{Distribution: "opensearch"})
	t.Cleanup(srv.Close)
	run := runID()
	tg := target{url: srv.URL, prefix: "sctest-" + run + "-", run: run}
	c := tg.config("${stream}")
	c.MaxBytes = 32 << 10
	c.Request.Concurrency = 4
	s := tg.sink(t, c)
	srv.SetFaults(elasticsearchtest.Faults{FaultAfter: 5, Request503First: 1})
	lim := s.Requests.Limiter
	lim.ResetMaxInFlight()
	received := func() map[string]int {
		out := map[string]int{}
		for id, h := range tg.docs(t) {
			out[id] = int(h.Version)
		}
		return out
	}
	outtest.MiddleFault(t, s.Write, records(t, run, 1000), received, lim.MaxInFlight)
}

// TestConcurrentWrites: through opensearch-go's transport, 4 batches in
// Write at once (as the pipeline's worker has them for this
// ConcurrentSink), all through one limiter of 4. Every document is indexed
// exactly once (all at _version 1).
func TestConcurrentWrites(t *testing.T) {
	srv := elasticsearchtest.New(elasticsearchtest.Options{Distribution: "opensearch"})
	t.Cleanup(srv.Close)
	run := runID()
	tg := target{url: srv.URL, prefix: "sctest-" + run + "-", run: run}
	c := tg.config("${stream}")
	c.MaxBytes = 32 << 10
	c.Request.Concurrency = 4
	s := tg.sink(t, c)
	lim := s.Requests.Limiter
	lim.ResetMaxInFlight()
	received := func() map[string]int {
		out := map[string]int{}
		for id, h := range tg.docs(t) {
			out[id] = int(h.Version)
		}
		return out
	}
	outtest.ConcurrentWrites(t, s, records(t, run, 1000), 4, received, lim.MaxInFlight, 4)
}
