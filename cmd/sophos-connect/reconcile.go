package main

import (
	"context"
	"errors"
	"flag"
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

func reconcileCmd() *command {
	return &command{
		Name: "reconcile", Args: "[-since 24h] [-tenant ID|NAME] [-json] [-repair]",
		Short: "compare what was delivered with what Sophos Central holds; exit 1 when anything is missing",
		Long: "Alerts: the ids the Common API lists against the ids read from the SIEM stream. Every stream:\n" +
			"per hour, each sink's deliveries against what was routed to it (events have no upstream count).\n" +
			"-repair fetches the missing alerts from the Common API and delivers them through the pipeline,\n" +
			"in the SIEM alert shape, marked \"sophos_connect_repaired\": true.",
		Example: "sophos-connect reconcile -c sophos-connect.yaml\nsophos-connect reconcile -since 6h -tenant Acme -json\nsophos-connect reconcile -repair",
		Setup: func(fs *flag.FlagSet) runFunc {
			var o reconcileOpts
			fs.StringVar(&o.since, "since", "24h", "the window: a duration (≤ 24h) or RFC 3339 time")
			fs.StringVar(&o.tenant, "tenant", "", "one tenant (id or name); default every tenant")
			fs.BoolVar(&o.asJSON, "json", false, "print JSON instead of a table")
			fs.BoolVar(&o.repair, "repair", false, "deliver the missing alerts through the pipeline (from the Common API)")
			return func(a *app, ctx context.Context, g *globals, args []string) error {
				if len(args) > 0 {
					return usageError{"reconcile takes flags, not arguments"}
				}
				return a.reconcile(ctx, g, o)
			}
		},
	}
}

type reconcileOpts struct {
	since, tenant  string
	asJSON, repair bool
}

// errMissing is the exit-1 outcome of a reconciliation that found gaps.
type errMissing struct{ n int64 }

func (e errMissing) Error() string {
	return fmt.Sprintf("reconcile: %d missing (see above); `sophos-connect reconcile -repair` delivers missing alerts", e.n)
}

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

// reconcileTenants runs a reconciliation of tenants over [since, API now].
func reconcileTenants(ctx context.Context, client *sophos.Client, tenants []sophos.Tenant, led *ledger.Ledger, cps map[string]pipeline.Checkpoint,
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

// showReconciled puts results on the metric and the status board.
func showReconciled(m *pipeline.Metrics, res []reconcile.Result, at time.Time) {
	for i := range res {
		r := &res[i]
		stream := strings.TrimSuffix(r.Stream, "s")
		m.ReconcileMissing.WithLabelValues(r.Tenant, stream).Set(float64(r.Missing()))
		m.Board.Reconciled(r.Tenant, r.TenantName, stream, r.Missing(), r.Detail(), at)
	}
}

func (a *app) reconcile(ctx context.Context, g *globals, o reconcileOpts) error {
	c, err := loadConfig(g)
	if err != nil {
		return err
	}
	since, err := parseSince(o.since, time.Now())
	if err != nil {
		return usageError{"-since: " + err.Error()}
	}
	window := time.Since(since)
	op, err := a.newOperator(ctx, g)
	if err != nil {
		return err
	}
	defer op.close()
	tenants, err := op.listTenants(o.tenant)
	if err != nil {
		return err
	}
	led, err := ledger.Open(c.StateDir, nil)
	if err != nil {
		return err
	}
	cps, err := pipeline.OpenCheckpoints(c.StateDir)
	if err != nil {
		return err
	}
	res, err := reconcileTenants(ctx, op.client, tenants, led, cps.Durable(), enabledStreams(c, g), window)
	if err != nil {
		return err
	}
	var missing int64
	for i := range res {
		missing += res[i].Missing()
		if res[i].Error != "" {
			missing++
		}
	}
	if o.asJSON {
		if err := a.writeJSON(res); err != nil {
			return err
		}
	} else {
		tw := newTable(a.stdout, "TENANT", "STREAM", "RESULT", "READ", "UPSTREAM", "MISSING")
		for i := range res {
			r := &res[i]
			up := "-"
			if r.Upstream >= 0 {
				up = fmt.Sprint(r.Upstream)
			}
			result := "complete"
			if !r.Complete {
				result = fmt.Sprintf("%d missing", r.Missing())
			}
			name := r.Tenant
			if r.TenantName != "" {
				name = r.TenantName + " (" + r.Tenant + ")"
			}
			tw.row(name, r.Stream, result, fmt.Sprint(r.Read), up, orDash(r.Detail()))
		}
		if err := tw.flush(); err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, "(events and cases: Sophos offers no count to compare with upstream; their hours are checked per sink: routed against delivered)")
	}
	if !o.repair || missing == 0 {
		if missing > 0 {
			return errMissing{missing}
		}
		return nil
	}
	repaired, err := a.repair(ctx, c, g, op, tenants, res)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "reconcile -repair: delivered %d missing alert(s) through the pipeline\n", repaired)
	// What repair cannot fix (a sink that dead-lettered records) still counts.
	var left int64
	for i := range res {
		left += res[i].Missing() - int64(len(res[i].MissingIDs))
	}
	if left > 0 {
		return errMissing{left}
	}
	return nil
}

// repair fetches each missing alert from the Common API, maps it to the
// SIEM alert shape and delivers it through the pipeline once (a -once run
// of the collector with the repaired alerts as its only source and no
// checkpoints moved); the ledger records them, so the next reconcile says
// complete.
func (a *app) repair(ctx context.Context, c *config.Config, g *globals, op *operator, tenants []sophos.Tenant, res []reconcile.Result) (int, error) {
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
			al, err := op.client.GetAlert(ctx, t, id)
			if err != nil {
				return 0, fmt.Errorf("repair: alert %s of tenant %s: %w", id, t.Label(), err)
			}
			rec, err := pipeline.NewRecord(pipeline.Alerts, t.ID, al.SIEMItem(t.ID))
			if err != nil {
				return 0, fmt.Errorf("repair: alert %s: %w", id, err)
			}
			pages[t.ID] = append(pages[t.ID], rec)
			names[t.ID] = r.TenantName
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	log, closeLog, err := newLogger(c.LogLevel, logFilePath(c), a.stderr)
	if err != nil {
		return 0, err
	}
	defer closeLog()
	err = a.collect(ctx, c, g, collectOptions{once: true, log: log, repair: reconcile.NewRepairSource(pages, names), timeout: 10 * time.Minute})
	var inc incompleteError
	if err != nil && !errors.As(err, &inc) {
		return 0, err
	}
	return n, err
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
			res, err := reconcileTenants(ctx, client, src.Tenants(), led, durable, streams, window)
			if err != nil {
				if ctx.Err() == nil {
					log.Error("reconcile: " + err.Error())
				}
				continue
			}
			showReconciled(m, res, time.Now())
			for i := range res {
				if r := &res[i]; !r.Complete {
					log.Error(fmt.Sprintf("reconcile: tenant %s %s: %d missing: %s — `sophos-connect reconcile -repair` delivers missing alerts", r.Tenant, r.Stream, r.Missing(), r.Detail()))
				}
			}
		}
	}
}
