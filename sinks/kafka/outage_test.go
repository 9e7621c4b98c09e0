package kafka

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

// failedOf returns the records of batch that err says were not delivered,
// the way the pipeline reads it: nil = all delivered, a BatchError lists
// indexes, any other error fails the whole batch. No failure may be
// permanent here: a broker outage is always worth retrying.
func failedOf(t *testing.T, batch []*pipeline.Record, err error) []*pipeline.Record {
	t.Helper()
	if err == nil {
		return nil
	}
	var be *pipeline.BatchError
	if !errors.As(err, &be) {
		if pipeline.IsPermanent(err) {
			t.Fatalf("outage reported as permanent: %v", err)
		}
		return batch
	}
	var out []*pipeline.Record
	for _, it := range be.Items {
		if pipeline.IsPermanent(it.Err) {
			t.Fatalf("record %d failed for good during an outage: %v", it.Index, it.Err)
		}
		out = append(out, batch[it.Index])
	}
	return out
}

// TestOutageNoLoss stops the cluster in the middle of a run (while Writes
// are in flight) and starts a new one on the same port and data directory.
// Writes during the outage report what was not acknowledged; writing those
// records again after the restart delivers them: every record ends up in the
// topic at least once, none lost.
func TestOutageNoLoss(t *testing.T) {
	port, dir := freePort(t), t.TempDir()
	opts := []kfake.Opt{kfake.Ports(port), kfake.SeedTopics(4, "outage"), kfake.DataDir(dir)}
	c1, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(c1, "outage")
	cfg.WriteTimeout = config.Duration(2 * time.Second)
	s := newStarted(t, cfg)
	recs := makeRecords(t, 5000, []string{"tenant-a", "tenant-b"}, 21)
	const batch = 250
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	var pending []*pipeline.Record
	failedWrites := 0
	closed := make(chan struct{})
	next := 0
	for ; next < len(recs) && failedWrites < 3; next += batch {
		if next == 1500 {
			go func() { c1.Close(); close(closed) }() // mid-run, racing the next Writes
		}
		b := recs[next : next+batch]
		if left := failedOf(t, b, s.Write(ctx, b)); len(left) > 0 {
			pending = append(pending, left...)
			failedWrites++
		}
	}
	<-closed
	if failedWrites == 0 {
		t.Fatal("no Write failed although the cluster was closed")
	}
	// While the broker is down nothing is acknowledged.
	b := recs[next : next+batch]
	next += batch
	if err := s.Write(ctx, b); err == nil {
		t.Fatal("Write succeeded while the broker was down")
	} else {
		t.Logf("Write while down: %v", err)
		pending = append(pending, failedOf(t, b, err)...)
	}
	t.Logf("%d records not acknowledged before the restart (%d failed Writes)", len(pending), failedWrites+1)

	c2, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("restart on port %d: %v", port, err)
	}
	defer c2.Close()

	// The pipeline's retry: send the failed records again until delivered
	// (bounded here), then the rest of the run.
	for attempt := 1; len(pending) > 0; attempt++ {
		if attempt > 50 || ctx.Err() != nil {
			t.Fatalf("%d records still undelivered after %d attempts", len(pending), attempt-1)
		}
		var left []*pipeline.Record
		for i := 0; i < len(pending); i += batch {
			b := pending[i:min(i+batch, len(pending))]
			left = append(left, failedOf(t, b, s.Write(ctx, b))...)
		}
		if pending = left; len(pending) > 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	for ; next < len(recs); next += batch {
		b := recs[next : next+batch]
		if err := s.Write(ctx, b); err != nil {
			t.Fatalf("Write after recovery: %v", err)
		}
	}

	msgs := readTopic(t, c2.ListenAddrs(), "outage")
	byID := recsByID(recs)
	count := map[string]int{}
	for _, m := range msgs {
		if byID[m.Key] == nil {
			t.Fatalf("unknown key %q", m.Key)
		}
		count[m.Key]++
	}
	if len(count) != len(recs) {
		t.Fatalf("%d distinct records in the topic, want %d: records lost", len(count), len(recs))
	}
	t.Logf("%d messages for %d records (%d duplicates from retries)", len(msgs), len(recs), len(msgs)-len(recs))
}
