package sentinel

import (
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
	"github.com/sophos-connect/sophos-connect/sinks/sentinel/sentineltest"
)

// TestPipelineExactlyOnceWithFaults runs the real pipeline (Sophos emulator
// → SIEM source → runner → this sink → sentineltest) through 503 bursts, a
// 429 with Retry-After, one row the API refuses (400) and every token
// expiring mid-run. Every event is ingested exactly once, the refused one is
// only in the dead-letter file with Azure's answer, a new token was fetched
// after the expiry, and the checkpoint is committed.
func TestPipelineExactlyOnceWithFaults(t *testing.T) {
	// the emulator's ids are deterministic for a seed: learn one first
	probeSrv := testServer(t, sentineltest.Options{})
	probe := outtest.RunPipeline(t, started(t, testConfig(t, probeSrv)), 3000, 30*time.Second, nil)
	bad := probe.Want[1234]

	srv := testServer(t, sentineltest.Options{})
	c := testConfig(t, srv)
	c.MaxBytes = 200_000 // several calls per batch
	s := started(t, c)
	srv.SetFaults(sentineltest.Faults{Busy503: 3, Throttle429: 1, RetryAfter: "1", RejectIDs: []string{bad}})
	run := outtest.RunPipeline(t, s, 3000, 60*time.Second, func() {
		for deadline := time.Now().Add(20 * time.Second); len(srv.IDs()) < 500; {
			if time.Now().After(deadline) {
				t.Error("nothing ingested")
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		srv.ExpireTokens()
	})
	if !run.Committed || run.Stats.DeadLettered != 1 || len(run.DeadLetters) != 1 {
		t.Fatalf("run %+v", run)
	}
	if dl := run.DeadLetters[0]; dl.ID != bad || !strings.Contains(dl.Reason, "400 InvalidContent") {
		t.Fatalf("dead letter %+v, want %s", dl, bad)
	}
	repeats := outtest.ExactlyOnce(t, run.Want, srv.IDs(), map[string]bool{bad: true})
	st := srv.Stats()
	if st.Status[503] != 3 || st.Status[429] != 1 || st.Status[401] == 0 || st.Tokens < 2 || repeats != 0 || len(st.Dropped) != 0 {
		t.Fatalf("stats %+v, %d repeats: a fault did not bite, or a row came twice", st, repeats)
	}
	t.Logf("%d events in %d calls, statuses %v, %d tokens", len(run.Want), st.Calls, st.Status, st.Tokens)
}

// TestTokenRefreshedBeforeExpiry: with 2-second tokens the sink fetches a
// new one before the old expires, so no call is refused.
func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	srv := testServer(t, sentineltest.Options{TokenTTL: 10 * time.Second}) // a request in flight while a short-lived token expires would 401 on a loaded machine
	s := started(t, testConfig(t, srv))
	run := outtest.RunPipeline(t, s, 1000, 30*time.Second, nil)
	if !run.Committed {
		t.Fatal("not committed")
	}
	recs := outtest.Records(t, "late", 10)
	time.Sleep(8200 * time.Millisecond) // past 4/5 of the token's life
	if err := s.Write(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	if st.Status[401] != 0 || st.Tokens < 2 {
		t.Fatalf("stats %+v: want a second token fetched ahead of expiry and no 401", st)
	}
}
