package main

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/internal/texttable"
	"github.com/sophos-connect/sophos-connect/sources/sophos"
)

// alertOpts are the alerts commands' flags.
type alertOpts struct {
	tenant, severity, category, product, from, to, message string
	asJSON                                                 bool
}

func alertsCmd() *command {
	sub := operatorSub("alerts", (*app).runAlerts, func(o *alertOpts) *string { return &o.tenant })
	return &command{
		Name: "alerts", Args: "list|ack|action ...", Short: "Common API alerts: list, acknowledge, act (only actions the alert allows)",
		Long:    "Every alerts command takes -tenant ID|NAME for partner and organization credentials.",
		Example: "sophos-connect alerts list -severity high -from 6h\nsophos-connect alerts ack 6c9e1a2b-0000-4000-8000-000000000001",
		Subs: []*command{
			sub("list", "[-severity high,medium] [-category C] [-product P] [-from 6h] [-to T] [-json]",
				"list open alerts (every tenant with partner credentials, with a TENANT column)",
				"sophos-connect alerts list -severity high,medium -from 6h\nsophos-connect alerts list -tenant Acme -json",
				func(fs *flag.FlagSet, o *alertOpts) {
					fs.StringVar(&o.severity, "severity", "", "high,medium,low")
					fs.StringVar(&o.category, "category", "", "e.g. malware,pua,runtimeDetections")
					fs.StringVar(&o.product, "product", "", "e.g. endpoint,server")
					fs.StringVar(&o.from, "from", "", "raised at or after: RFC 3339 time or a duration ago (6h)")
					fs.StringVar(&o.to, "to", "", "raised before: RFC 3339 time or a duration ago")
					fs.BoolVar(&o.asJSON, "json", false, "print JSON instead of a table")
				}),
			sub("ack", "ID", "acknowledge one alert", "sophos-connect alerts ack 6c9e1a2b-0000-4000-8000-000000000001", nil),
			sub("action", "ID ACTION [-message M]", "perform one of the alert's allowed actions",
				"sophos-connect alerts action 6c9e1a2b-0000-4000-8000-000000000001 clearThreat -message \"cleaned\"",
				func(fs *flag.FlagSet, o *alertOpts) {
					fs.StringVar(&o.message, "message", "", "optional message for the action")
				}),
		},
	}
}

func (a *app) runAlerts(ctx context.Context, g *globals, action string, o *alertOpts, rest []string) error {
	tenantRef, severity, category, product, from, to, message := o.tenant, o.severity, o.category, o.product, o.from, o.to, o.message
	asJSON := o.asJSON
	op, err := a.newOperator(ctx, g)
	if err != nil {
		return err
	}
	defer op.close()
	if action == "list" {
		if len(rest) > 0 {
			return usageError{"alerts list takes filters as flags, not arguments"}
		}
		f := sophos.AlertFilter{Severity: csv(severity), Category: csv(category), Product: csv(product), Sort: []string{"raisedAt:desc"}}
		now := time.Now()
		if f.From, err = parseWhen(from, now); err != nil {
			return usageError{"-from: " + err.Error()}
		}
		if f.To, err = parseWhen(to, now); err != nil {
			return usageError{"-to: " + err.Error()}
		}
		tenants, err := op.listTenants(tenantRef)
		if err != nil {
			return err
		}
		return a.listAlerts(ctx, op, tenants, f, asJSON)
	}
	t, err := op.tenant(tenantRef)
	if err != nil {
		return err
	}
	switch action {
	case "ack", "action":
		want := 1
		if action == "action" {
			want = 2
		}
		if len(rest) != want {
			return usageError{map[string]string{"ack": "alerts ack ID", "action": "alerts action ID ACTION [-message M]"}[action]}
		}
		act := "acknowledge"
		if action == "action" {
			act = rest[1]
		}
		al, err := op.client.GetAlert(ctx, t, rest[0])
		if err != nil {
			return err
		}
		if !al.Allows(act) {
			return fmt.Errorf("alert %s does not allow %q: its allowed actions are %s", al.ID, act, strings.Join(al.AllowedActions, ", "))
		}
		res, err := op.client.ActOnAlert(ctx, t, al.ID, act, message)
		if err != nil {
			return err
		}
		a.say(op, fmt.Sprintf("%s requested for alert %s (%s): action %s, status %s", act, al.ID, al.Type, res.ID, res.Status))
		return nil
	}
	return usageError{fmt.Sprintf("alerts: unknown action %q: use list, ack or action", action)}
}

// listAlerts prints the alerts of every tenant given, newest first; with
// more than one tenant the table has a TENANT column (JSON items a "tenant"
// object).
func (a *app) listAlerts(ctx context.Context, op *operator, tenants []sophos.Tenant, f sophos.AlertFilter, asJSON bool) error {
	type row struct {
		tenant sophos.Tenant
		al     sophos.Alert
	}
	var rows []row
	for _, t := range tenants {
		list, err := op.client.ListAlerts(ctx, t, f)
		if err != nil {
			return fmt.Errorf("tenant %s: %w", t.Label(), err)
		}
		for _, al := range list {
			rows = append(rows, row{t, al})
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].al.RaisedTime().After(rows[j].al.RaisedTime()) })
	if asJSON {
		type item struct {
			Tenant struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"tenant"`
			sophos.Alert
		}
		list := make([]item, 0, len(rows))
		for _, r := range rows {
			var it item
			it.Tenant.ID, it.Tenant.Name = r.tenant.ID, r.tenant.Label()
			it.Alert = r.al
			list = append(list, it)
		}
		return a.writeJSON(list)
	}
	header := []string{"RAISED", "SEVERITY", "CATEGORY", "TYPE", "ALLOWED ACTIONS", "ID", "DESCRIPTION"}
	multi := len(tenants) > 1
	if multi {
		header = append([]string{"TENANT"}, header...)
	}
	tw := texttable.New(a.stdout, header...)
	for _, r := range rows {
		al := r.al
		cells := []string{al.RaisedTime().Local().Format(texttable.TimeLayout), al.Severity, al.Category, al.Type, strings.Join(al.AllowedActions, ","), al.ID, al.Description}
		if multi {
			cells = append([]string{r.tenant.Label()}, cells...)
		}
		tw.Row(cells...)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%d alert(s)\n", len(rows))
	return nil
}

// parseWhen reads an RFC 3339 time or a duration ago ("" = zero time).
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: use an RFC 3339 time or a duration such as 6h", s)
	}
	return t, nil
}
