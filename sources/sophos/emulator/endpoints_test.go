package emulator

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestEndpointListViewsFiltersPaging(t *testing.T) {
	s, _ := start(t, Options{})
	a := newAPI(t, s)
	p, r := a.common("GET", "/endpoint/v1/endpoints?pageTotal=true", "")
	if r.status != 200 || len(p.Items) != 12 || p.Pages["items"] != float64(12) {
		t.Fatalf("%d %d items %v", r.status, len(p.Items), p.Pages)
	}
	health, iso, tamper, kinds := map[string]int{}, map[string]int{}, map[bool]int{}, map[string]int{}
	for _, e := range p.Items {
		health[e["health"].(map[string]any)["overall"].(string)]++
		iso[e["isolation"].(map[string]any)["status"].(string)]++
		tamper[e["tamperProtectionEnabled"].(bool)]++
		kinds[e["type"].(string)]++
		if _, ok := e["encryption"]; ok {
			t.Fatal("summary view has encryption")
		}
		if e["tenant"].(map[string]any)["id"] != a.tenant {
			t.Fatal("tenant")
		}
	}
	if len(health) < 2 || len(iso) != 2 || len(tamper) != 2 || len(kinds) != 2 {
		t.Fatalf("endpoints lack variety: %v %v %v %v", health, iso, tamper, kinds)
	}
	basic, _ := a.common("GET", "/endpoint/v1/endpoints?view=basic", "")
	if len(basic.Items[0]) != 4 {
		t.Fatalf("basic view keys: %v", basic.Items[0])
	}
	full, _ := a.common("GET", "/endpoint/v1/endpoints?view=full", "")
	if _, ok := full.Items[0]["encryption"]; !ok {
		t.Fatal("full view lacks encryption")
	}
	count := func(q string) int {
		p, r := a.common("GET", "/endpoint/v1/endpoints?"+q, "")
		if r.status != 200 {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
		return len(p.Items)
	}
	if n := count("healthStatus=good,bad,suspicious,unknown"); n != 12 {
		t.Fatalf("all health: %d", n)
	}
	if n := count("healthStatus=bad"); n != health["bad"] {
		t.Fatalf("healthStatus=bad: %d want %d", n, health["bad"])
	}
	if n := count("type=server"); n != kinds["server"] {
		t.Fatal("type")
	}
	if n := count("isolationStatus=isolated"); n != iso["isolated"] {
		t.Fatal("isolationStatus")
	}
	if n := count("tamperProtectionEnabled=false"); n != tamper[false] {
		t.Fatal("tamperProtectionEnabled")
	}
	if n := count("online=true") + count("online=false"); n != 12 {
		t.Fatal("online")
	}
	if n := count("hostnameContains=srv-"); n < 2 {
		t.Fatalf("hostnameContains: %d", n)
	}
	id0 := p.Items[0]["id"].(string)
	if n := count("ids=" + id0); n != 1 {
		t.Fatal("ids")
	}
	if n := count("lockdownStatus=locked&sort=hostname:asc&search=x"); n != 12 {
		t.Fatal("ignored filters")
	}
	// Key paging.
	var seen []string
	q := "pageSize=5"
	for range 5 {
		pp, _ := a.common("GET", "/endpoint/v1/endpoints?"+q, "")
		for _, e := range pp.Items {
			seen = append(seen, e["id"].(string))
		}
		next, ok := pp.Pages["nextKey"].(string)
		if !ok {
			break
		}
		q = "pageSize=5&pageFromKey=" + next
	}
	if len(seen) != 12 || seen[11] != p.Items[11]["id"] {
		t.Fatalf("paged %d endpoints", len(seen))
	}
	// Partial response.
	pf, _ := a.common("GET", "/endpoint/v1/endpoints?fields=hostname,health", "")
	if len(pf.Items[0]) != 3 {
		t.Fatalf("fields: %v", pf.Items[0])
	}
	for _, bad := range []string{"view=huge", "pageSize=501", "healthStatus=great", "isolationStatus=maybe", "online=perhaps", "pageFromKey=nope"} {
		if _, r := a.common("GET", "/endpoint/v1/endpoints?"+bad, ""); r.status != 400 {
			t.Errorf("%s: %d", bad, r.status)
		}
	}
	// Get one.
	r = a.get("/endpoint/v1/endpoints/" + id0)
	if r.status != 200 || r.json(t)["serialNumber"] == nil {
		t.Fatalf("get one: %d %s", r.status, r.body)
	}
	if r := a.get("/endpoint/v1/endpoints/" + id0 + "?view=basic"); len(r.json(t)) != 4 {
		t.Fatal("get basic")
	}
	if r := a.get("/endpoint/v1/endpoints/00000000-0000-4000-8000-000000000000"); r.status != 404 {
		t.Fatalf("unknown endpoint: %d", r.status)
	}
}

func TestEndpointIsolation(t *testing.T) {
	s, clk := start(t, Options{IsolationDelay: 5 * time.Second})
	a := newAPI(t, s)
	p, _ := a.common("GET", "/endpoint/v1/endpoints?isolationStatus=notIsolated", "")
	id := p.Items[0]["id"].(string)
	id2 := p.Items[1]["id"].(string)
	status := func(id string) string {
		r := a.get("/endpoint/v1/endpoints/" + id)
		return r.json(t)["isolation"].(map[string]any)["status"].(string)
	}
	r := a.send("POST", "/endpoint/v1/endpoints/isolation", fmt.Sprintf(`{"enabled":true,"comment":"IR-42","ids":["%s","%s","00000000-0000-4000-8000-000000000000"]}`, id, id2))
	if r.status != 202 {
		t.Fatalf("bulk: %d %s", r.status, r.body)
	}
	var bulk struct {
		Items []struct {
			ID        string
			Isolation map[string]any
		}
	}
	json.Unmarshal(r.body, &bulk)
	if len(bulk.Items) != 2 || bulk.Items[0].ID != id || bulk.Items[0].Isolation["enabled"] != true || bulk.Items[0].Isolation["comment"] != "IR-42" ||
		bulk.Items[0].Isolation["lastEnabledBy"] == nil {
		t.Fatalf("bulk body: %s", r.body)
	}
	if status(id) != "notIsolated" {
		t.Fatal("isolated before the delay")
	}
	// Toggles while in progress conflict.
	if r := a.send("PATCH", "/endpoint/v1/endpoints/"+id+"/isolation", `{"enabled":false}`); r.status != 409 {
		t.Fatalf("PATCH in progress: %d", r.status)
	}
	if r := a.send("POST", "/endpoint/v1/endpoints/isolation", `{"enabled":false,"ids":["`+id+`"]}`); r.status != 409 {
		t.Fatalf("bulk in progress: %d", r.status)
	}
	clk.Add(5 * time.Second)
	if status(id) != "isolated" || status(id2) != "isolated" {
		t.Fatal("not isolated after the delay")
	}
	r = a.get("/endpoint/v1/endpoints/" + id + "/isolation")
	if r.status != 200 || r.json(t)["enabled"] != true {
		t.Fatalf("GET isolation: %d %s", r.status, r.body)
	}
	r = a.send("PATCH", "/endpoint/v1/endpoints/"+id+"/isolation", `{"enabled":false,"comment":"cleared"}`)
	if r.status != 200 || r.json(t)["enabled"] != false || r.json(t)["lastDisabledAt"] == nil {
		t.Fatalf("PATCH: %d %s", r.status, r.body)
	}
	clk.Add(6 * time.Second)
	if status(id) != "notIsolated" {
		t.Fatal("still isolated")
	}
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/endpoint/v1/endpoints/isolation", `{"enabled":true,"ids":["00000000-0000-4000-8000-000000000000"]}`, 404},
		{"POST", "/endpoint/v1/endpoints/isolation", `{"ids":["` + id + `"]}`, 400},
		{"POST", "/endpoint/v1/endpoints/isolation", `{"enabled":true,"ids":[]}`, 400},
		{"POST", "/endpoint/v1/endpoints/isolation", `nope`, 400},
		{"GET", "/endpoint/v1/endpoints/00000000-0000-4000-8000-000000000000/isolation", "", 404},
		{"PATCH", "/endpoint/v1/endpoints/00000000-0000-4000-8000-000000000000/isolation", `{"enabled":true}`, 404},
		{"PATCH", "/endpoint/v1/endpoints/" + id + "/isolation", `{}`, 400},
	} {
		if r := a.send(c.method, c.path, c.body); r.status != c.want {
			t.Errorf("%s %s %s: %d, want %d", c.method, c.path, c.body, r.status, c.want)
		}
	}
}

func TestTamperProtectionAndTasks(t *testing.T) {
	s, _ := start(t, Options{Tenants: 3, Partner: true})
	a := newAPI(t, s)
	a.tenant = s.TenantIDs()[0]
	eps := s.EndpointIDs(a.tenant)
	id := eps[0]
	r := a.get("/endpoint/v1/endpoints/" + id + "/tamper-protection")
	if r.status != 200 {
		t.Fatal(r.status)
	}
	tp := r.json(t)
	old := tp["password"].(string)
	if _, ok := tp["previousPasswords"].([]any); !ok || old == "" {
		t.Fatalf("tamper body: %s", r.body)
	}
	r = a.send("POST", "/endpoint/v1/endpoints/"+id+"/tamper-protection", `{"regeneratePassword":true}`)
	if r.status != 201 {
		t.Fatalf("regenerate: %d %s", r.status, r.body)
	}
	tp = r.json(t)
	prev := tp["previousPasswords"].([]any)
	if tp["password"] == old || len(prev) != 1 || prev[0].(map[string]any)["password"] != old || prev[0].(map[string]any)["invalidatedAt"] == nil {
		t.Fatalf("regenerated: %s", r.body)
	}
	if r := a.send("POST", "/endpoint/v1/endpoints/"+id+"/tamper-protection", `{"enabled":false}`); r.status != 201 || r.json(t)["enabled"] != false {
		t.Fatalf("disable: %d", r.status)
	}
	if r := a.send("POST", "/endpoint/v1/endpoints/"+id+"/tamper-protection", `{"enabled":true}`); r.status != 201 || r.json(t)["enabled"] != true {
		t.Fatalf("enable: %d", r.status)
	}
	if r := a.get("/endpoint/v1/settings/tamper-protection"); r.status != 200 || r.json(t)["enabled"] != true {
		t.Fatalf("global: %s", r.body)
	}
	// Tenant 2 has tamper protection off globally: enabling on an endpoint is a 400.
	a.tenant = s.TenantIDs()[2]
	id = s.EndpointIDs(a.tenant)[0]
	if r := a.get("/endpoint/v1/settings/tamper-protection"); r.json(t)["enabled"] != false {
		t.Fatal("tenant 2 global setting")
	}
	r = a.send("POST", "/endpoint/v1/endpoints/"+id+"/tamper-protection", `{"enabled":true}`)
	if r.status != 400 || r.json(t)["error"] == nil || !strings.Contains(string(r.body), "globally") {
		t.Fatalf("enable while global off: %d %s", r.status, r.body)
	}
	s.SetGlobalTamperProtection(a.tenant, true)
	if r := a.send("POST", "/endpoint/v1/endpoints/"+id+"/tamper-protection", `{"enabled":true}`); r.status != 201 {
		t.Fatalf("after SetGlobalTamperProtection: %d", r.status)
	}
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/endpoint/v1/endpoints/00000000-0000-4000-8000-000000000000/tamper-protection", "", 404},
		{"POST", "/endpoint/v1/endpoints/00000000-0000-4000-8000-000000000000/tamper-protection", `{"enabled":false}`, 404},
		{"POST", "/endpoint/v1/endpoints/" + id + "/tamper-protection", `{}`, 400},
		{"POST", "/endpoint/v1/endpoints/" + id + "/scans", `{}`, 201},
		{"POST", "/endpoint/v1/endpoints/" + id + "/update-checks", `{}`, 201},
		{"POST", "/endpoint/v1/endpoints/" + id + "/scans", ``, 201},
		{"POST", "/endpoint/v1/endpoints/00000000-0000-4000-8000-000000000000/scans", `{}`, 404},
		{"POST", "/endpoint/v1/endpoints/00000000-0000-4000-8000-000000000000/update-checks", `{}`, 404},
	} {
		r := a.send(c.method, c.path, c.body)
		if r.status != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, r.status, c.want)
		}
		if c.want == 201 && strings.HasSuffix(c.path, "s") {
			m := r.json(t)
			if m["status"] != "requested" || m["id"] == nil || m["requestedAt"] == nil {
				t.Errorf("task body: %s", r.body)
			}
		}
	}
}

func TestHealthCheck(t *testing.T) {
	s, _ := start(t, Options{})
	a := newAPI(t, s)
	r := a.get("/account-health-check/v1/health-check")
	if r.status != 200 {
		t.Fatal(r.status)
	}
	var hc struct {
		Tenant   map[string]string
		Endpoint struct {
			Protection       map[string]map[string]any
			Policy           map[string]map[string]map[string]any
			Exclusions       map[string]map[string]any
			TamperProtection map[string]any
		}
		NetworkDevice map[string]map[string]any
	}
	if err := json.Unmarshal(r.body, &hc); err != nil {
		t.Fatal(err)
	}
	if hc.Tenant["id"] != a.tenant || hc.Endpoint.Protection["computer"]["total"].(float64)+hc.Endpoint.Protection["server"]["total"].(float64) != 12 ||
		hc.Endpoint.Policy["computer"]["threat-protection"]["policies"] == nil || hc.Endpoint.Policy["server"]["server-threat-protection"] == nil ||
		hc.Endpoint.Exclusions["global"]["scanningExclusions"] == nil || hc.Endpoint.Exclusions["policy"]["computer"] == nil ||
		hc.Endpoint.TamperProtection["global"] != true || hc.Endpoint.TamperProtection["globalDetail"] == nil || hc.NetworkDevice["firewall"] == nil {
		t.Fatalf("health check: %s", r.body)
	}
	r = a.get("/account-health-check/v1/health-check?checks=protection,tamperProtection&products=endpoint")
	m := r.json(t)
	ep := m["endpoint"].(map[string]any)
	if _, ok := m["networkDevice"]; ok || len(ep) != 2 || ep["protection"] == nil || ep["tamperProtection"] == nil {
		t.Fatalf("filtered health check: %s", r.body)
	}
	if r := a.get("/account-health-check/v1/health-check?checks=everything"); r.status != 400 {
		t.Fatal(r.status)
	}
}
