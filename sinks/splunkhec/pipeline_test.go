package splunkhec

import (
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
	"github.com/sophos-connect/sophos-connect/sinks/splunkhec/splunkhectest"
)

// TestPipelineExactlyOnceWithFaults runs the real pipeline (Sophos emulator
// → SIEM source → runner → this sink → splunkhectest with indexer
// acknowledgement) through bursts of 503 "Server is busy", a 429 with
// Retry-After: 1, two requests whose acks never come (their events lost by the
// indexer) Every event ends up indexed exactly once
// (the lost ones after their resend) and the checkpoint is committed.
func TestPipelineExactlyOnceWithFaults(t *testing.T) {
	srv := splunkhectest.New(splunkhectest.Options{Tokens: map[string]splunkhectest.Token{"t": {Ack: true, Indexes: []string{"sophos"}}}})
	defer srv.Close()
	c := testConfig(srv, "t")
	c.Index = "sophos"
	c.Ack, c.AckTimeout, c.AckPollInterval = true, config.Duration(1500*time.Millisecond), config.Duration(20*time.Millisecond)
	c.MaxBytes = 64 << 10
	s := started(t, c)

	srv.SetFaults(splunkhectest.Faults{Busy503: 3, Throttle429: 1, RetryAfter: "1", AckNever: 2, AckDelay: 30 * time.Millisecond})
	run := outtest.RunPipeline(t, s, 2500, 60*time.Second, nil)
	if !run.Committed || run.Stats.DeadLettered != 0 {
		t.Fatalf("run %+v", run)
	}
	repeats := outtest.ExactlyOnce(t, run.Want, srv.IDs(), nil)
	st := srv.Stats()
	if st.Status[503] < 3 || st.Status[429] != 1 || st.Lost == 0 || repeats != 0 {
		t.Fatalf("stats %+v, %d repeats: the faults did not bite, or acked events came twice", st, repeats)
	}
	t.Logf("%d events, %d event requests, %d ack queries, %d lost and resent, statuses %v", len(run.Want), st.EventRequests, st.AckQueries, st.Lost, st.Status)
}

// TestPipelineBadEventDeadLettered: one event HEC refuses (400 code 6) is
// dead-lettered alone with HEC's answer; the rest are delivered and the
// checkpoint commits.
func TestPipelineBadEventDeadLettered(t *testing.T) {
	srv := splunkhectest.New(splunkhectest.Options{})
	defer srv.Close()
	// the emulator's ids are deterministic for a seed: find one first
	probe := outtest.RunPipeline(t, started(t, testConfig(srv, "test-token")), 1200, 30*time.Second, nil)
	bad := probe.Want[700]
	srv2 := splunkhectest.New(splunkhectest.Options{})
	defer srv2.Close()
	srv2.SetFaults(splunkhectest.Faults{RejectIDs: []string{bad}, Busy503: 2})
	s := started(t, testConfig(srv2, "test-token"))
	run := outtest.RunPipeline(t, s, 1200, 30*time.Second, nil)
	if !run.Committed || run.Stats.DeadLettered != 1 || len(run.DeadLetters) != 1 {
		t.Fatalf("run %+v", run)
	}
	dl := run.DeadLetters[0]
	if dl.ID != bad || !strings.Contains(dl.Reason, "400 code 6 Invalid data format") {
		t.Fatalf("dead letter %+v, want %s", dl, bad)
	}
	outtest.ExactlyOnce(t, run.Want, srv2.IDs(), map[string]bool{bad: true})
}
