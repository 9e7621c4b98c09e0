package httpsink

import (
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
	"github.com/sophos-connect/sophos-connect/sinks/httpsink/httpsinktest"
)

// TestPipelineExactlyOnceWithFaults runs the real pipeline (Sophos emulator
// → SIEM source → runner → this sink with OAuth2 → httpsinktest) through
// 503 bursts, a 429 with Retry-After, one record the receiver refuses and
// the OAuth2 token expiring mid-run: every event is taken exactly once, the
// refused one is only in the dead-letter file, the checkpoint is committed.
func TestPipelineExactlyOnceWithFaults(t *testing.T) {
	newSrv := func() *httpsinktest.Server {
		srv := httpsinktest.New(httpsinktest.Options{ClientID: "cid", ClientSecret: "cs"})
		t.Cleanup(srv.Close)
		return srv
	}
	cfg := func(srv *httpsinktest.Server) Config {
		c := testConfig(srv)
		c.Body, c.Compression, c.MaxBytes = "json_array", "gzip", 100_000
		c.Auth = Auth{Type: "oauth2", TokenURL: srv.URL + "/oauth2/token", ClientID: "cid", ClientSecret: "cs"}
		return c
	}
	probeSrv := newSrv()
	bad := outtest.RunPipeline(t, started(t, cfg(probeSrv)), 2000, 30*time.Second, nil).Want[777]

	srv := newSrv()
	s := started(t, cfg(srv))
	srv.SetFaults(httpsinktest.Faults{Statuses: []int{503, 503, 0, 503, 429}, RetryAfter: "1", RejectIDs: []string{bad}})
	run := outtest.RunPipeline(t, s, 2000, 60*time.Second, func() {
		for deadline := time.Now().Add(20 * time.Second); len(srv.IDs()) < 300; {
			if time.Now().After(deadline) {
				t.Error("nothing taken")
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		srv.ExpireTokens()
	})
	if !run.Committed || run.Stats.DeadLettered != 1 || len(run.DeadLetters) != 1 ||
		run.DeadLetters[0].ID != bad || !strings.Contains(run.DeadLetters[0].Reason, "400 Bad Request") {
		t.Fatalf("run %+v", run)
	}
	if n := outtest.ExactlyOnce(t, run.Want, srv.IDs(), map[string]bool{bad: true}); n != 0 {
		t.Fatalf("%d repeats", n)
	}
	statuses := map[int]int{}
	for _, rq := range srv.Requests() {
		statuses[rq.Status]++
	}
	if statuses[503] != 3 || statuses[429] != 1 || statuses[401] == 0 || srv.Tokens() < 2 {
		t.Fatalf("statuses %v, %d tokens: a fault did not bite", statuses, srv.Tokens())
	}
	t.Logf("%d events, statuses %v, %d tokens", len(run.Want), statuses, srv.Tokens())
}
