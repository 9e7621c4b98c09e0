package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/collector"
	"github.com/sophos-connect/sophos-connect/internal/texttable"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/seed"
	"github.com/sophos-connect/sophos-connect/sources/sophos"
)

// operator is what the endpoint and alert commands share: a client, the
// tenants the credentials reach, and a logger writing the seed's log file.
type operator struct {
	client  *sophos.Client
	tenants []sophos.Tenant
	log     *slog.Logger
	close   func()
}

func (a *app) newOperator(ctx context.Context, g *globals) (*operator, error) {
	c, err := loadConfig(g)
	if err != nil {
		return nil, err
	}
	log, closeLog, err := seed.NewLogger(c.LogLevel, seed.LogFilePath(c), nil)
	if err != nil {
		return nil, err
	}
	client, err := sophos.NewClient(collector.SophosConfig(c), log)
	if err != nil {
		closeLog()
		return nil, configError{err}
	}
	tenants, err := client.Tenants(ctx)
	if err != nil {
		closeLog()
		return nil, err
	}
	return &operator{client: client, tenants: tenants, log: log, close: closeLog}, nil
}

// tenant picks the tenant named by -tenant (id or name, any case); with one
// tenant the flag is optional.
func (o *operator) tenant(want string) (sophos.Tenant, error) {
	if want == "" {
		if len(o.tenants) == 1 {
			return o.tenants[0], nil
		}
		var names []string
		for _, t := range o.tenants {
			names = append(names, t.Label())
		}
		return sophos.Tenant{}, usageError{fmt.Sprintf("these credentials reach %d tenants: choose one with -tenant ID|name (%s)", len(o.tenants), strings.Join(names, ", "))}
	}
	return sophos.FindTenant(o.tenants, want)
}

// listTenants is the tenants a list command covers: the one -tenant names
// (or the only one), else every tenant the credentials reach.
func (o *operator) listTenants(want string) ([]sophos.Tenant, error) {
	if want == "" && len(o.tenants) != 1 {
		return o.tenants, nil
	}
	t, err := o.tenant(want)
	if err != nil {
		return nil, err
	}
	return []sophos.Tenant{t}, nil
}

// operatorSub returns the builder of the "group action" subcommands of an
// operator command: each takes -tenant plus the flags it adds, and runs run.
func operatorSub[O any](group string, run func(a *app, ctx context.Context, g *globals, action string, o *O, args []string) error, tenant func(*O) *string) func(action, args, short, example string, flags func(fs *flag.FlagSet, o *O)) *command {
	return func(action, args, short, example string, flags func(fs *flag.FlagSet, o *O)) *command {
		return &command{
			Name: group + " " + action, Args: args, Short: short, Example: example,
			Setup: func(fs *flag.FlagSet) runFunc {
				o := new(O)
				fs.StringVar(tenant(o), "tenant", "", "tenant id or name (partner/organization credentials)")
				if flags != nil {
					flags(fs, o)
				}
				return func(a *app, ctx context.Context, g *globals, args []string) error {
					return run(a, ctx, g, action, o, args)
				}
			},
		}
	}
}

// writeJSON prints v as indented JSON.
func (a *app) writeJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// resolveEndpoint is sophos.Client.ResolveEndpoint.
func (o *operator) resolveEndpoint(ctx context.Context, t sophos.Tenant, ref string) (*sophos.Endpoint, error) {
	return o.client.ResolveEndpoint(ctx, t, ref)
}

// endpointOpts are the endpoints commands' flags.
type endpointOpts struct {
	tenant, comment, health, isolation, typ, search, online string
	asJSON, showPassword                                    bool
}

func endpointsCmd() *command {
	sub := operatorSub("endpoints", (*app).runEndpoints, func(o *endpointOpts) *string { return &o.tenant })
	return &command{
		Name: "endpoints", Args: "list|isolate|unisolate|scan|update-check|tamper ...",
		Short:   "the seed's endpoint tasks: health status check, isolation, scans, update checks, tamper protection",
		Long:    "Every endpoints command takes -tenant ID|NAME for partner and organization credentials.",
		Example: "sophos-connect endpoints list -health bad,suspicious\nsophos-connect endpoints isolate web-01 -comment \"incident 4711\"",
		Subs: []*command{
			sub("list", "[-health bad,suspicious] [-isolation isolated|notIsolated] [-type computer,server] [-search NAME] [-online true|false] [-json]",
				"health status check of every endpoint (every tenant with partner credentials)",
				"sophos-connect endpoints list -health bad,suspicious -online true\nsophos-connect endpoints list -tenant Acme -json",
				func(fs *flag.FlagSet, o *endpointOpts) {
					fs.StringVar(&o.health, "health", "", "health status filter: bad,suspicious,good,unknown")
					fs.StringVar(&o.isolation, "isolation", "", "isolated | notIsolated")
					fs.StringVar(&o.typ, "type", "", "computer,server")
					fs.StringVar(&o.search, "search", "", "hostname contains")
					fs.StringVar(&o.online, "online", "", "true | false")
					fs.BoolVar(&o.asJSON, "json", false, "print JSON instead of a table")
				}),
			sub("isolate", "ID|HOSTNAME... [-comment C]", "isolate endpoints from the network (state checked first)",
				"sophos-connect endpoints isolate web-01 db-02 -comment \"incident 4711\"",
				func(fs *flag.FlagSet, o *endpointOpts) {
					fs.StringVar(&o.comment, "comment", "", "isolation comment")
				}),
			sub("unisolate", "ID|HOSTNAME... [-comment C]", "take endpoints out of isolation",
				"sophos-connect endpoints unisolate web-01 -comment \"cleaned\"",
				func(fs *flag.FlagSet, o *endpointOpts) {
					fs.StringVar(&o.comment, "comment", "", "isolation comment")
				}),
			sub("scan", "ID|HOSTNAME", "start a scan on one endpoint", "sophos-connect endpoints scan web-01", nil),
			sub("update-check", "ID|HOSTNAME", "start an update check on one endpoint", "sophos-connect endpoints update-check web-01", nil),
			sub("tamper", "ID|HOSTNAME on|off|show [-show-password]", "show or change tamper protection",
				"sophos-connect endpoints tamper web-01 show\nsophos-connect endpoints tamper web-01 on",
				func(fs *flag.FlagSet, o *endpointOpts) {
					fs.BoolVar(&o.showPassword, "show-password", false, "with show: also print the tamper protection password")
				}),
		},
	}
}

func (a *app) runEndpoints(ctx context.Context, g *globals, action string, o *endpointOpts, rest []string) error {
	tenantRef, comment, health, isolation, typ, search, online := o.tenant, o.comment, o.health, o.isolation, o.typ, o.search, o.online
	asJSON, showPassword := o.asJSON, o.showPassword
	op, err := a.newOperator(ctx, g)
	if err != nil {
		return err
	}
	defer op.close()
	switch action {
	case "list":
		if len(rest) > 0 {
			return usageError{"endpoints list takes filters as flags, not arguments"}
		}
		f := sophos.EndpointFilter{HealthStatus: csv(health), Type: csv(typ), IsolationStatus: isolation, HostnameContains: search, View: sophos.ViewFull}
		if online != "" {
			v := online == "true"
			if online != "true" && online != "false" {
				return usageError{"-online: use true or false"}
			}
			f.Online = &v
		}
		tenants, err := op.listTenants(tenantRef)
		if err != nil {
			return err
		}
		return a.listEndpoints(ctx, op, tenants, f, asJSON)
	case "isolate", "unisolate":
		if len(rest) == 0 {
			return usageError{"endpoints " + action + ": give one or more endpoint ids or hostnames"}
		}
		t, err := op.tenant(tenantRef)
		if err != nil {
			return err
		}
		return a.isolate(ctx, op, t, rest, action == "isolate", comment)
	case "scan", "update-check":
		if len(rest) != 1 {
			return usageError{"endpoints " + action + ": give one endpoint id or hostname"}
		}
		t, err := op.tenant(tenantRef)
		if err != nil {
			return err
		}
		e, err := op.resolveEndpoint(ctx, t, rest[0])
		if err != nil {
			return err
		}
		var task *sophos.EndpointTask
		if action == "scan" {
			task, err = op.client.Scan(ctx, t, e.ID)
		} else {
			task, err = op.client.UpdateCheck(ctx, t, e.ID)
		}
		if err != nil {
			return err
		}
		a.say(op, fmt.Sprintf("%s requested for %s (%s): task %s, status %s, requested at %s", action, e.Hostname, e.ID, task.ID, task.Status, task.RequestedAt))
		return nil
	case "tamper":
		if len(rest) != 2 {
			return usageError{"endpoints tamper ID on|off|show"}
		}
		t, err := op.tenant(tenantRef)
		if err != nil {
			return err
		}
		return a.tamper(ctx, op, t, rest[0], rest[1], showPassword)
	}
	return usageError{fmt.Sprintf("endpoints: unknown action %q: use list, isolate, unisolate, scan, update-check or tamper", action)}
}

func csv(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (a *app) listEndpoints(ctx context.Context, op *operator, tenants []sophos.Tenant, f sophos.EndpointFilter, asJSON bool) error {
	type row struct {
		tenant sophos.Tenant
		e      sophos.Endpoint
	}
	var rows []row
	for _, t := range tenants {
		op.log.Log(ctx, pipeline.LevelVerbose, fmt.Sprintf("Initiating Health Status Query %s.", f.String()))
		if len(tenants) > 1 {
			op.log.Log(ctx, pipeline.LevelVerbose, "(tenant "+t.Label()+" "+t.ID+")")
		}
		list, err := op.client.ListEndpoints(ctx, t, f)
		if err != nil {
			return err
		}
		for _, e := range list {
			rows = append(rows, row{t, e})
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].tenant.Label() != rows[j].tenant.Label() {
			return rows[i].tenant.Label() < rows[j].tenant.Label()
		}
		return strings.ToLower(rows[i].e.Hostname) < strings.ToLower(rows[j].e.Hostname)
	})
	if asJSON {
		list := make([]sophos.Endpoint, 0, len(rows))
		for _, r := range rows {
			list = append(list, r.e)
		}
		return a.writeJSON(list)
	}
	writeEndpointTable(a.stdout, len(tenants) > 1, func(yield func(sophos.Tenant, sophos.Endpoint)) {
		for _, r := range rows {
			yield(r.tenant, r.e)
		}
	}, time.Now())
	return nil
}

// writeEndpointTable prints the health status check as an aligned table.
func writeEndpointTable(w io.Writer, withTenant bool, each func(func(sophos.Tenant, sophos.Endpoint)), now time.Time) {
	header := []string{"HOSTNAME", "TYPE", "OS", "IP", "ONLINE", "HEALTH", "THREATS", "SERVICES", "ISOLATION", "TAMPER", "LAST SEEN", "ID"}
	if withTenant {
		header = append([]string{"TENANT"}, header...)
	}
	tw := texttable.New(w, header...)
	n := 0
	each(func(t sophos.Tenant, e sophos.Endpoint) {
		n++
		iso := "-"
		if e.Isolation != nil {
			iso = e.Isolation.Status
		}
		tamper := "-"
		if e.TamperProtectionEnabled != nil {
			tamper = map[bool]string{true: "on", false: "off"}[*e.TamperProtectionEnabled]
		}
		osName := strings.TrimSpace(e.OS.Name)
		if osName == "" {
			osName = e.OS.Platform
		}
		seen := "-"
		if ls := e.LastSeen(); !ls.IsZero() {
			seen = ls.In(now.Location()).Format(texttable.TimeLayout) + " (" + texttable.Ago(now.Sub(ls)) + ")"
		}
		ip := "-"
		if len(e.IPv4Addresses) > 0 {
			ip = strings.Join(e.IPv4Addresses, ",")
		} else if len(e.IPv6Addresses) > 0 {
			ip = strings.Join(e.IPv6Addresses, ",")
		}
		online := "-"
		if e.Online != nil {
			online = map[bool]string{true: "yes", false: "no"}[*e.Online]
		}
		cells := []string{e.Hostname, e.Type, orDash(osName), ip, online, orDash(e.Health.Overall), orDash(e.Health.Threats.Status), orDash(e.Health.Services.Status), iso, tamper, seen, e.ID}
		if withTenant {
			cells = append([]string{t.Label()}, cells...)
		}
		tw.Row(cells...)
	})
	tw.Flush()
	fmt.Fprintf(w, "%d endpoint(s)\n", n)
}

// isolate checks each endpoint's state first, reports the ones already in
// the wanted state, and changes the rest in one bulk call.
func (a *app) isolate(ctx context.Context, op *operator, t sophos.Tenant, refs []string, on bool, comment string) error {
	var ids []string
	var names []string
	for _, ref := range refs {
		e, err := op.resolveEndpoint(ctx, t, ref)
		if err != nil {
			return err
		}
		status := "notIsolated"
		if e.Isolation != nil && e.Isolation.Status != "" {
			status = e.Isolation.Status
		}
		switch {
		case on && status == "isolated":
			a.say(op, fmt.Sprintf("%s is already isolated", e.Hostname))
			continue
		case !on && status == "notIsolated":
			a.say(op, fmt.Sprintf("%s is already out of isolation mode.", e.Hostname))
			continue
		}
		a.say(op, fmt.Sprintf("The current status of %s is %s.", e.Hostname, status))
		ids = append(ids, e.ID)
		names = append(names, e.Hostname)
	}
	if len(ids) == 0 {
		return nil
	}
	res, err := op.client.SetIsolation(ctx, t, ids, on, comment)
	if errors.Is(err, sophos.ErrIsolationInProgress) {
		return fmt.Errorf("an isolation change of %s is still in progress (409): Sophos asks to wait between turning isolation on and off — try again in a minute", strings.Join(names, ", "))
	}
	if err != nil {
		return err
	}
	verb := map[bool]string{true: "isolation requested", false: "removal from isolation requested"}[on]
	for i, r := range res {
		name := r.ID
		if i < len(names) {
			name = names[i]
		}
		a.say(op, fmt.Sprintf("%s: %s (enabled=%v, comment=%q)", name, verb, r.Isolation.Enabled, r.Isolation.Comment))
	}
	return nil
}

// say prints a task note and logs it at INFO, as the seed did.
func (a *app) say(op *operator, msg string) {
	op.log.Info(msg)
	fmt.Fprintln(a.stdout, msg)
}

func (a *app) tamper(ctx context.Context, op *operator, t sophos.Tenant, ref, what string, showPassword bool) error {
	e, err := op.resolveEndpoint(ctx, t, ref)
	if err != nil {
		return err
	}
	cur, err := op.client.TamperProtection(ctx, t, e.ID)
	if err != nil {
		return err
	}
	switch what {
	case "show":
		state := map[bool]string{true: "enabled", false: "disabled"}[cur.Enabled]
		a.say(op, fmt.Sprintf("Tamper Protection is currently %s for %s (%s).", state, e.Hostname, e.ID))
		if showPassword {
			// Printed on request only; never logged.
			fmt.Fprintf(a.stdout, "password: %s\n", cur.Password)
		}
		return nil
	case "on", "off":
		want := what == "on"
		if cur.Enabled == want {
			a.say(op, fmt.Sprintf("Tamper Protection is already %s for %s.", map[bool]string{true: "enabled", false: "disabled"}[want], e.ID))
			return nil
		}
		if want {
			global, err := op.client.GlobalTamperProtection(ctx, t)
			if err != nil {
				return err
			}
			if !global {
				return fmt.Errorf("tamper protection is off for the whole tenant %s: turn it on globally in Sophos Central (Global Settings › Tamper Protection) before enabling it on %s", t.Label(), e.Hostname)
			}
		}
		res, err := op.client.SetTamperProtection(ctx, t, e.ID, &want, false)
		if err != nil {
			return err
		}
		a.say(op, fmt.Sprintf("Tamper Protection is now %s for %s (%s).", map[bool]string{true: "enabled", false: "disabled"}[res.Enabled], e.Hostname, e.ID))
		return nil
	}
	return usageError{"endpoints tamper ID on|off|show"}
}
