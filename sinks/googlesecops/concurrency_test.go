package googlesecops

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/googlesecops/googlesecopstest"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
)

// TestConcurrentCallFailsInTheMiddle: a batch of 1000 records goes out as
// ~60 calls (max_bytes 16 KiB), 4 in flight, through both APIs; the 6th
// call is answered 503. Only that call's records come back failed
// (retryable), the rest are ingested, and writing the failed ones again
// ingests every record exactly once.
func TestConcurrentCallFailsInTheMiddle(t *testing.T) {
	for _, api := range []string{"v1alpha", "v2"} {
		t.Run(api, func(t *testing.T) {
			srv := testServer(t, googlesecopstest.Options{})
			c := testConfig(t, srv, api)
			c.MaxBytes = 16 << 10
			c.Request.Concurrency = 4
			s := started(t, c)
			srv.SetFaults(googlesecopstest.Faults{FaultAfter: 5, Busy503: 1})
			s.lim.ResetMaxInFlight()
			outtest.MiddleFault(t, s.Write, outtest.Records(t, "mid", 1000), srv.IDs, s.lim.MaxInFlight)
		})
	}
}

// TestBadEntryInConcurrentBatch: one entry Google refuses (400) among 1000
// sent as ~60 calls, 4 in flight: only its record is dead-lettered, with
// Google's reason; every other record is ingested once.
func TestBadEntryInConcurrentBatch(t *testing.T) {
	srv := testServer(t, googlesecopstest.Options{})
	c := testConfig(t, srv, "v1alpha")
	c.MaxBytes = 16 << 10
	c.Request.Concurrency = 4
	s := started(t, c)
	recs := outtest.Records(t, "bad", 1000)
	srv.SetFaults(googlesecopstest.Faults{RejectIDs: []string{recs[517].ID}})
	s.lim.ResetMaxInFlight()
	err := s.Write(t.Context(), recs)
	var be *pipeline.BatchError
	if !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Index != 517 || !pipeline.IsPermanent(be.Items[0].Err) ||
		!strings.Contains(be.Items[0].Err.Error(), "400 INVALID_ARGUMENT") || !strings.Contains(be.Items[0].Err.Error(), "could not be imported") {
		t.Fatalf("%v", err)
	}
	if outtest.ExactlyOnce(t, outtest.IDs(recs), srv.IDs(), map[string]bool{recs[517].ID: true}) != 0 {
		t.Fatal("records ingested twice")
	}
	if n := s.lim.MaxInFlight(); n < 2 {
		t.Fatalf("at most %d call in flight: the batch was not sent concurrently", n)
	}
}

// TestTokenExpiresWithCallsInFlight: the access token expires while 4
// calls are in flight (the API answers after 20 ms, so they overlap); each
// is refused 401 and tried again with a new token, which the calls share
// (one token request, not one each), and every record is ingested once.
func TestTokenExpiresWithCallsInFlight(t *testing.T) {
	srv := testServer(t, googlesecopstest.Options{Latency: 20 * time.Millisecond})
	c := testConfig(t, srv, "v2")
	c.MaxBytes = 16 << 10
	c.Request.Concurrency = 4
	s := started(t, c)
	srv.ExpireTokens()
	before := srv.Stats()
	recs := outtest.Records(t, "tok", 1000)
	if err := s.Write(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	after := srv.Stats()
	if after.Status[401] < 2 || after.Tokens-before.Tokens != 1 {
		t.Fatalf("%d calls refused 401, %d new tokens: want several refused and one new token", after.Status[401], after.Tokens-before.Tokens)
	}
	outtest.ExactlyOnce(t, outtest.IDs(recs), srv.IDs(), nil)
}

// TestAdaptiveConcurrencyRises: request.concurrency adaptive (the default)
// against an API whose round trip is mostly latency (2 ms, however many
// calls are in flight): from one call at a time the limit rises, and the
// calls in flight — as the sink's limiter and the API both count them —
// follow (to 8 on a quiet machine; at least 4 asserted). The limit is
// reported under the sink's name.
func TestAdaptiveConcurrencyRises(t *testing.T) {
	srv := testServer(t, googlesecopstest.Options{Latency: 2 * time.Millisecond, DiscardLogs: true})
	c := testConfig(t, srv, "v2")
	c.MaxBytes = 2048 // one or two entries a call
	s := started(t, c)
	if s.lim.Limit() != 1 || !s.lim.Adaptive() {
		t.Fatalf("adaptive starts at 1, got limit %d", s.lim.Limit())
	}
	var peaks []int
	for i := 0; i < 40 && s.lim.Limit() < 8; i++ {
		s.lim.ResetMaxInFlight()
		if err := s.Write(t.Context(), outtest.Records(t, "arc", 150)); err != nil {
			t.Fatal(err)
		}
		peaks = append(peaks, s.lim.MaxInFlight())
	}
	// the loop stops at 8; 4 (requests in flight a batch reached, on a
	// machine the test shares) is what it must show at least
	if s.lim.Limit() < 4 || slices.Max(peaks) < 4 || srv.Stats().MaxInFlight < 4 || peaks[0] > 2 {
		t.Fatalf("limit %d; in flight per batch %v, the API saw at most %d", s.lim.Limit(), peaks, srv.Stats().MaxInFlight)
	}
	t.Logf("in flight per batch %v (limit %d)", peaks, s.lim.Limit())

	if got := outtest.LimitMetric(t, s, "secops"); got != float64(s.lim.Limit()) {
		t.Fatalf("request_concurrency_limit for sink secops: %v, the limiter's limit %d", got, s.lim.Limit())
	}
}

// TestConcurrentWrites: 4 batches in Write at once (as the pipeline's
// worker has them for this ConcurrentSink), each cut into several calls,
// all through one limiter of 4. Every record arrives exactly once.
func TestConcurrentWrites(t *testing.T) {
	for _, api := range []string{"v1alpha", "v2"} {
		t.Run(api, func(t *testing.T) {
			srv := testServer(t, googlesecopstest.Options{})
			c := testConfig(t, srv, api)
			c.MaxBytes = 16 << 10
			c.Request.Concurrency = 4
			s := started(t, c)
			s.lim.ResetMaxInFlight()
			outtest.ConcurrentWrites(t, s, outtest.Records(t, "conc", 1000), 4, srv.IDs, s.lim.MaxInFlight, 4)
		})
	}
}
