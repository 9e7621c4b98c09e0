package autoack

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sources/sophos"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
	"github.com/sophos-connect/sophos-connect/sources/sophos/sophostest"
)

// gateSink refuses every write until opened.
type gateSink struct {
	mu   sync.Mutex
	open bool
	ids  []string
}

func (g *gateSink) Start(context.Context) error { return nil }
func (g *gateSink) Close() error                { return nil }
func (g *gateSink) Write(_ context.Context, b []*pipeline.Record) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.open {
		return errors.New("destination down")
	}
	for _, r := range b {
		g.ids = append(g.ids, r.ID)
	}
	return nil
}

func TestLevels(t *testing.T) {
	for level, want := range map[string][]string{"low": {"low"}, "Medium": {"low", "medium"}, "HIGH": {"low", "medium", "high"}} {
		got, err := Levels(level)
		if err != nil || len(got) != len(want) {
			t.Fatalf("%s: %v %v", level, got, err)
		}
		for _, w := range want {
			if !got[w] {
				t.Fatalf("%s misses %s", level, w)
			}
		}
	}
	if _, err := Levels("critical"); err == nil {
		t.Fatal("critical accepted")
	}
}

// TestAcknowledgesOnlyAfterDelivery runs the real pipeline against the
// emulator with a sink that is down at first: no alert is acknowledged
// while it is down; once it delivers, exactly the alerts at or below the
// level are acknowledged.
func TestAcknowledgesOnlyAfterDelivery(t *testing.T) {
	emu, client, src := sophostest.Start(t, emulator.Options{Seed: 5, Events: -1, Alerts: 60}, pipeline.Alerts)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	parts, err := src.Partitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	acker, err := New(client, src.TenantByID, "medium", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer acker.Close()

	sink := &gateSink{}
	dir := t.TempDir()
	cps, _ := pipeline.OpenCheckpoints(dir)
	dlq, _ := pipeline.OpenDeadLetter(dir)
	defer dlq.Close()
	done := make(chan error, 1)
	go func() {
		_, err := pipeline.Run(ctx, pipeline.Options{Source: src, Checkpoints: cps, DeadLetter: dlq, Once: true,
			Sinks:     []pipeline.SinkSpec{{Name: "gate", Sink: sink, Retry: pipeline.RetryPolicy{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond}}},
			Observers: []pipeline.DeliveryObserver{acker}, Since: time.Now().Add(-23 * time.Hour)})
		done <- err
	}()
	ids := emu.AllIDs(parts[0].Tenant, "alert")
	time.Sleep(300 * time.Millisecond)
	for _, id := range ids {
		if emu.Acknowledged(id) {
			t.Fatalf("alert %s acknowledged before it was delivered", id)
		}
	}
	sink.mu.Lock()
	sink.open = true
	sink.mu.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	acker.Wait(ctx)

	// Which alerts should be acknowledged: severity low or medium.
	page, err := client.SIEMPage(ctx, src.Tenants()[0], pipeline.Alerts, pipeline.Position{Since: time.Now().Add(-23 * time.Hour)}, sophos.SIEMOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var want, high int
	for _, r := range page.Records {
		switch r.Severity {
		case "low", "medium":
			want++
			if !emu.Acknowledged(r.ID) {
				t.Errorf("%s alert %s not acknowledged", r.Severity, r.ID)
			}
		default:
			high++
			if emu.Acknowledged(r.ID) {
				t.Errorf("%s alert %s acknowledged above the level", r.Severity, r.ID)
			}
		}
	}
	if acked, failed := acker.Counts(); acked != want || failed != 0 || want == 0 || high == 0 {
		t.Fatalf("acked %d failed %d, want %d (high %d)", acked, failed, want, high)
	}
}
