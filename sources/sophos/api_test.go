package sophos

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// TestCommonAlerts: list through every page, filters, search, get,
// actions (201), acknowledge, and the typed errors.
func TestCommonAlerts(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 400, Alerts: 75})
	c, _ := newTestClient(t, emu, nil)
	tn := oneTenant(t, c)
	ctx := testCtx(t)

	all, err := c.ListAlerts(ctx, tn, AlertFilter{PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range all {
		got = append(got, a.ID)
		if a.Type == "" || a.Severity == "" || a.RaisedAt == "" || a.RaisedTime().IsZero() || a.Tenant.ID != tn.ID || len(a.AllowedActions) == 0 || len(a.Raw) == 0 {
			t.Fatalf("alert not decoded: %+v", a)
		}
	}
	if !sameSet(got, emu.AllIDs(tn.ID, "alert")) || len(got) != 75 {
		t.Fatalf("%d alerts, want the emulator's 75", len(got))
	}
	if n := emu.Requests()["GET /common/v1/alerts 200"]; n != 8 { // 75 at 10 per page
		t.Fatalf("%d pages, want 8", n)
	}
	// Unknown fields stay reachable, and -json output is the alert as sent.
	var m map[string]any
	if err := json.Unmarshal(all[0].Raw, &m); err != nil || m["groupKey"] == nil {
		t.Fatalf("raw %s", all[0].Raw)
	}
	if b, _ := json.Marshal(all[0]); string(b) != string(all[0].Raw) {
		t.Fatalf("MarshalJSON: %s", b)
	}

	high, err := c.ListAlerts(ctx, tn, AlertFilter{Severity: []string{"high"}, PageSize: 7})
	if err != nil || len(high) == 0 || len(high) >= len(all) {
		t.Fatalf("severity filter: %d of %d: %v", len(high), len(all), err)
	}
	for _, a := range high {
		if a.Severity != "high" {
			t.Fatalf("severity %s", a.Severity)
		}
	}
	cat := all[0].Category
	byCat, err := c.ListAlerts(ctx, tn, AlertFilter{Category: []string{cat}, Product: []string{all[0].Product}})
	if err != nil || len(byCat) == 0 || !slices.ContainsFunc(byCat, func(a Alert) bool { return a.ID == all[0].ID }) {
		t.Fatalf("category filter: %v", err)
	}
	for _, a := range byCat {
		if a.Category != cat {
			t.Fatalf("category %s, want %s", a.Category, cat)
		}
	}
	mid := all[len(all)/2].RaisedTime()
	later, err := c.ListAlerts(ctx, tn, AlertFilter{From: mid, To: time.Now().Add(time.Minute)})
	if err != nil || len(later) == 0 || len(later) >= len(all) {
		t.Fatalf("from/to: %d of %d: %v", len(later), len(all), err)
	}
	for _, a := range later {
		if a.RaisedTime().Before(mid) {
			t.Fatalf("raised %s before from %s", a.RaisedAt, mid)
		}
	}
	two, err := c.ListAlerts(ctx, tn, AlertFilter{IDs: []string{all[3].ID, all[5].ID}})
	if err != nil || len(two) != 2 {
		t.Fatalf("ids filter: %d %v", len(two), err)
	}
	searched, err := c.SearchAlerts(ctx, tn, AlertFilter{Severity: []string{"high"}, PageSize: 7})
	if err != nil || !slices.EqualFunc(searched, high, func(a, b Alert) bool { return a.ID == b.ID }) {
		t.Fatalf("search differs from list: %d vs %d: %v", len(searched), len(high), err)
	}
	if emu.Requests()["POST /common/v1/alerts/search 200"] < 2 {
		t.Fatal("search did not page")
	}

	one, err := c.GetAlert(ctx, tn, all[0].ID)
	if err != nil || one.ID != all[0].ID || one.Description != all[0].Description {
		t.Fatalf("get: %+v %v", one, err)
	}
	_, err = c.GetAlert(ctx, tn, "00000000-0000-0000-0000-000000000000")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 404 || !strings.Contains(err.Error(), "check the id") {
		t.Fatalf("unknown alert: %v", err)
	}

	// Acknowledge one that allows it; a disallowed action is a 400 naming it.
	var ackable, other *Alert
	for i := range all {
		if all[i].Allows(ActionAcknowledge) && ackable == nil {
			ackable = &all[i]
		}
		if !all[i].Allows(ActionCleanPUA) && other == nil {
			other = &all[i]
		}
	}
	if ackable == nil || other == nil {
		t.Fatal("emulator data lacks the needed alerts")
	}
	res, err := c.Acknowledge(ctx, tn, ackable.ID)
	if err != nil || res.AlertID != ackable.ID || res.Action != ActionAcknowledge || res.ID == "" || res.Status == "" {
		t.Fatalf("acknowledge: %+v %v", res, err)
	}
	if !emu.Acknowledged(ackable.ID) || emu.Requests()["POST /common/v1/alerts/{id}/actions 201"] != 1 {
		t.Fatalf("not acknowledged: %v", emu.Requests())
	}
	after, err := c.ListAlerts(ctx, tn, AlertFilter{PageSize: 100})
	if err != nil || len(after) != len(all)-1 {
		t.Fatalf("acknowledged alert still listed: %d %v", len(after), err)
	}
	_, err = c.ActOnAlert(ctx, tn, other.ID, ActionCleanPUA, "remove it")
	if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(err.Error(), "not allowed") {
		t.Fatalf("disallowed action: %v", err)
	}
	if _, err := c.ActOnAlert(ctx, tn, other.ID, " ", ""); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty action: %v", err)
	}
}

// TestEndpoints: list with every filter through every page, get, views.
func TestEndpoints(t *testing.T) {
	emu := newEmu(t, emulator.Options{Partner: true, Tenants: 2, Events: 50, Alerts: 5})
	c, _ := newTestClient(t, emu, nil)
	ts, err := c.Tenants(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	tn := ts[1]
	ctx := testCtx(t)
	all, err := c.ListEndpoints(ctx, tn, EndpointFilter{PageSize: 3, View: ViewFull})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range all {
		got = append(got, e.ID)
		if e.Hostname == "" || e.Health.Overall == "" || e.OS.Platform == "" || e.Tenant.ID != tn.ID || e.Isolation == nil || len(e.Raw) == 0 {
			t.Fatalf("endpoint not decoded: %+v", e)
		}
	}
	if !sameSet(got, emu.EndpointIDs(tn.ID)) || len(got) < 4 {
		t.Fatalf("%d endpoints, want the emulator's %d", len(got), len(emu.EndpointIDs(tn.ID)))
	}
	if emu.Requests()["GET /endpoint/v1/endpoints 200"] < 2 {
		t.Fatal("list did not page")
	}
	yes, no := true, false
	e0 := all[0]
	check := func(name string, f EndpointFilter, keep func(Endpoint) bool) {
		t.Helper()
		f.View = ViewFull
		list, err := c.ListEndpoints(ctx, tn, f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var want []string
		for _, e := range all {
			if keep(e) {
				want = append(want, e.ID)
			}
		}
		if len(want) == 0 || len(want) == len(all) && name != "hostnameContains" {
			t.Fatalf("%s: selects %d of %d endpoints: the check proves nothing", name, len(want), len(all))
		}
		var ids []string
		for _, e := range list {
			ids = append(ids, e.ID)
		}
		if !sameSet(ids, want) || len(ids) != len(want) {
			t.Fatalf("%s: %d endpoints, want %d", name, len(ids), len(want))
		}
	}
	check("ids", EndpointFilter{IDs: []string{all[0].ID, all[2].ID}}, func(e Endpoint) bool { return e.ID == all[0].ID || e.ID == all[2].ID })
	check("healthStatus", EndpointFilter{HealthStatus: []string{e0.Health.Overall}}, func(e Endpoint) bool { return e.Health.Overall == e0.Health.Overall })
	check("type", EndpointFilter{Type: []string{"server"}}, func(e Endpoint) bool { return e.Type == "server" })
	check("isolationStatus", EndpointFilter{IsolationStatus: "notIsolated"}, func(e Endpoint) bool { return e.Isolation.Status == "notIsolated" })
	check("hostnameContains", EndpointFilter{HostnameContains: e0.Hostname[1:4]}, func(e Endpoint) bool {
		return strings.Contains(strings.ToLower(e.Hostname), strings.ToLower(e0.Hostname[1:4]))
	})
	check("online", EndpointFilter{Online: &yes}, func(e Endpoint) bool { return e.Online != nil && *e.Online })
	check("tamperProtectionEnabled", EndpointFilter{TamperProtectionEnabled: &no}, func(e Endpoint) bool {
		return e.TamperProtectionEnabled != nil && !*e.TamperProtectionEnabled
	})
	found, err := c.ListEndpoints(ctx, tn, EndpointFilter{Search: e0.Hostname, SearchFields: []string{"hostname"}})
	if err != nil || !slices.ContainsFunc(found, func(e Endpoint) bool { return e.ID == e0.ID }) {
		t.Fatalf("search: %v", err)
	}
	basic, err := c.ListEndpoints(ctx, tn, EndpointFilter{View: ViewBasic})
	if err != nil || len(basic) != len(all) || basic[0].Hostname == "" || basic[0].Health.Overall != "" {
		t.Fatalf("basic view: %+v %v", basic[0], err)
	}
	_, err = c.ListEndpoints(ctx, tn, EndpointFilter{HealthStatus: []string{"splendid"}})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(err.Error(), "splendid") {
		t.Fatalf("bad filter value: %v", err)
	}

	full, err := c.GetEndpoint(ctx, tn, e0.ID, ViewFull)
	if err != nil || full.ID != e0.ID || full.Hostname != e0.Hostname || len(full.AssignedProducts) == 0 {
		t.Fatalf("get: %+v %v", full, err)
	}
	if b, _ := json.Marshal(full); !strings.Contains(string(b), `"hostname"`) {
		t.Fatalf("MarshalJSON %s", b)
	}
	if _, err := c.GetEndpoint(ctx, tn, "00000000-0000-0000-0000-000000000000", ""); !errors.As(err, &ae) || ae.Status != 404 {
		t.Fatalf("unknown endpoint: %v", err)
	}
	// The endpoint belongs to the other tenant: not found there.
	if _, err := c.GetEndpoint(ctx, ts[0], e0.ID, ""); !errors.As(err, &ae) || ae.Status != 404 {
		t.Fatalf("other tenant's endpoint: %v", err)
	}
}

// TestEndpointIsolation: bulk POST (202), per-endpoint GET/PATCH, and the
// in-progress 409 as ErrIsolationInProgress until the change settles.
func TestEndpointIsolation(t *testing.T) {
	var clk clock
	emu := newEmu(t, emulator.Options{Now: clk.Now, IsolationDelay: time.Minute})
	c, _ := newTestClient(t, emu, nil)
	tn := oneTenant(t, c)
	ctx := testCtx(t)
	eps, err := c.ListEndpoints(ctx, tn, EndpointFilter{IsolationStatus: "notIsolated", View: ViewFull})
	if err != nil || len(eps) < 2 {
		t.Fatalf("%d not isolated endpoints: %v", len(eps), err)
	}
	a, b := eps[0].ID, eps[1].ID
	res, err := c.SetIsolation(ctx, tn, []string{a, b}, true, "incident 42")
	if err != nil || len(res) != 2 || !res[0].Isolation.Enabled || res[0].Isolation.Comment != "incident 42" {
		t.Fatalf("bulk isolate: %+v %v", res, err)
	}
	if emu.Requests()["POST /endpoint/v1/endpoints/isolation 202"] != 1 {
		t.Fatalf("requests %v", emu.Requests())
	}
	_, err = c.SetIsolation(ctx, tn, []string{a}, false, "")
	if !errors.Is(err, ErrIsolationInProgress) || !strings.Contains(err.Error(), "in progress") {
		t.Fatalf("toggle in progress: %v", err)
	}
	_, err = c.SetEndpointIsolation(ctx, tn, b, false, "")
	if !errors.Is(err, ErrIsolationInProgress) {
		t.Fatalf("PATCH in progress: %v", err)
	}
	st, err := c.Isolation(ctx, tn, a)
	if err != nil || !st.Enabled || st.LastEnabledBy == nil || st.LastEnabledAt == "" {
		t.Fatalf("isolation settings: %+v %v", st, err)
	}
	clk.Advance(2 * time.Minute)
	e, err := c.GetEndpoint(ctx, tn, a, ViewFull)
	if err != nil || e.Isolation == nil || e.Isolation.Status != "isolated" || !e.Isolation.AdminIsolated {
		t.Fatalf("after the delay: %+v %v", e.Isolation, err)
	}
	st, err = c.SetEndpointIsolation(ctx, tn, a, false, "all clear")
	if err != nil || st.Enabled || st.Comment != "all clear" {
		t.Fatalf("PATCH: %+v %v", st, err)
	}
	var ae *APIError
	if _, err := c.SetIsolation(ctx, tn, []string{"00000000-0000-0000-0000-000000000000"}, true, ""); !errors.As(err, &ae) || ae.Status != 404 {
		t.Fatalf("unknown endpoint: %v", err)
	}
}

// TestEndpointTasks: tamper protection get/set/regenerate and the global
// setting, scans, update checks, and the health check.
func TestEndpointTasks(t *testing.T) {
	emu := newEmu(t, emulator.Options{})
	c, _ := newTestClient(t, emu, nil)
	tn := oneTenant(t, c)
	ctx := testCtx(t)
	eps, err := c.ListEndpoints(ctx, tn, EndpointFilter{})
	if err != nil || len(eps) == 0 {
		t.Fatal(err)
	}
	id := eps[0].ID
	on, err := c.GlobalTamperProtection(ctx, tn)
	if err != nil || !on {
		t.Fatalf("global tamper protection: %v %v", on, err)
	}
	tp, err := c.TamperProtection(ctx, tn, id)
	if err != nil || tp.Password == "" {
		t.Fatalf("tamper get: %+v %v", tp, err)
	}
	off := false
	tp2, err := c.SetTamperProtection(ctx, tn, id, &off, true)
	if err != nil || tp2.Enabled || tp2.Password == tp.Password || len(tp2.PreviousPasswords) != len(tp.PreviousPasswords)+1 {
		t.Fatalf("tamper off + regenerate: %+v %v", tp2, err)
	}
	if emu.Requests()["POST /endpoint/v1/endpoints/{id}/tamper-protection 201"] != 1 {
		t.Fatalf("requests %v", emu.Requests())
	}
	emu.SetGlobalTamperProtection(tn.ID, false)
	yes := true
	_, err = c.SetTamperProtection(ctx, tn, id, &yes, false)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(err.Error(), "globally") {
		t.Fatalf("enable while globally off: %v", err)
	}
	for name, f := range map[string]func() (*EndpointTask, error){
		"scan":         func() (*EndpointTask, error) { return c.Scan(ctx, tn, id) },
		"update-check": func() (*EndpointTask, error) { return c.UpdateCheck(ctx, tn, id) },
	} {
		task, err := f()
		if err != nil || task.ID == "" || task.Status != "requested" || task.RequestedAt == "" {
			t.Fatalf("%s: %+v %v", name, task, err)
		}
	}
	if _, err := c.Scan(ctx, tn, "00000000-0000-0000-0000-000000000000"); !errors.As(err, &ae) || ae.Status != 404 {
		t.Fatalf("scan unknown endpoint: %v", err)
	}
	req := emu.Requests()
	if req["POST /endpoint/v1/endpoints/{id}/scans 201"] != 1 || req["POST /endpoint/v1/endpoints/{id}/update-checks 201"] != 1 {
		t.Fatalf("requests %v", req)
	}

	hc, err := c.HealthCheck(ctx, tn, nil, nil)
	if err != nil || hc.Tenant.ID != tn.ID || hc.Endpoint.Protection.Computer == nil || hc.Endpoint.TamperProtection.Global == nil || len(hc.Raw) == 0 {
		t.Fatalf("health check: %+v %v", hc, err)
	}
	if s := hc.Endpoint.Protection.Computer.Score; s < 0 || s > 100 {
		t.Fatalf("score %d", s)
	}
	part, err := c.HealthCheck(ctx, tn, []string{"protection"}, []string{"endpoint"})
	if err != nil || part.Endpoint.Protection.Computer == nil || part.Endpoint.TamperProtection.Global != nil {
		t.Fatalf("health check filtered: %+v %v", part, err)
	}
	if _, err := c.HealthCheck(ctx, tn, []string{"vibes"}, nil); !errors.As(err, &ae) || ae.Status != 400 {
		t.Fatalf("bad check: %v", err)
	}
}
