package elasticsearch

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/elasticsearch/elasticsearchtest"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
	"github.com/sophos-connect/sophos-connect/sources/sophos/sophostest"
)

// TestPipelineCheckpointWaitsForRetriedItems runs the real pipeline
// (Sophos emulator → SIEM source → runner → this sink → elasticsearchtest). One event
// of the first page is refused with per-item 429s until the test lets it
// through, and another gets a mapping error: meanwhile the run does not end
// and no checkpoint is committed (the first page is not fully delivered);
// then every event is indexed exactly once, the bad one is in the
// dead-letter file with Elasticsearch's reason, and the checkpoint is
// committed.
func TestPipelineCheckpointWaitsForRetriedItems(t *testing.T) {
	emu, _, src := sophostest.Start(t, emulator.Options{Seed: 5, Events: 2500, Alerts: -1}, pipeline.Events)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	parts, err := src.Partitions(ctx)
	if err != nil || len(parts) != 1 {
		t.Fatalf("partitions: %v %v", parts, err)
	}
	key := parts[0].Key()
	want := emu.AllIDs(parts[0].Tenant, "event")
	since := time.Now().Add(-23 * time.Hour)

	// The pipeline's first page is the one a fetch from `since` returns.
	first, err := src.Fetch(ctx, parts[0], pipeline.Position{Since: since})
	if err != nil || len(first.Records) < 3 || !first.HasMore {
		t.Fatalf("first page: %v (%v)", err, first)
	}
	stuck, bad := first.Records[len(first.Records)-1].ID, first.Records[1].ID

	srv := elasticsearchtest.New(elasticsearchtest.Options{})
	defer srv.Close()
	srv.SetFaults(elasticsearchtest.Faults{ItemReject429IDs: map[string]int{stuck: 1 << 30}, ItemReject400IDs: map[string]bool{bad: true}})
	c := ecsConfig()
	c.Addresses = []string{srv.URL}
	c.Index = "sophos-${stream}"
	sink, err := New("search", c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if err := sink.Start(ctx); err != nil {
		t.Fatal(err)
	}

	state := t.TempDir()
	cps, err := pipeline.OpenCheckpoints(state)
	if err != nil {
		t.Fatal(err)
	}
	dlq, err := pipeline.OpenDeadLetter(state)
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	type result struct {
		st  pipeline.Stats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := pipeline.Run(ctx, pipeline.Options{
			Source: src, Checkpoints: cps, DeadLetter: dlq, Once: true, Since: since,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Sinks: []pipeline.SinkSpec{{Name: "search", Type: "elasticsearch", Sink: sink,
				Batch: pipeline.BatchPolicy{MaxEvents: 500},
				Retry: pipeline.RetryPolicy{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond}}},
		})
		done <- result{st, err}
	}()

	// Wait until the stuck event has been refused a few times.
	for deadline := time.Now().Add(20 * time.Second); srv.Stats().ItemStatus[429] < 5; {
		if time.Now().After(deadline) {
			t.Fatalf("the stuck event was not retried: %+v", srv.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case r := <-done:
		t.Fatalf("the run finished while an event was undelivered: %+v %v", r.st, r.err)
	default:
	}
	if cp, ok := cps.Get(key); ok {
		t.Fatalf("checkpoint committed (%q) while an event of the first page was being retried", cp.Cursor)
	}
	if n := srv.Count("sophos-event"); n == 0 || n >= len(want)-1 {
		t.Fatalf("%d events indexed while one is stuck (want some, not all, of %d)", n, len(want))
	}

	srv.SetFaults(elasticsearchtest.Faults{ItemReject400IDs: map[string]bool{bad: true}}) // the cluster recovers
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatal("the run did not finish after the cluster recovered")
	}
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	if cp, ok := cps.Get(key); !ok || cp.Cursor == "" {
		t.Fatalf("no checkpoint after delivery: %+v %v", cp, ok)
	}
	if r.st.DeadLettered != 1 {
		t.Fatalf("stats %+v: want exactly the bad event dead-lettered", r.st)
	}
	docs := srv.Docs("sophos-event")
	if len(docs) != len(want)-1 {
		t.Fatalf("%d events indexed, want %d", len(docs), len(want)-1)
	}
	for _, id := range want {
		d, ok := docs[id]
		switch {
		case id == bad && ok:
			t.Fatal("the rejected event was indexed")
		case id != bad && (!ok || d.Version != 1):
			t.Fatalf("event %s: indexed %v, version %d (want exactly once)", id, ok, d.Version)
		}
	}
	var entries []pipeline.DeadLetterEntry
	if err := pipeline.ReadDeadLetters(dlq.Path(), func(e pipeline.DeadLetterEntry) error { entries = append(entries, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].ID != bad || entries[0].Sink != "search" ||
		!strings.Contains(entries[0].Reason, "400 document_parsing_exception") {
		t.Fatalf("dead letters %+v", entries)
	}
}
