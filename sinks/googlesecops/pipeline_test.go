package googlesecops

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/googlesecops/googlesecopstest"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
)

// TestPipelineExactlyOnceWithFaults runs the real pipeline (Sophos emulator
// → SIEM source → runner → this sink → googlesecopstest, logs.import)
// through 503 bursts, a 429 with Retry-After, one entry SecOps refuses (400)
// and every token expiring mid-run. Every event is imported exactly once,
// the refused one is only in the dead-letter file with Google's answer, a
// new token was fetched after the expiry, and the checkpoint is committed.
func TestPipelineExactlyOnceWithFaults(t *testing.T) {
	probeSrv := testServer(t, googlesecopstest.Options{})
	probe := outtest.RunPipeline(t, started(t, testConfig(t, probeSrv, "v1alpha")), 3000, 60*time.Second, nil)
	bad := probe.Want[1234]

	srv := testServer(t, googlesecopstest.Options{})
	c := testConfig(t, srv, "v1alpha")
	c.MaxBytes = 200_000 // several requests per batch
	s := started(t, c)
	srv.SetFaults(googlesecopstest.Faults{Busy503: 3, Throttle429: 1, RetryAfter: "1", RejectIDs: []string{bad}})
	run := outtest.RunPipeline(t, s, 3000, 90*time.Second, func() {
		for deadline := time.Now().Add(30 * time.Second); len(srv.IDs()) < 500; {
			if time.Now().After(deadline) {
				t.Error("nothing imported")
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		srv.ExpireTokens()
	})
	if !run.Committed || run.Stats.DeadLettered != 1 || len(run.DeadLetters) != 1 {
		t.Fatalf("run %+v", run)
	}
	if dl := run.DeadLetters[0]; dl.ID != bad || !strings.Contains(dl.Reason, "400 INVALID_ARGUMENT") {
		t.Fatalf("dead letter %+v, want %s", dl, bad)
	}
	repeats := outtest.ExactlyOnce(t, run.Want, srv.IDs(), map[string]bool{bad: true})
	st := srv.Stats()
	if st.Status[503] != 3 || st.Status[429] != 1 || st.Status[401] == 0 || st.Tokens < 2 || repeats != 0 {
		t.Fatalf("stats %+v, %d repeats: a fault did not bite, or an entry came twice", st, repeats)
	}
	t.Logf("%d events in %d calls, statuses %v, %d tokens", len(run.Want), st.Calls, st.Status, st.Tokens)
}

// TestPipelineExactlyOnceThroughOutage runs the real pipeline into each
// API and closes the server's port in the middle of the run (the sink
// meets a refused connection and retries), then opens it again. Every
// event arrives exactly once and the checkpoint is committed.
func TestPipelineExactlyOnceThroughOutage(t *testing.T) {
	for _, api := range []string{"v1alpha", "v2"} {
		t.Run(api, func(t *testing.T) {
			srv := testServer(t, googlesecopstest.Options{})
			c := testConfig(t, srv, api)
			c.MaxBytes = 100_000
			s := &countFailures{Sink: started(t, c), release: make(chan struct{})}
			run := outtest.RunPipeline(t, s, 3000, 90*time.Second, func() {
				// after two delivered writes the next one waits until
				// the server is down, so the outage always falls mid-run
				for deadline := time.Now().Add(30 * time.Second); s.ok.Load() < 2; {
					if time.Now().After(deadline) {
						t.Error("nothing arrived")
						close(s.release)
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
				// no request in flight when the port closes: one the
				// server took but could not answer would be sent again
				// (at least once), which is not what this test is about
				s.gate.Lock()
				srv.Stop()
				s.gate.Unlock()
				close(s.release)
				time.Sleep(time.Second)
				if err := srv.Restart(); err != nil {
					t.Error(err)
				}
			})
			if !run.Committed || run.Stats.DeadLettered != 0 {
				t.Fatalf("run %+v", run)
			}
			if repeats := outtest.ExactlyOnce(t, run.Want, srv.IDs(), nil); repeats != 0 {
				t.Fatalf("%d events arrived more than once", repeats)
			}
			if s.failed.Load() == 0 {
				t.Fatal("no write failed: the outage did not bite")
			}
			t.Logf("%d events through an outage (%d failed writes)", len(run.Want), s.failed.Load())
		})
	}
}

// countFailures counts the writes that failed; after two delivered writes
// it holds the next until release is closed. Batches are written
// concurrently (the sink is a pipeline.ConcurrentSink); gate lets the test
// wait for the Writes in flight and hold new ones.
type countFailures struct {
	*Sink
	failed, ok atomic.Int64
	release    chan struct{}
	gate       sync.RWMutex
}

func (c *countFailures) Write(ctx context.Context, batch []*pipeline.Record) error {
	if c.ok.Load() >= 2 {
		<-c.release
	}
	c.gate.RLock()
	err := c.Sink.Write(ctx, batch)
	c.gate.RUnlock()
	if err != nil {
		c.failed.Add(1)
	} else {
		c.ok.Add(1)
	}
	return err
}
