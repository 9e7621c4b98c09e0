package otlp

import (
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
	"github.com/sophos-connect/sophos-connect/sinks/otlp/otlptest"
)

// TestPipelineExactlyOnceWithFaults runs the real pipeline (Sophos emulator
// → SIEM source → runner → this sink → otlptest) through 503 bursts, a 429
// with Retry-After, a 502, a partial success rejecting 2 records and one
// record the receiver refuses (400). Every other event arrives exactly
// once, exactly 3 records are dead-lettered, and the checkpoint is
// committed.
func TestPipelineExactlyOnceWithFaults(t *testing.T) {
	probeSrv := testServer(t, otlptest.Options{})
	probe := outtest.RunPipeline(t, started(t, testConfig(probeSrv.URL)), 3000, 120*time.Second, nil)
	bad := probe.Want[1234]

	srv := testServer(t, otlptest.Options{})
	c := testConfig(srv.URL)
	c.MaxBytes = 200_000 // several requests per batch
	s := started(t, c)
	srv.SetFaults(otlptest.Faults{Busy503: 3, Throttle429: 1, BadGateway502: 1, RetryAfter: "1", RejectIDs: []string{bad}})
	run := outtest.RunPipeline(t, s, 3000, 180*time.Second, func() {
		for deadline := time.Now().Add(20 * time.Second); len(srv.IDs()) < 500; {
			if time.Now().After(deadline) {
				t.Error("nothing delivered")
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		srv.SetFaults(otlptest.Faults{Partial: 2, RejectIDs: []string{bad}})
	})
	if !run.Committed || run.Stats.DeadLettered != 3 || len(run.DeadLetters) != 3 {
		t.Fatalf("run %+v", run)
	}
	rejected := map[string]bool{}
	partial := 0
	for _, dl := range run.DeadLetters {
		rejected[dl.ID] = true
		switch {
		case dl.ID == bad && strings.Contains(dl.Reason, "400 Bad Request"):
		case strings.Contains(dl.Reason, "rejected 2 of the"):
			partial++
		default:
			t.Fatalf("dead letter %+v", dl)
		}
	}
	repeats := outtest.ExactlyOnce(t, run.Want, srv.IDs(), rejected)
	st := srv.Stats()
	if partial != 2 || st.Status[503] != 3 || st.Status[429] != 1 || st.Status[502] != 1 || repeats != 0 {
		t.Fatalf("stats %+v, %d partial, %d repeats: a fault did not bite, or a record came twice", st, partial, repeats)
	}
	t.Logf("%d events in %d requests, statuses %v", len(run.Want), st.Requests, st.Status)
}
