package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/sources/sophos"
)

func (a *app) cmdAlerts(ctx context.Context, g *globals, args []string) error {
	if len(args) == 0 {
		return usageError{"alerts: use list, ack or action"}
	}
	action, args := args[0], args[1:]
	var tenantRef, severity, category, product, from, to, message string
	var asJSON bool
	rest, err := subFlags("alerts "+action, g, args, func(fs *flag.FlagSet) {
		fs.StringVar(&tenantRef, "tenant", "", "tenant id or name (partner/organization credentials)")
		switch action {
		case "list":
			fs.StringVar(&severity, "severity", "", "high,medium,low")
			fs.StringVar(&category, "category", "", "e.g. malware,pua,runtimeDetections")
			fs.StringVar(&product, "product", "", "e.g. endpoint,server")
			fs.StringVar(&from, "from", "", "raised at or after: RFC 3339 time or a duration ago (6h)")
			fs.StringVar(&to, "to", "", "raised before: RFC 3339 time or a duration ago")
			fs.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
		case "action":
			fs.StringVar(&message, "message", "", "optional message for the action")
		}
	})
	if err != nil {
		return err
	}
	op, err := a.newOperator(ctx, g)
	if err != nil {
		return err
	}
	defer op.close()
	t, err := op.tenant(tenantRef)
	if err != nil {
		return err
	}
	switch action {
	case "list":
		f := sophos.AlertFilter{Severity: csv(severity), Category: csv(category), Product: csv(product), Sort: []string{"raisedAt:desc"}}
		now := time.Now()
		if f.From, err = parseWhen(from, now); err != nil {
			return usageError{"-from: " + err.Error()}
		}
		if f.To, err = parseWhen(to, now); err != nil {
			return usageError{"-to: " + err.Error()}
		}
		list, err := op.client.ListAlerts(ctx, t, f)
		if err != nil {
			return err
		}
		if asJSON {
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(list)
		}
		tw := newTable(a.stdout, "RAISED", "SEVERITY", "CATEGORY", "TYPE", "ALLOWED ACTIONS", "ID", "DESCRIPTION")
		for _, al := range list {
			desc := al.Description
			if len(desc) > 80 {
				desc = desc[:77] + "..."
			}
			tw.row(al.RaisedTime().UTC().Format("2006-01-02 15:04:05"), al.Severity, al.Category, al.Type, strings.Join(al.AllowedActions, ","), al.ID, desc)
		}
		tw.flush()
		fmt.Fprintf(a.stdout, "%d alert(s)\n", len(list))
		return nil
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
