package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/sophos-connect/sophos-connect/collector"
	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/internal/texttable"
	"github.com/sophos-connect/sophos-connect/ledger"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/reconcile"
	"github.com/sophos-connect/sophos-connect/seed"
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
	res, err := collector.ReconcileTenants(ctx, op.client, tenants, led, cps.Durable(), enabledStreams(c, g), window)
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
	} else if err := a.printReconcile(res); err != nil {
		return err
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

// repair delivers the missing alerts through the pipeline once
// (collector.Repair), logging to the seed's log file and stderr.
func (a *app) repair(ctx context.Context, c *config.Config, g *globals, op *operator, tenants []sophos.Tenant, res []reconcile.Result) (int, error) {
	log, closeLog, err := seed.NewLogger(c.LogLevel, seed.LogFilePath(c), a.stderr)
	if err != nil {
		return 0, err
	}
	defer closeLog()
	return collector.Repair(ctx, c, op.client, tenants, res, collector.Options{Streams: wantStreams(g), Log: log, Version: version})
}

// printReconcile prints the results as a table.
func (a *app) printReconcile(res []reconcile.Result) error {
	tw := texttable.New(a.stdout, "TENANT", "STREAM", "RESULT", "READ", "UPSTREAM", "MISSING")
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
		tw.Row(name, r.Stream, result, fmt.Sprint(r.Read), up, orDash(r.Detail()))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, "(events and cases: Sophos offers no count to compare with upstream; their hours are checked per sink: routed against delivered)")
	return nil
}
