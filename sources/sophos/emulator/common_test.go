package emulator

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
)

type commonPage struct {
	Items []map[string]any `json:"items"`
	Pages map[string]any   `json:"pages"`
}

func (a *api) common(method, path, body string) (commonPage, resp) {
	a.t.Helper()
	r := a.send(method, path, body)
	var p commonPage
	if r.status == 200 {
		if err := json.Unmarshal(r.body, &p); err != nil {
			a.t.Fatalf("%v: %s", err, r.body)
		}
	}
	return p, r
}

func TestCommonAlertsListAndPaging(t *testing.T) {
	s, _ := start(t, Options{Events: 2000, Alerts: 120})
	a := newAPI(t, s)
	siem := s.AllIDs(a.tenant, "alert")

	var ids []string
	q := "/common/v1/alerts?pageSize=50&pageTotal=true"
	for i := 0; ; i++ {
		p, r := a.common("GET", q, "")
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if p.Pages["items"] != float64(120) || p.Pages["total"] != float64(3) || p.Pages["size"] != float64(50) || p.Pages["maxSize"] != float64(1000) {
			t.Fatalf("pages: %v", p.Pages)
		}
		for _, it := range p.Items {
			ids = append(ids, it["id"].(string))
			for _, k := range []string{"id", "allowedActions", "category", "description", "groupKey", "managedAgent", "product", "raisedAt", "severity", "tenant", "type"} {
				if _, ok := it[k]; !ok {
					t.Fatalf("alert lacks %s: %v", k, it)
				}
			}
		}
		next, ok := p.Pages["nextKey"].(string)
		if !ok {
			if i != 2 {
				t.Fatalf("last page at %d", i)
			}
			break
		}
		q = "/common/v1/alerts?pageSize=50&pageTotal=true&pageFromKey=" + url.QueryEscape(next)
	}
	if !slices.Equal(ids, siem) {
		t.Fatalf("Common ids (%d) differ from SIEM alert ids (%d)", len(ids), len(siem))
	}

	// Filters, GET and POST /search agree.
	p, _ := a.common("GET", "/common/v1/alerts?severity=high&category=malware,runtimeDetections&pageSize=1000", "")
	for _, it := range p.Items {
		if it["severity"] != "high" || (it["category"] != "malware" && it["category"] != "runtimeDetections") {
			t.Fatalf("filter: %v", it)
		}
	}
	ps, r := a.common("POST", "/common/v1/alerts/search", `{"severity":["high"],"category":["malware","runtimeDetections"],"pageSize":1000}`)
	if r.status != 200 || len(ps.Items) != len(p.Items) || len(p.Items) == 0 {
		t.Fatalf("search: %d, %d vs %d items", r.status, len(ps.Items), len(p.Items))
	}
	p, _ = a.common("GET", "/common/v1/alerts?ids="+siem[5]+","+siem[7], "")
	if len(p.Items) != 2 {
		t.Fatalf("ids filter: %d", len(p.Items))
	}
	first := p.Items[0]
	p, _ = a.common("GET", "/common/v1/alerts?groupKey="+url.QueryEscape(first["groupKey"].(string))+"&pageSize=1000", "")
	for _, it := range p.Items {
		if it["type"] != first["type"] {
			t.Fatal("groupKey filter")
		}
	}
	p, _ = a.common("GET", "/common/v1/alerts?sort=raisedAt:desc&pageSize=1000", "")
	if p.Items[0]["id"] != siem[len(siem)-1] {
		t.Fatal("sort desc")
	}
	p, _ = a.common("GET", "/common/v1/alerts?from="+url.QueryEscape(first["raisedAt"].(string))+"&pageSize=1000", "")
	if p.Items[0]["raisedAt"].(string) < first["raisedAt"].(string) {
		t.Fatal("from filter")
	}
	for _, bad := range []string{"pageSize=1001", "pageSize=0", "from=yesterday", "pageFromKey=bm9wZQ", "sort=severity:asc"} {
		if _, r := a.common("GET", "/common/v1/alerts?"+bad, ""); r.status != 400 {
			t.Errorf("%s: %d", bad, r.status)
		}
	}
	if _, r := a.common("POST", "/common/v1/alerts/search", `{not json`); r.status != 400 {
		t.Errorf("bad search body: %d", r.status)
	}
}

func TestCommonAlertGetAndActions(t *testing.T) {
	s, _ := start(t, Options{Events: 2000, Alerts: 120})
	a := newAPI(t, s)
	ids := s.AllIDs(a.tenant, "alert")
	r := a.get("/common/v1/alerts/" + ids[3])
	if r.status != 200 {
		t.Fatal(r.status)
	}
	al := r.json(t)
	if al["id"] != ids[3] || al["tenant"].(map[string]any)["id"] != a.tenant {
		t.Fatalf("get: %s", r.body)
	}
	if r := a.get("/common/v1/alerts/00000000-0000-4000-8000-000000000000"); r.status != 404 {
		t.Fatalf("unknown alert: %d", r.status)
	}

	// Find an alert whose allowedActions lack acknowledge (clearThreat only) and one with it.
	var ackable, notAckable map[string]any
	p, _ := a.common("GET", "/common/v1/alerts?pageSize=1000", "")
	for _, it := range p.Items {
		acts := it["allowedActions"].([]any)
		if slices.Contains(acts, any("acknowledge")) {
			if ackable == nil {
				ackable = it
			}
		} else if notAckable == nil {
			notAckable = it
		}
	}
	if ackable == nil || notAckable == nil {
		t.Fatal("test data lacks variety of allowedActions")
	}
	act := func(id, body string) resp { return a.send("POST", "/common/v1/alerts/"+id+"/actions", body) }
	if r := act(notAckable["id"].(string), `{"action":"acknowledge"}`); r.status != 400 || !strings.Contains(string(r.body), "allowedActions") {
		t.Fatalf("action outside allowedActions: %d %s", r.status, r.body)
	}
	if r := act(notAckable["id"].(string), `{"action":"clearThreat","message":"done"}`); r.status != 201 || r.json(t)["status"] != "started" {
		t.Fatalf("allowed action: %d %s", r.status, r.body)
	}
	if r := act("00000000-0000-4000-8000-000000000000", `{"action":"acknowledge"}`); r.status != 404 {
		t.Fatalf("unknown id: %d", r.status)
	}
	if r := act(ids[0], `{}`); r.status != 400 {
		t.Fatalf("no action: %d", r.status)
	}
	id := ackable["id"].(string)
	r = act(id, `{"action":"acknowledge"}`)
	if r.status != 201 {
		t.Fatalf("acknowledge: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if m["alertId"] != id || m["action"] != "acknowledge" || m["id"] == nil || m["requestedAt"] == nil {
		t.Fatalf("action body: %s", r.body)
	}
	if !s.Acknowledged(id) || s.Acknowledged(ids[1]) && ids[1] != id {
		t.Fatal("Acknowledged")
	}
	p2, _ := a.common("GET", "/common/v1/alerts?pageSize=1000", "")
	if len(p2.Items) != len(p.Items)-1 {
		t.Fatalf("acknowledged alert still listed: %d -> %d", len(p.Items), len(p2.Items))
	}
	if r := a.get("/common/v1/alerts/" + id); r.status != 404 {
		t.Fatalf("acknowledged alert GET: %d", r.status)
	}
	// The SIEM stream is history: the alert is still there.
	if !slices.Contains(s.AllIDs(a.tenant, "alert"), id) {
		t.Fatal("acknowledge removed the SIEM alert")
	}
	// New alerts show up in the Common API too.
	s.AddItems(a.tenant, "alert", 2)
	p3, _ := a.common("GET", "/common/v1/alerts?pageSize=1000", "")
	if len(p3.Items) != len(p2.Items)+2 {
		t.Fatalf("new alerts: %d -> %d", len(p2.Items), len(p3.Items))
	}
	newID := p3.Items[len(p3.Items)-1]["id"].(string)
	if r := a.get("/common/v1/alerts/" + newID); r.status != 200 {
		t.Fatalf("GET new alert: %d", r.status)
	}
}

// TestWithholdAlertsFault: `emulate -faults withhold-alerts=N` hides N
// alerts from the SIEM stream while the Common API lists them all — the
// silent loss reconcile exists to find.
func TestWithholdAlertsFault(t *testing.T) {
	f, err := ParseFaults("withhold-alerts=4")
	if err != nil || f.WithholdAlerts != 4 || !f.Enabled() {
		t.Fatalf("%+v %v", f, err)
	}
	if g, err := ParseFaults(f.String()); err != nil || g != f {
		t.Fatalf("String round trip: %q -> %+v, %v", f.String(), g, err)
	}
	s, _ := start(t, Options{Events: 100, Alerts: 30, Faults: f})
	a := newAPI(t, s)
	siem, _ := a.pageAll("alerts", "limit=1000")
	p, r := a.common("GET", "/common/v1/alerts?pageSize=100", "")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	served := map[string]bool{}
	for _, id := range siem {
		served[id] = true
	}
	var hidden int
	for _, it := range p.Items {
		if !served[it["id"].(string)] {
			hidden++
		}
	}
	if len(p.Items) != 30 || len(siem) != 26 || hidden != 4 {
		t.Fatalf("Common API lists %d, SIEM serves %d, hidden %d: want 30, 26, 4", len(p.Items), len(siem), hidden)
	}
}
