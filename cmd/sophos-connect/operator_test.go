package main

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/sources/sophos"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestEndpointTableGolden renders the reference's sample endpoints page.
func TestEndpointTableGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/endpoints_page.json")
	if err != nil {
		t.Fatal(err)
	}
	var page struct{ Items []sophos.Endpoint }
	if err := json.Unmarshal(b, &page); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	now := time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)
	writeEndpointTable(&out, false, func(yield func(sophos.Tenant, sophos.Endpoint)) {
		for _, e := range page.Items {
			yield(sophos.Tenant{}, e)
		}
	}, now)
	golden := "testdata/endpoints_table.golden"
	if *update {
		os.WriteFile(golden, []byte(out.String()), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Fatalf("table differs from %s:\n%s", golden, out.String())
	}
}

func operatorSetup(t *testing.T, o emulator.Options) (*emulator.Server, string, *sophos.Client) {
	t.Helper()
	emu := newEmu(t, o)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "log_level: VERBOSE\n")
	client, err := sophos.NewClient(sophos.Config{ClientID: testClientID, ClientSecret: testClientSecret, AuthURL: emu.AuthURL(), APIHost: emu.URL()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return emu, cfg, client
}

func TestEndpointsList(t *testing.T) {
	_, cfg, client := operatorSetup(t, emulator.Options{})
	ctx := ctxT(t)
	tenants, _ := client.Tenants(ctx)
	all, err := client.ListEndpoints(ctx, tenants[0], sophos.EndpointFilter{View: sophos.ViewFull})
	if err != nil || len(all) < 3 {
		t.Fatalf("%d endpoints, %v", len(all), err)
	}
	code, out, errOut := runApp(t, ctx, "endpoints", "list", "-c", cfg)
	if code != 0 {
		t.Fatal(errOut)
	}
	if !strings.HasPrefix(out, "HOSTNAME") || !strings.Contains(out, len2(all)+" endpoint(s)") {
		t.Fatalf("table:\n%s", out)
	}
	for _, e := range all {
		if !strings.Contains(out, e.Hostname) {
			t.Fatalf("%s missing from\n%s", e.Hostname, out)
		}
	}
	// Filters reach the API: only bad or suspicious endpoints.
	code, out, _ = runApp(t, ctx, "endpoints", "list", "-health", "bad,suspicious", "-json", "-c", cfg)
	var got []sophos.Endpoint
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil {
		t.Fatalf("json output: %d %s", code, out)
	}
	for _, e := range got {
		if e.Health.Overall != "bad" && e.Health.Overall != "suspicious" {
			t.Fatalf("filter ignored: %s is %s", e.Hostname, e.Health.Overall)
		}
	}
	// The health status check is logged at VERBOSE as in the seed.
	log, _ := os.ReadFile(filepath.Join(filepath.Dir(cfg), "Sophos_log.log"))
	if !strings.Contains(string(log), "Initiating Health Status Query {") {
		t.Fatalf("no VERBOSE health query line in the log:\n%s", log)
	}
}

func len2(x []sophos.Endpoint) string { return strconv.Itoa(len(x)) }

func TestEndpointsIsolateFlow(t *testing.T) {
	_, cfg, client := operatorSetup(t, emulator.Options{IsolationDelay: time.Hour})
	ctx := ctxT(t)
	tenants, _ := client.Tenants(ctx)
	list, _ := client.ListEndpoints(ctx, tenants[0], sophos.EndpointFilter{View: sophos.ViewFull, IsolationStatus: "notIsolated"})
	if len(list) == 0 {
		t.Fatal("no endpoint to isolate")
	}
	host := list[0].Hostname
	// By hostname; the state is checked first.
	code, out, errOut := runApp(t, ctx, "endpoints", "isolate", host, "-comment", "SOC ticket 42", "-c", cfg)
	if code != 0 || !strings.Contains(out, "The current status of "+host+" is notIsolated.") || !strings.Contains(out, "isolation requested") {
		t.Fatalf("isolate: %d\n%s%s", code, out, errOut)
	}
	// Another toggle while the first is in progress → 409 with a clear message.
	code, _, errOut = runApp(t, ctx, "endpoints", "isolate", list[0].ID, "-c", cfg)
	if code == 0 || !strings.Contains(errOut, "still in progress") {
		t.Fatalf("409 not reported: %d %s", code, errOut)
	}
	// Unknown endpoint → 404 named.
	code, _, errOut = runApp(t, ctx, "endpoints", "scan", "00000000-0000-4000-8000-000000000000", "-c", cfg)
	if code != 1 || !strings.Contains(errOut, "404") {
		t.Fatalf("404: %d %s", code, errOut)
	}
	code, _, errOut = runApp(t, ctx, "endpoints", "scan", "no-such-host", "-c", cfg)
	if code != 1 || !strings.Contains(errOut, `no endpoint named "no-such-host"`) {
		t.Fatalf("unknown hostname: %d %s", code, errOut)
	}
}

func TestEndpointsIsolateAlreadyAndTasks(t *testing.T) {
	_, cfg, client := operatorSetup(t, emulator.Options{IsolationDelay: -1})
	ctx := ctxT(t)
	tenants, _ := client.Tenants(ctx)
	iso, _ := client.ListEndpoints(ctx, tenants[0], sophos.EndpointFilter{View: sophos.ViewFull, IsolationStatus: "isolated"})
	if len(iso) > 0 {
		code, out, _ := runApp(t, ctx, "endpoints", "isolate", iso[0].ID, "-c", cfg)
		if code != 0 || !strings.Contains(out, iso[0].Hostname+" is already isolated") {
			t.Fatalf("already isolated: %d %s", code, out)
		}
	}
	all, _ := client.ListEndpoints(ctx, tenants[0], sophos.EndpointFilter{View: sophos.ViewFull})
	id := all[0].ID
	for _, task := range []string{"scan", "update-check"} {
		code, out, errOut := runApp(t, ctx, "endpoints", task, id, "-c", cfg)
		if code != 0 || !strings.Contains(out, task+" requested for") || !strings.Contains(out, "status requested") {
			t.Fatalf("%s: %d %s %s", task, code, out, errOut)
		}
	}
	code, out, _ := runApp(t, ctx, "endpoints", "tamper", id, "show", "-c", cfg)
	if code != 0 || !strings.Contains(out, "Tamper Protection is currently") || strings.Contains(out, "password") {
		t.Fatalf("tamper show: %d %s", code, out)
	}
}

func TestEndpointsTamperNeedsGlobal(t *testing.T) {
	_, cfg, client := operatorSetup(t, emulator.Options{Seed: 3})
	ctx := ctxT(t)
	tenants, _ := client.Tenants(ctx)
	global, err := client.GlobalTamperProtection(ctx, tenants[0])
	if err != nil {
		t.Fatal(err)
	}
	all, _ := client.ListEndpoints(ctx, tenants[0], sophos.EndpointFilter{View: sophos.ViewFull})
	for _, e := range all {
		if e.TamperProtectionEnabled != nil && !*e.TamperProtectionEnabled {
			code, out, errOut := runApp(t, ctx, "endpoints", "tamper", e.ID, "on", "-c", cfg)
			if global {
				if code != 0 || !strings.Contains(out, "now enabled") {
					t.Fatalf("tamper on: %d %s %s", code, out, errOut)
				}
			} else if code == 0 || !strings.Contains(errOut, "turn it on globally") {
				t.Fatalf("tamper on with global off: %d %s", code, errOut)
			}
			return
		}
	}
	t.Skip("no endpoint with tamper protection off in this seed")
}

func TestAlertsCommands(t *testing.T) {
	emu, cfg, client := operatorSetup(t, emulator.Options{Alerts: 20})
	ctx := ctxT(t)
	tenants, _ := client.Tenants(ctx)
	alerts, err := client.ListAlerts(ctx, tenants[0], sophos.AlertFilter{})
	if err != nil || len(alerts) == 0 {
		t.Fatalf("%d alerts %v", len(alerts), err)
	}
	code, out, errOut := runApp(t, ctx, "alerts", "list", "-c", cfg)
	if code != 0 || !strings.Contains(out, alerts[0].ID) {
		t.Fatalf("alerts list: %d %s %s", code, out, errOut)
	}
	code, out, _ = runApp(t, ctx, "alerts", "list", "-severity", "high", "-json", "-c", cfg)
	var high []sophos.Alert
	if code != 0 || json.Unmarshal([]byte(out), &high) != nil {
		t.Fatalf("json: %s", out)
	}
	for _, a := range high {
		if a.Severity != "high" {
			t.Fatalf("severity filter ignored: %s", a.Severity)
		}
	}
	target := alerts[0]
	// An action the alert does not allow: refused, listing the allowed ones.
	code, _, errOut = runApp(t, ctx, "alerts", "action", target.ID, "clearThreatNope", "-c", cfg)
	if code != 1 || !strings.Contains(errOut, "allowed actions are "+strings.Join(target.AllowedActions, ", ")) {
		t.Fatalf("not-allowed action: %d %s", code, errOut)
	}
	code, out, errOut = runApp(t, ctx, "alerts", "ack", target.ID, "-c", cfg)
	if code != 0 || !strings.Contains(out, "acknowledge requested") || !emu.Acknowledged(target.ID) {
		t.Fatalf("ack: %d %s %s", code, out, errOut)
	}
	code, _, errOut = runApp(t, ctx, "alerts", "ack", "00000000-0000-4000-8000-000000000000", "-c", cfg)
	if code != 1 || !strings.Contains(errOut, "404") {
		t.Fatalf("unknown alert: %d %s", code, errOut)
	}
}

func TestOperatorNeedsTenantWithPartner(t *testing.T) {
	emu, cfg, _ := operatorSetup(t, emulator.Options{Partner: true, Tenants: 2})
	ctx := ctxT(t)
	code, _, errOut := runApp(t, ctx, "alerts", "ack", "00000000-0000-4000-8000-000000000000", "-c", cfg)
	if code != 2 || !strings.Contains(errOut, "-tenant") {
		t.Fatalf("no -tenant with 2 tenants: %d %s", code, errOut)
	}
	// alerts list without -tenant covers every tenant, with a TENANT column.
	code, out, errOut := runApp(t, ctx, "alerts", "list", "-c", cfg)
	if code != 0 || !strings.HasPrefix(out, "TENANT") {
		t.Fatalf("all-tenant alerts list: %d %s %s", code, out, errOut)
	}
	seen := map[string]bool{}
	for _, l := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(l); len(f) > 2 && f[len(f)-1] != "alert(s)" {
			seen[f[0]] = true
		}
	}
	if len(seen) != 2 {
		t.Errorf("alerts list shows %d tenants, want 2:\n%s", len(seen), out)
	}
	code, out, errOut = runApp(t, ctx, "alerts", "list", "-json", "-c", cfg)
	var items []struct {
		ID     string
		Tenant struct{ ID, Name string }
	}
	if err := json.Unmarshal([]byte(out), &items); code != 0 || err != nil || len(items) == 0 {
		t.Fatalf("alerts list -json: %d %v %s", code, err, errOut)
	}
	byTenant := map[string]int{}
	for _, it := range items {
		byTenant[it.Tenant.ID]++
	}
	for _, id := range emu.TenantIDs() {
		if byTenant[id] == 0 {
			t.Errorf("alerts list -json has no alert of tenant %s: %v", id, byTenant)
		}
	}
	tid := emu.TenantIDs()[1]
	if code, _, errOut := runApp(t, ctx, "alerts", "list", "-tenant", tid, "-c", cfg); code != 0 {
		t.Fatalf("-tenant id: %s", errOut)
	}
	// endpoints list without -tenant covers every tenant, with a TENANT column.
	code, out, _ = runApp(t, ctx, "endpoints", "list", "-c", cfg)
	if code != 0 || !strings.HasPrefix(out, "TENANT") || !strings.Contains(out, "IP") || !strings.Contains(out, "ONLINE") {
		t.Fatalf("all-tenant list: %d %s", code, out)
	}
}
