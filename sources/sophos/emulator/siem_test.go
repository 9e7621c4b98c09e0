package emulator

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPagingReturnsEveryIDOnceInOrder(t *testing.T) {
	s, _ := start(t, Options{Events: 5000, Alerts: 400})
	a := newAPI(t, s)
	for _, stream := range []string{"events", "alerts"} {
		t.Run(stream, func(t *testing.T) {
			a.t = t
			ids, _ := a.pageAll(stream, "limit=1000")
			want := s.AllIDs(a.tenant, stream[:len(stream)-1])
			if len(want) != map[string]int{"events": 5000, "alerts": 400}[stream] {
				t.Fatalf("AllIDs: %d ids", len(want))
			}
			if !slices.Equal(ids, want) {
				t.Fatalf("paged %d ids, want %d (same order)", len(ids), len(want))
			}
			seen := map[string]bool{}
			for _, id := range ids {
				if seen[id] {
					t.Fatalf("duplicate id %s", id)
				}
				seen[id] = true
			}
		})
	}
}

func TestItemsOrderedByCreatedAtAndID(t *testing.T) {
	s, clk := start(t, Options{Events: 3000, Alerts: 300, Rate: 2000})
	clk.Add(3 * time.Second) // ~6000 arrivals, several per millisecond
	a := newAPI(t, s)
	s.AddItems(a.tenant, "event", 50)
	s.AddItems(a.tenant, "alert", 20)
	for _, stream := range []string{"events", "alerts"} {
		var prev [2]string
		q := "limit=777"
		count := 0
		for {
			p, r := a.siem(stream, q)
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			for _, it := range p.Items {
				cur := [2]string{it["created_at"].(string), it["id"].(string)}
				if prev[0] != "" && (cur[0] < prev[0] || cur[0] == prev[0] && cur[1] <= prev[1]) {
					t.Fatalf("%s out of order: %v after %v", stream, cur, prev)
				}
				prev = cur
				count++
			}
			if !*p.HasMore {
				break
			}
			q = "limit=777&cursor=" + url.QueryEscape(*p.NextCursor)
		}
		if want := len(s.AllIDs(a.tenant, stream)); count != want {
			t.Fatalf("%s: paged %d, AllIDs %d", stream, count, want)
		}
	}
}

func TestAlertIDsAreEventIDs(t *testing.T) {
	s, _ := start(t, Options{Events: 2000, Alerts: 150})
	ten := s.TenantIDs()[0]
	s.AddItems(ten, "alert", 5)
	events := map[string]bool{}
	for _, id := range s.AllIDs(ten, "event") {
		events[id] = true
	}
	alerts := s.AllIDs(ten, "alert")
	if len(alerts) != 155 {
		t.Fatalf("%d alerts", len(alerts))
	}
	for _, id := range alerts {
		if !events[id] {
			t.Fatalf("alert %s has no event twin", id)
		}
	}
}

func TestSIEMParameters(t *testing.T) {
	s, clk := start(t, Options{Events: 3000, Alerts: 100})
	a := newAPI(t, s)
	cases := []struct {
		name, query string
		status      int
		items       int
	}{
		{"default limit 200", "", 200, 200},
		{"limit 1000", "limit=1000", 200, 1000},
		{"limit over 1000", "limit=1001", 400, 0},
		{"limit zero", "limit=0", 400, 0},
		{"limit not a number", "limit=ten", 400, 0},
		{"from_date inside window", fmt.Sprintf("limit=1000&from_date=%d", clk.Ago(23*time.Hour+59*time.Minute)), 200, 1000},
		{"from_date older than 24h", fmt.Sprintf("from_date=%d", clk.Ago(24*time.Hour+time.Second)), 400, 0},
		{"from_date in the future", fmt.Sprintf("from_date=%d", clk.Unix()+60), 200, 0},
		{"from_date float", fmt.Sprintf("from_date=%d.0", clk.Ago(time.Hour)), 200, -1},
		{"bad cursor", "cursor=not-a-cursor!!", 400, 0},
		{"cursor wrong prefix", "cursor=" + base64.URLEncoding.EncodeToString([]byte("V1|2024-05-14T09:00:00.000Z")), 400, 0},
		{"cursor bad time", "cursor=" + base64.URLEncoding.EncodeToString([]byte("V2_CURSOR|yesterday")), 400, 0},
		{"unknown params ignored", fmt.Sprintf("from_date%d.0&foo=bar&limit=5", clk.Ago(time.Hour)), 200, 5},
		{"offset negative", "from_date_offset_minutes=-1", 400, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a.t = t
			p, r := a.siem("events", c.query)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if r.status != 200 {
				m := r.json(t)
				if m["error"] == nil || m["correlationId"] == nil || m["requestId"] == nil {
					t.Fatalf("not the standard error body: %s", r.body)
				}
				return
			}
			if c.items >= 0 && len(p.Items) != c.items {
				t.Fatalf("%d items, want %d", len(p.Items), c.items)
			}
		})
	}
}

func TestSIEMCursorRules(t *testing.T) {
	s, clk := start(t, Options{Events: 2400, Alerts: 100})
	a := newAPI(t, s)

	// The cursor wins over from_date.
	p1, _ := a.siem("events", "limit=100")
	fd := clk.Ago(10 * time.Minute)
	p2, _ := a.siem("events", "limit=100&from_date="+fmt.Sprint(fd)+"&cursor="+url.QueryEscape(*p1.NextCursor))
	p2b, _ := a.siem("events", "limit=100&cursor="+url.QueryEscape(*p1.NextCursor))
	if p2.Items[0]["id"] != p2b.Items[0]["id"] {
		t.Fatal("from_date changed a cursor request")
	}
	// The cursor decodes to V2_CURSOR|<created_at of last item>|<id>, URL-safe.
	raw, err := base64.URLEncoding.DecodeString(*p1.NextCursor)
	if err != nil {
		t.Fatalf("cursor is not URL-safe base64: %v", err)
	}
	last := p1.Items[len(p1.Items)-1]
	if want := "V2_CURSOR|" + last["created_at"].(string) + "|" + last["id"].(string); string(raw) != want {
		t.Fatalf("cursor %q, want %q", raw, want)
	}
	// The official script's unencoded form and a std-base64 cursor work too.
	std := base64.StdEncoding.EncodeToString(raw)
	p3, r := a.siem("events", "limit=100&cursor="+std)
	if r.status != 200 || p3.Items[0]["id"] != p2b.Items[0]["id"] {
		t.Fatalf("std base64 cursor: %d", r.status)
	}
	// A cursor with only a time (the official unit tests' form).
	tsOnly := base64.StdEncoding.EncodeToString([]byte("V2_CURSOR|" + last["created_at"].(string)))
	p4, _ := a.siem("events", "limit=100&cursor="+url.QueryEscape(tsOnly))
	if p4.Items[0]["id"] != p2b.Items[0]["id"] {
		t.Fatal("time-only cursor")
	}

	// next_cursor is present on an empty caught-up page and stays usable.
	_, end := a.pageAll("events", "limit=1000")
	p5, _ := a.siem("events", "cursor="+url.QueryEscape(end))
	if len(p5.Items) != 0 || *p5.HasMore || *p5.NextCursor == "" {
		t.Fatalf("caught-up page: %d items has_more=%v", len(p5.Items), *p5.HasMore)
	}

	// A cursor older than 24 h silently restarts at now-24h.
	old := base64.URLEncoding.EncodeToString([]byte("V2_CURSOR|" + clk.t.Add(-30*time.Hour).Format("2006-01-02T15:04:05.000Z")))
	clk.Add(2 * time.Hour) // the first ~1h of backlog has now left the window
	a.token = getToken(t, s)
	p6, r6 := a.siem("events", "limit=1000&cursor="+url.QueryEscape(old))
	if r6.status != 200 {
		t.Fatalf("stale cursor: %d %s", r6.status, r6.body)
	}
	first := p6.Items[0]["created_at"].(string)
	lo := clk.t.Add(-24 * time.Hour).Format("2006-01-02T15:04:05.000Z")
	if first < lo {
		t.Fatalf("stale cursor served %s, before the window start %s", first, lo)
	}
	all := s.AllIDs(a.tenant, "event")
	if p6.Items[0]["id"] != all[0] {
		t.Fatal("stale cursor did not restart at the window start")
	}
	if len(all) >= 2400 {
		t.Fatalf("AllIDs should shrink as items leave the window: %d", len(all))
	}
}

func TestFromDateOffsetMinutes(t *testing.T) {
	s, clk := start(t, Options{Events: 100, Alerts: -1})
	a := newAPI(t, s)
	_, end := a.pageAll("events", "limit=1000")
	s.AddItems(a.tenant, "event", 3) // created now
	q := "limit=1000&from_date_offset_minutes=5&cursor=" + url.QueryEscape(end)
	p, _ := a.siem("events", q)
	if len(p.Items) != 0 {
		t.Fatalf("offset 5 min served %d fresh items", len(p.Items))
	}
	clk.Add(5 * time.Minute)
	p, _ = a.siem("events", q)
	if len(p.Items) != 3 {
		t.Fatalf("after 5 min: %d items, want 3", len(p.Items))
	}
}

func TestExcludeTypesEventsOnly(t *testing.T) {
	s, _ := start(t, Options{Events: 2000, Alerts: 200})
	a := newAPI(t, s)
	light := "Event::Endpoint::NonCompliant,Event::Endpoint::Compliant,Event::Endpoint::Device::AlertedOnly,Event::Endpoint::UpdateFailure,Event::Endpoint::SavScanComplete,Event::Endpoint::Application::Allowed,Event::Endpoint::UpdateSuccess,Event::Endpoint::WebControlViolation,Event::Endpoint::WebFilteringBlocked"
	excluded := map[string]bool{}
	for _, x := range strings.Split(light, ",") {
		excluded[x] = true
	}
	total, kept := 0, 0
	q := "limit=1000&exclude_types=" + url.QueryEscape(light)
	for {
		p, r := a.siem("events", q)
		if r.status != 200 {
			t.Fatal(r.status)
		}
		for _, it := range p.Items {
			if excluded[it["type"].(string)] {
				t.Fatalf("excluded type served: %s", it["type"])
			}
			kept++
		}
		if !*p.HasMore {
			break
		}
		q = "limit=1000&exclude_types=" + url.QueryEscape(light) + "&cursor=" + url.QueryEscape(*p.NextCursor)
	}
	total = len(s.AllIDs(a.tenant, "event"))
	if kept == 0 || kept >= total {
		t.Fatalf("kept %d of %d", kept, total)
	}
	// Alerts ignore exclude_types.
	p, _ := a.siem("alerts", "limit=1000&exclude_types="+url.QueryEscape(light))
	if len(p.Items) != 200 {
		t.Fatalf("alerts with exclude_types: %d", len(p.Items))
	}
}
