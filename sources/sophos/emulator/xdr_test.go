package emulator

import (
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"
)

func xdrEmu(t *testing.T, x XDR) (*Server, *fakeClock) {
	return start(t, Options{Partner: true, Tenants: 3, XDR: x})
}

// queryAll runs the detections query for [from, to) and reads every page.
func queryAll(t *testing.T, a *api, from, to time.Time, size int) ([]map[string]any, int) {
	t.Helper()
	r := a.send("POST", "/detections/v1/queries/detections", fmt.Sprintf(`{"from":%q,"to":%q}`, from.Format(time.RFC3339), to.Format(time.RFC3339)))
	if r.status != 201 {
		t.Fatalf("query: %d %s", r.status, r.body)
	}
	run := r.json(t)
	if run["expiresAt"] == nil || run["id"] == nil {
		t.Fatalf("new run: %v", run)
	}
	id := run["id"].(string)
	polls := 0
	for run["result"] == "notAvailable" {
		polls++
		if res := a.get("/detections/v1/queries/detections/" + id + "/results"); res.status != 400 {
			t.Fatalf("results of an unfinished run: %d", res.status)
		}
		run = a.get("/detections/v1/queries/detections/" + id).json(t)
		if polls > 10 {
			t.Fatal("run never finished")
		}
	}
	if run["result"] != "succeeded" || run["status"] != "finished" {
		return nil, polls
	}
	var items []map[string]any
	for page := 1; ; page++ {
		r := a.get(fmt.Sprintf("/detections/v1/queries/detections/%s/results?pageSize=%d&page=%d", id, size, page))
		var p struct {
			Pages struct{ Current, Size, Total, MaxSize, Items int }
			Items []map[string]any
		}
		if err := json.Unmarshal(r.body, &p); err != nil || r.status != 200 {
			t.Fatalf("results page %d: %d %v %s", page, r.status, err, r.body)
		}
		if p.Pages.Current != page || p.Pages.MaxSize != 2000 {
			t.Fatalf("pages: %+v", p.Pages)
		}
		items = append(items, p.Items...)
		if page >= p.Pages.Total {
			return items, polls
		}
	}
}

func TestXDRDetectionsQuery(t *testing.T) {
	s, clk := xdrEmu(t, XDR{Detections: 50})
	a := newAPI(t, s)
	items, polls := queryAll(t, a, clk.t.Add(-24*time.Hour), clk.t, 7)
	if polls != 2 {
		t.Errorf("polls = %d, want 2 (PendingPolls default)", polls)
	}
	if len(items) != 50 {
		t.Fatalf("got %d detections, want 50", len(items))
	}
	d := items[0]
	for _, k := range []string{"id", "time", "sensorGeneratedAt", "type", "attackType", "severity", "detectionRule", "ruleDescription", "device", "sensor", "mitreAttacks", "rawData"} {
		if _, ok := d[k]; !ok {
			t.Errorf("detection lacks %s: %v", k, d)
		}
	}
	if e := d["device"].(map[string]any)["entity"]; e == "" || e == nil {
		t.Errorf("device.entity empty: %v", d["device"])
	}
	// A half window holds fewer, and a late detection shows in an old window only once it arrived.
	half, _ := queryAll(t, a, clk.t.Add(-6*time.Hour), clk.t, 100)
	if len(half) >= 50 {
		t.Errorf("a 6 h window returned %d of 50", len(half))
	}
	late := s.AddLateDetection(a.tenant, 3*time.Hour)
	again, _ := queryAll(t, a, clk.t.Add(-6*time.Hour), clk.t, 100)
	if len(again) != len(half)+1 || !containsID(again, late) {
		t.Errorf("after a late detection: %d, want %d", len(again), len(half)+1)
	}
	// Counts per hour add up.
	c := a.get("/detections/v1/queries/detections/counts?resolution=hour&from=" + url.QueryEscape(clk.t.Add(-24*time.Hour).Format(time.RFC3339))).json(t)
	sum := 0
	for _, b := range c["items"].([]any) {
		sum += int(b.(map[string]any)["count"].(float64))
	}
	if sum != 51 {
		t.Errorf("counts sum %d, want 51", sum)
	}
}

func TestXDRRunsFailAndExpire(t *testing.T) {
	s, clk := xdrEmu(t, XDR{Detections: 5, Quirks: XDRQuirks{FailRuns: 1, PendingPolls: -1, RunTTL: time.Minute}})
	a := newAPI(t, s)
	items, _ := queryAll(t, a, clk.t.Add(-24*time.Hour), clk.t, 100)
	if items != nil {
		t.Fatalf("first run should fail, got %d items", len(items))
	}
	r := a.send("POST", "/detections/v1/queries/detections", fmt.Sprintf(`{"from":%q,"to":%q}`, clk.t.Add(-24*time.Hour).Format(time.RFC3339), clk.t.Format(time.RFC3339)))
	id := r.json(t)["id"].(string)
	if got := a.get("/detections/v1/queries/detections/" + id + "/results?pageSize=100&page=1"); got.status != 200 {
		t.Fatalf("second run: %d %s", got.status, got.body)
	}
	clk.Add(2 * time.Minute)
	if got := a.get("/detections/v1/queries/detections/" + id + "/results?pageSize=100&page=1"); got.status != 404 {
		t.Fatalf("expired run: %d, want 404", got.status)
	}
}

type casesPage struct {
	Items []map[string]any
	Pages struct {
		Current, Size, Total, Items int
		NextKey                     string
	}
}

func (a *api) cases(t *testing.T, q string) (casesPage, resp) {
	r := a.get("/cases/v1/cases?" + q)
	var p casesPage
	if r.status == 200 {
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
	}
	return p, r
}

func TestXDRCasesQuirks(t *testing.T) {
	s, _ := xdrEmu(t, XDR{Cases: 30})
	a := newAPI(t, s)
	if _, r := a.cases(t, "pageSize=200"); r.status != 400 {
		t.Errorf("pageSize 200: %d, want 400", r.status)
	}
	p1, r := a.cases(t, "createdAfter=-P30D&pageSize=10")
	if r.status != 200 || len(p1.Items) != 10 || p1.Pages.NextKey == "" {
		t.Fatalf("page 1: %d %d %+v", r.status, len(p1.Items), p1.Pages)
	}
	// page=2 is ignored: page 1 again.
	p2, _ := a.cases(t, "createdAfter=-P30D&pageSize=10&page=2")
	if p2.Items[0]["id"] != p1.Items[0]["id"] {
		t.Errorf("page=2 was honoured")
	}
	// updatedAfter is ignored: the whole set.
	pu, _ := a.cases(t, "createdAfter=-P30D&pageSize=50&updatedAfter=2099-01-01T00:00:00Z")
	if len(pu.Items) != 30 {
		t.Errorf("updatedAfter filtered: %d items", len(pu.Items))
	}
	// nextKey paging reaches every case once.
	seen := map[string]bool{}
	key := ""
	for {
		q := "createdAfter=-P30D&pageSize=10"
		if key != "" {
			q += "&pageFromKey=" + url.QueryEscape(key)
		}
		p, r := a.cases(t, q)
		if r.status != 200 {
			t.Fatal(r.status)
		}
		for _, c := range p.Items {
			seen[c["id"].(string)] = true
		}
		if key = p.Pages.NextKey; key == "" {
			break
		}
	}
	if len(seen) != 30 {
		t.Errorf("paged %d cases, want 30", len(seen))
	}
	// Some cases carry no severity at all.
	absent := 0
	for _, c := range pu.Items {
		if _, ok := c["severity"]; !ok {
			absent++
		}
	}
	if absent == 0 {
		t.Error("every case has a severity; some should have none")
	}
	// A status change moves updatedAt.
	before := s.CaseVersions(a.tenant)
	ids := s.ChangeCaseStatus(a.tenant, 3)
	after := s.CaseVersions(a.tenant)
	changed := 0
	for i := range before {
		if before[i] != after[i] {
			changed++
		}
	}
	if len(ids) != 3 || changed != 3 {
		t.Errorf("changed %d cases (%v), want 3", changed, ids)
	}
	d := a.get("/cases/v1/cases/" + ids[0] + "/detections").json(t)
	if len(d["items"].([]any)) == 0 {
		t.Error("case without detections")
	}
}

func TestXDRCasesStrict(t *testing.T) {
	s, clk := xdrEmu(t, XDR{Cases: 20, Quirks: XDRQuirks{StrictFilters: true, PageParamHonoured: true, PageSizeCap: -1}})
	a := newAPI(t, s)
	if _, r := a.cases(t, "pageSize=200"); r.status != 200 {
		t.Errorf("no cap: %d", r.status)
	}
	p1, _ := a.cases(t, "pageSize=5")
	p2, _ := a.cases(t, "pageSize=5&page=2")
	if p1.Items[0]["id"] == p2.Items[0]["id"] {
		t.Error("page=2 ignored with PageParamHonoured")
	}
	s.ChangeCaseStatus(a.tenant, 2)
	pu, _ := a.cases(t, "pageSize=50&updatedAfter="+url.QueryEscape(clk.t.Add(-time.Second).Format(time.RFC3339)))
	if len(pu.Items) != 2 {
		t.Errorf("updatedAfter honoured: %d items, want 2", len(pu.Items))
	}
}

func TestXDRTenantKinds(t *testing.T) {
	s, _ := start(t, Options{Partner: true, Tenants: 3, XDR: XDR{Kinds: []string{KindXDR, KindMDR, KindUnlicensed}}})
	ids := s.TenantIDs()
	a := newAPI(t, s)
	a.tenant = ids[2]
	if r := a.get("/cases/v1/cases"); r.status != 403 {
		t.Errorf("unlicensed cases: %d", r.status)
	}
	if r := a.send("POST", "/detections/v1/queries/detections", `{"from":"2024-05-14T00:00:00Z","to":"2024-05-14T01:00:00Z"}`); r.status != 403 {
		t.Errorf("unlicensed detections: %d", r.status)
	}
	a.tenant = ids[1]
	alerts, _ := a.pageAll("alerts", "limit=1000")
	if len(alerts) != 0 {
		t.Errorf("MDR tenant has %d alerts", len(alerts))
	}
	p, _ := a.cases(t, "pageSize=50")
	if len(p.Items) == 0 || p.Items[0]["managedBy"] != "sophos" {
		t.Errorf("MDR cases: %v", p.Items)
	}
	a.tenant = ids[0]
	if alerts, _ := a.pageAll("alerts", "limit=1000"); len(alerts) == 0 {
		t.Error("XDR tenant has no alerts")
	}
}

func containsID(items []map[string]any, id string) bool {
	for _, it := range items {
		if it["id"] == id {
			return true
		}
	}
	return false
}
