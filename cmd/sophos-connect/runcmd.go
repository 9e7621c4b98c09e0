package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/sophos-connect/sophos-connect/collector"
	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/internal/texttable"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/seed"
	"github.com/sophos-connect/sophos-connect/sources/sophos"
)

// loadChecked is collector.LoadChecked of the config named by -c: every
// error of the file, sorted by line.
func loadChecked(g *globals) (*config.Config, error) {
	path, err := configPath(g)
	if err != nil {
		return nil, err
	}
	return collector.LoadChecked(path, wantStreams(g))
}

// loadConfig reads the config named by -c (or its defaults); errors in it
// are configuration errors (exit 2).
func loadConfig(g *globals) (*config.Config, error) {
	path, err := configPath(g)
	if err != nil {
		return nil, err
	}
	c, err := config.Load(path)
	if err != nil {
		return nil, configError{err}
	}
	seed.RedactInLogs(c.Sophos.ClientSecret.Value())
	return c, nil
}

func (a *app) cmdRun(ctx context.Context, g *globals) error {
	c, err := loadChecked(g)
	if err != nil {
		return err
	}
	since, err := parseSince(g.since, time.Now())
	if err != nil {
		return err
	}
	if g.timeout < 0 {
		return usageError{"-timeout must be positive, e.g. 10m"}
	}
	if g.logFormat != "" && g.logFormat != "seed" && g.logFormat != "json" {
		return usageError{fmt.Sprintf("-log-format %q: use seed or json", g.logFormat)}
	}
	metrics := pipeline.NewMetrics()
	for {
		mode, _ := c.FileMode.Mode() // validated with the config
		log, closeLog, err := seed.NewLogger(c.LogLevel, seed.LogFilePath(c), a.stderr, mode)
		if err != nil {
			return err
		}
		log = seed.WithLogFormat(log, cmp.Or(g.logFormat, c.LogFormat))
		raw, _ := os.ReadFile(c.File)
		o := collector.Options{Streams: wantStreams(g), Once: g.once, Since: since, Log: log, Hup: a.hup, Timeout: g.timeout,
			RequireHealthy: g.requireHealthy, Version: version, Metrics: metrics,
			Reload:      func() (*config.Config, error) { return config.Load(c.File) },
			ReloadOnHUP: collector.HUPReloader(c.File, raw, wantStreams(g))}
		if o.Once && o.Timeout == 0 {
			o.Timeout = defaultOnceTimeout
		}
		err = collector.Run(ctx, c, o)
		var rl collector.ReloadRequest
		if errors.As(err, &rl) {
			closeLog()
			c = rl.Cfg
			continue
		}
		if err != nil {
			// Start-up and run errors reach the log file too (stderr
			// gets them from main).
			seed.FileOnly(log).Error(err.Error())
		}
		closeLog()
		return err
	}
}

// defaultOnceTimeout bounds a -once run without -timeout.
const defaultOnceTimeout = 10 * time.Minute

// newClient loads the config and builds the Sophos client for a command.
func newClient(g *globals) (*sophos.Client, error) {
	c, err := loadConfig(g)
	if err != nil {
		return nil, err
	}
	client, err := sophos.NewClient(collector.SophosConfig(c), nil)
	if err != nil {
		return nil, configError{err}
	}
	return client, nil
}

func (a *app) cmdWhoami(ctx context.Context, g *globals) error {
	client, err := newClient(g)
	if err != nil {
		return err
	}
	id, err := client.WhoAmI(ctx)
	if err != nil {
		return err
	}
	tenants, err := client.TenantsFor(ctx, id)
	if err != nil {
		return err
	}
	region := id.Region()
	if region == "" {
		region = id.DataRegion // a data host that is not api-<region>.central.sophos.com (the emulator)
	}
	if region == "" {
		region = sophos.Regions(tenants)
	}
	if g.json {
		return a.writeJSON(struct {
			ID         string `json:"id"`
			IDType     string `json:"idType"`
			DataRegion string `json:"dataRegion"`
			Tenants    int    `json:"tenants"`
		}{id.ID, id.IDType, region, len(tenants)})
	}
	fmt.Fprintf(a.stdout, "id:          %s\nidType:      %s\ndata region: %s\ntenants:     %d\n", id.ID, id.IDType, orDash(region), len(tenants))
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func tenantsCmd() *command {
	return &command{
		Name: "tenants", Args: "[-json]", Short: "list the tenants the credentials reach",
		Example: "sophos-connect tenants -c sophos-connect.yaml\nsophos-connect tenants -json",
		Setup: func(fs *flag.FlagSet) runFunc {
			var asJSON bool
			fs.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
			return func(a *app, ctx context.Context, g *globals, args []string) error {
				if len(args) > 0 {
					return usageError{"tenants takes no arguments"}
				}
				return a.tenants(ctx, g, asJSON)
			}
		},
	}
}

func (a *app) tenants(ctx context.Context, g *globals, asJSON bool) error {
	client, err := newClient(g)
	if err != nil {
		return err
	}
	tenants, err := client.Tenants(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		type entry struct {
			ID         string `json:"id"`
			Name       string `json:"name"`
			DataRegion string `json:"dataRegion"`
			APIHost    string `json:"apiHost"`
		}
		list := []entry{}
		for _, t := range tenants {
			list = append(list, entry{t.ID, t.Label(), t.DataRegion, t.APIHost})
		}
		return a.writeJSON(list)
	}
	tw := texttable.New(a.stdout, "ID", "NAME", "REGION", "API HOST")
	for _, t := range tenants {
		tw.Row(t.ID, t.Label(), orDash(t.DataRegion), t.APIHost)
	}
	return tw.Flush()
}

// wantStreams is the command line's choice of streams (nil: no stream
// flag, the config decides): -a, -e, -r pick among alerts and events, -x
// adds detections and cases (alone: only those).
func wantStreams(g *globals) []pipeline.Stream {
	if g == nil || !(g.alerts || g.events || g.run || g.xdr) {
		return nil
	}
	out := []pipeline.Stream{}
	if g.alerts || g.run {
		out = append(out, pipeline.Alerts)
	}
	if g.events || g.run {
		out = append(out, pipeline.Events)
	}
	if g.xdr {
		out = append(out, pipeline.Detections, pipeline.Cases)
	}
	return out
}

// enabledStreams is the streams a run pulls (collector.EnabledStreams).
func enabledStreams(c *config.Config, g *globals) []pipeline.Stream {
	return collector.EnabledStreams(c, wantStreams(g))
}

// parseSince reads -since: a duration, an RFC 3339 time or Unix seconds,
// at most 24 h back. Empty means 24 h minus a safety margin.
func parseSince(s string, now time.Time) (time.Time, error) {
	const window = 24 * time.Hour
	const margin = 5 * time.Minute
	if s == "" {
		return now.Add(-window + margin), nil
	}
	var t time.Time
	if d, err := time.ParseDuration(s); err == nil {
		t = now.Add(-d)
	} else if tt, err := time.Parse(time.RFC3339, s); err == nil {
		t = tt
	} else if secs, err := parseUnix(s); err == nil {
		t = time.Unix(secs, 0)
	} else {
		return time.Time{}, usageError{fmt.Sprintf("-since %q: use a duration (6h), an RFC 3339 time (2026-11-26T08:00:00Z) or Unix seconds", s)}
	}
	if now.Sub(t) > window {
		return time.Time{}, usageError{fmt.Sprintf("-since %q is more than 24h ago: Sophos Central keeps only 24 hours", s)}
	}
	if t.After(now) {
		return time.Time{}, usageError{fmt.Sprintf("-since %q is in the future", s)}
	}
	return t, nil
}

func parseUnix(s string) (int64, error) {
	var v int64
	_, err := fmt.Sscanf(s, "%d", &v)
	if err != nil || fmt.Sprint(v) != s {
		return 0, errors.New("not unix seconds")
	}
	return v, nil
}
