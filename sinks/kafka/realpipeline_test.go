package kafka

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
	"github.com/sophos-connect/sophos-connect/sources/sophos/sophostest"
)

// TestRealKafkaPipelineMissingTenantTopic runs the real pipeline (Sophos
// emulator with three tenants → source → runner → Kafka sink, topic per
// tenant) against a broker without auto-creation where one tenant's topic
// does not exist. The other tenants' events are delivered; the missing
// tenant's are dead-lettered after topic_missing_timeout with the fix in the
// reason; every checkpoint is committed and the run ends.
func TestRealKafkaPipelineMissingTenantTopic(t *testing.T) {
	k := needKafka(t)
	emu, _, src := sophostest.Start(t, emulator.Options{Seed: 5, Partner: true, Tenants: 3, Events: 300, Alerts: -1}, pipeline.Events)
	tenants := emu.TenantIDs()
	base := uniqueTopic("pipe-")
	for _, tn := range tenants[1:] {
		createTopic(t, k.brokers, base+"-"+tn, 2)
	}
	missing := base + "-" + tenants[0]
	cfg := realConfig(k.brokers, base+"-${tenant}")
	cfg.TopicMissingTimeout = config.Duration(time.Second)
	sink := newStarted(t, cfg)

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
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := pipeline.Run(ctx, pipeline.Options{
		Source: src, Checkpoints: cps, DeadLetter: dlq, Once: true, Since: time.Now().Add(-23 * time.Hour),
		Sinks: []pipeline.SinkSpec{{Name: "bus", Type: "kafka", Sink: sink,
			Batch: pipeline.BatchPolicy{MaxEvents: 500},
			Retry: pipeline.RetryPolicy{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond}}},
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	lost := len(emu.AllIDs(tenants[0], "event"))
	var delivered int
	for _, tn := range tenants[1:] {
		want := emu.AllIDs(tn, "event")
		got := map[string]bool{}
		for _, m := range readTopic(t, cfg.Brokers, base+"-"+tn) {
			got[m.Key] = true
		}
		for _, id := range want {
			if !got[id] {
				t.Fatalf("tenant %s: event %s not in its topic", tn, id)
			}
		}
		delivered += len(want)
	}
	if st.DeadLettered != int64(lost) || st.Delivered < int64(delivered) {
		t.Fatalf("stats %+v, want %d dead-lettered (tenant %s) and %d delivered", st, lost, tenants[0], delivered)
	}
	parts, _ := src.Partitions(ctx)
	for _, p := range parts {
		if cp, ok := cps.Get(p.Key()); !ok || cp.Cursor == "" {
			t.Fatalf("partition %s: no checkpoint", p.Key())
		}
	}
	f, err := os.Open(dlq.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		var dl struct{ Sink, Reason, Tenant string }
		if err := json.Unmarshal(sc.Bytes(), &dl); err != nil {
			t.Fatal(err)
		}
		if dl.Sink != "bus" || dl.Tenant != tenants[0] || !strings.Contains(dl.Reason, "create topic "+missing+" or enable auto-create") {
			t.Fatalf("dead letter %s", sc.Text())
		}
		n++
	}
	if n != lost {
		t.Fatalf("%d dead letters, want %d", n, lost)
	}
	t.Logf("%d events delivered, %d dead-lettered for %s; reason e.g. in %s", delivered, lost, missing, dlq.Path())
}
