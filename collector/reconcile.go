package collector

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/ledger"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/reconcile"
	"github.com/sophos-connect/sophos-connect/sources/sophos"
)

// commonAlerts lists Common API alert ids for reconcile.Run.
type commonAlerts struct {
	client  *sophos.Client
	tenants map[string]sophos.Tenant
}

func (c commonAlerts) DetectionCounts(ctx context.Context, tenant string, from, to time.Time) (map[int64]int, error) {
	t, ok := c.tenants[tenant]
	if !ok {
		return nil, fmt.Errorf("tenant %s is not reached by these credentials", tenant)
	}
	return c.client.DetectionCounts(ctx, t, from, to)
}

func (c commonAlerts) AlertIDs(ctx context.Context, tenant string, from, to time.Time) ([]string, error) {
	t, ok := c.tenants[tenant]
	if !ok {
		return nil, fmt.Errorf("tenant %s is not reached by these credentials", tenant)
	}
	return c.client.AlertIDs(ctx, t, from, to)
}

// ReconcileTenants runs a reconciliation of tenants over [since, API now].
func ReconcileTenants(ctx context.Context, client *sophos.Client, tenants []sophos.Tenant, led *ledger.Ledger, cps map[string]pipeline.Checkpoint,
	streams []pipeline.Stream, since time.Duration) ([]reconcile.Result, error) {
	now := client.APINow()
	byID := map[string]sophos.Tenant{}
	var list []reconcile.Tenant
	for _, t := range tenants {
		byID[t.ID] = t
		name := t.Label()
		if name == t.ID {
			name = ""
		}
		list = append(list, reconcile.Tenant{ID: t.ID, Name: name})
	}
	return reconcile.Run(ctx, reconcile.Options{Ledger: led, Checkpoints: cps, Tenants: list, Streams: streams,
		Since: now.Add(-since), Now: now, Alerts: commonAlerts{client, byID}, Detections: commonAlerts{client, byID}})
}

// ShowReconciled puts results on the metric and the status board.
func ShowReconciled(m *pipeline.Metrics, res []reconcile.Result, at time.Time) {
	for i := range res {
		r := &res[i]
		stream := strings.TrimSuffix(r.Stream, "s")
		m.ReconcileMissing.WithLabelValues(r.Tenant, stream).Set(float64(r.Missing()))
		m.Board.Reconciled(r.Tenant, r.TenantName, stream, r.Missing(), r.Detail(), at)
	}
}

// periodic compacts the ledger every hour and, with reconcile: {every: …},
// reconciles every tenant: the metric, the status page's column, and an
// ERROR naming what is missing.
func periodic(ctx context.Context, c *config.Config, client *sophos.Client, src *sophos.Source, led *ledger.Ledger,
	cps pipeline.Checkpointer, streams []pipeline.Stream, m *pipeline.Metrics, log *slog.Logger) {
	every := c.Reconcile.Every.D()
	window := c.Reconcile.Since.D()
	if window <= 0 {
		window = 24 * time.Hour
	}
	compact := time.NewTicker(time.Hour)
	defer compact.Stop()
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-compact.C:
			if err := led.Compact(); err != nil {
				log.Error("ledger: " + err.Error())
			}
		case <-tick:
			durable := map[string]pipeline.Checkpoint{}
			if cps != nil { // nil in distributed mode: the cluster keeps the cursors
				durable = cps.Durable()
			}
			res, err := ReconcileTenants(ctx, client, src.Tenants(), led, durable, streams, window)
			if err != nil {
				if ctx.Err() == nil {
					log.Error("reconcile: " + err.Error())
				}
				continue
			}
			ShowReconciled(m, res, time.Now())
			for i := range res {
				if r := &res[i]; !r.Complete {
					log.Error(fmt.Sprintf("reconcile: tenant %s %s: %d missing: %s — `sophos-connect reconcile -repair` delivers missing alerts", r.Tenant, r.Stream, r.Missing(), r.Detail()))
				}
			}
		}
	}
}
