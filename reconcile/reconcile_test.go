package reconcile

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/ledger"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

type fakeAlerts struct {
	ids      []string
	from, to time.Time
}

func (f *fakeAlerts) AlertIDs(ctx context.Context, tenant string, from, to time.Time) ([]string, error) {
	f.from, f.to = from, to
	return f.ids, nil
}

// TestRunAlertsAndSinks: missing alert ids are the listed ids never read;
// a sink that delivered fewer than were routed names its hour; the alerts
// window ends at the checkpoint's served_until less Settle.
func TestRunAlertsAndSinks(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	l, err := ledger.Open(t.TempDir(), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	h := now.Add(-3*time.Hour).Unix() / 3600
	l.Append("t1", []ledger.Entry{
		{Hour: h, Stream: "alert", Read: 2, IDs: []uint64{ledger.HashID("a1"), ledger.HashID("A2")}, Sinks: []ledger.SinkCount{{Name: "siem", Routed: 2, Delivered: 2}}},
		{Hour: h, Stream: "event", Read: 10, Sinks: []ledger.SinkCount{{Name: "siem", Routed: 10, Delivered: 7}, {Name: "files", Routed: 10, Delivered: 10}}},
	})
	fa := &fakeAlerts{ids: []string{"a1", "a2", "a3"}}
	served := now.Add(-time.Hour)
	res, err := Run(context.Background(), Options{Ledger: l, Tenants: []Tenant{{ID: "t1"}}, Streams: []pipeline.Stream{pipeline.Alerts, pipeline.Events},
		Since: now.Add(-24 * time.Hour), Now: now, Alerts: fa,
		Checkpoints: map[string]pipeline.Checkpoint{"t1/alert": {ServedUntil: served}}})
	if err != nil {
		t.Fatal(err)
	}
	a, e := res[0], res[1]
	if !slices.Equal(a.MissingIDs, []string{"a3"}) || a.Complete || a.Missing() != 1 || a.Upstream != 3 {
		t.Fatalf("alerts %+v", a)
	}
	if !fa.to.Equal(served.Add(-Settle)) {
		t.Fatalf("alerts window ends %v, want %v", fa.to, served.Add(-Settle))
	}
	if e.Complete || e.Missing() != 3 || len(e.Short) != 1 || e.Short[0].Sink != "siem" || e.Upstream != -1 {
		t.Fatalf("events %+v", e)
	}
	if d := e.Detail(); d != "2026-12-07T09Z siem: 7 of 10" {
		t.Fatalf("detail %q", d)
	}
}
