package collector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/reconcile"
	"github.com/sophos-connect/sophos-connect/sources/sophos"
)

// Repair fetches each alert a reconciliation found missing (res) from the
// Common API, maps it to the SIEM alert shape and delivers it through the
// pipeline once: a -once run of c with the repaired alerts as its only
// source and no checkpoints moved (o gives the streams, the logger and the
// version). The ledger records them, so the next reconcile says complete.
// It returns how many alerts it delivered; an IncompleteError with them
// when a sink dead-lettered some.
func Repair(ctx context.Context, c *config.Config, client *sophos.Client, tenants []sophos.Tenant, res []reconcile.Result, o Options) (int, error) {
	pages, names, n, err := missingAlerts(ctx, client, tenants, res)
	if err != nil || n == 0 {
		return 0, err
	}
	o.Once, o.Repair, o.Timeout = true, reconcile.NewRepairSource(pages, names), 10*time.Minute
	err = Run(ctx, c, o)
	var inc IncompleteError
	if err != nil && !errors.As(err, &inc) {
		return 0, err
	}
	return n, err
}

// missingAlerts fetches the missing alerts of res, as pages of records and
// tenant names by tenant id.
func missingAlerts(ctx context.Context, client *sophos.Client, tenants []sophos.Tenant, res []reconcile.Result) (map[string][]pipeline.Record, map[string]string, int, error) {
	byID := map[string]sophos.Tenant{}
	for _, t := range tenants {
		byID[t.ID] = t
	}
	pages := map[string][]pipeline.Record{}
	names := map[string]string{}
	n := 0
	for i := range res {
		r := &res[i]
		t := byID[r.Tenant]
		for _, id := range r.MissingIDs {
			al, err := client.GetAlert(ctx, t, id)
			if err != nil {
				return nil, nil, 0, fmt.Errorf("repair: alert %s of tenant %s: %w", id, t.Label(), err)
			}
			rec, err := pipeline.NewRecord(pipeline.Alerts, t.ID, al.SIEMItem(t.ID))
			if err != nil {
				return nil, nil, 0, fmt.Errorf("repair: alert %s: %w", id, err)
			}
			pages[t.ID] = append(pages[t.ID], rec)
			names[t.ID] = r.TenantName
			n++
		}
	}
	return pages, names, n, nil
}
