package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
	"github.com/sophos-connect/sophos-connect/sources/sophos/sophostest"
)

// TestCheckpointWaitsForBroker runs the real pipeline (Sophos emulator →
// SIEM source → runner → Kafka sink) while the broker is down: the page
// checkpoint does not advance and the run does not finish; once a new
// broker comes up on the same port every event reaches the topic and the
// checkpoint is committed.
func TestCheckpointWaitsForBroker(t *testing.T) {
	emu, _, src := sophostest.Start(t, emulator.Options{Seed: 3, Events: 2500, Alerts: -1}, pipeline.Events)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	parts, err := src.Partitions(ctx)
	if err != nil || len(parts) != 1 {
		t.Fatalf("partitions: %v %v", parts, err)
	}
	key := parts[0].Key()
	want := emu.AllIDs(parts[0].Tenant, "event")

	port, dir := freePort(t), t.TempDir()
	opts := []kfake.Opt{kfake.Ports(port), kfake.SeedTopics(3, "sophos-event"), kfake.DataDir(dir)}
	c1, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(c1, "sophos-${stream}")
	cfg.WriteTimeout = config.Duration(time.Second)
	sink := newStarted(t, cfg)
	c1.Close() // the broker goes down before the first page

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
			Source: src, Checkpoints: cps, DeadLetter: dlq, Once: true, Since: time.Now().Add(-23 * time.Hour),
			Sinks: []pipeline.SinkSpec{{Name: "bus", Type: "kafka", Sink: sink,
				Batch: pipeline.BatchPolicy{MaxEvents: 500},
				Retry: pipeline.RetryPolicy{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}}},
		})
		done <- result{st, err}
	}()

	time.Sleep(1500 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("the run finished while the broker was down: %+v %v", r.st, r.err)
	default:
	}
	if cp, ok := cps.Get(key); ok {
		t.Fatalf("checkpoint advanced to %q while the broker was down", cp.Cursor)
	}

	c2, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("restart on port %d: %v", port, err)
	}
	defer c2.Close()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatal("the run did not finish after the broker came back")
	}
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	cp, ok := cps.Get(key)
	if !ok || cp.Cursor == "" {
		t.Fatalf("no checkpoint after delivery: %+v %v", cp, ok)
	}
	if r.st.DeadLettered != 0 || r.st.Delivered != int64(len(want)) {
		t.Fatalf("stats %+v, want %d delivered and none dead-lettered", r.st, len(want))
	}
	got := map[string]bool{}
	for _, m := range readTopic(t, c2.ListenAddrs(), "sophos-event") {
		got[m.Key] = true
	}
	for _, id := range want {
		if !got[id] {
			t.Fatalf("event %s is not in the topic", id)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d distinct keys in the topic, want %d", len(got), len(want))
	}
	t.Logf("%d events delivered after the outage; checkpoint %s committed", len(want), key)
}
