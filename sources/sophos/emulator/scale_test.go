package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"runtime"
	"testing"
	"time"
)

func TestDeterministicBytes(t *testing.T) {
	pages := func(seed int64) [][]byte {
		s, clk := start(t, Options{Seed: seed, Tenants: 2, Partner: true, Events: 3000, Alerts: 300})
		var out [][]byte
		for _, ten := range s.TenantIDs() {
			a := newAPI(t, s)
			a.tenant = ten
			for _, q := range []string{"events?limit=1000", "alerts?limit=1000",
				fmt.Sprintf("events?limit=500&from_date=%d", clk.Ago(3*time.Hour)),
				"events?limit=300&exclude_types=Event::Endpoint::UpdateSuccess"} {
				r := a.get("/siem/v1/" + q)
				if r.status != 200 {
					t.Fatal(r.status)
				}
				out = append(out, r.body)
			}
			p, _ := a.siem("alerts", "limit=100")
			r := a.get("/siem/v1/alerts?limit=1000&cursor=" + url.QueryEscape(*p.NextCursor))
			out = append(out, r.body)
		}
		return out
	}
	a, b, c := pages(42), pages(42), pages(43)
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("page %d differs between two runs with the same seed", i)
		}
		if bytes.Equal(a[i], c[i]) {
			t.Fatalf("page %d is the same with another seed", i)
		}
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func TestMillionEventBacklogBoundedMemory(t *testing.T) {
	before := heapAlloc()
	s, clk := start(t, Options{Events: 1_000_000, Alerts: 50_000})
	a := newAPI(t, s)
	if grown := int64(heapAlloc()) - int64(before); grown > 8<<20 {
		t.Fatalf("a 1,000,000-event backlog costs %d MB before serving", grown>>20)
	}
	served := 0
	// Start, middle and end of the backlog, through from_date and cursors.
	for _, from := range []time.Duration{23*time.Hour + 59*time.Minute, 12 * time.Hour, 10 * time.Minute} {
		q := fmt.Sprintf("limit=1000&from_date=%d", clk.Ago(from))
		for range 6 {
			r := a.get("/siem/v1/events?" + q)
			var p struct {
				HasMore    bool              `json:"has_more"`
				Items      []json.RawMessage `json:"items"`
				NextCursor string            `json:"next_cursor"`
			}
			if err := json.Unmarshal(r.body, &p); r.status != 200 || err != nil || len(p.Items) == 0 {
				t.Fatalf("%d %v %d items", r.status, err, len(p.Items))
			}
			served += len(p.Items)
			if !p.HasMore {
				break
			}
			q = "limit=1000&cursor=" + url.QueryEscape(p.NextCursor)
		}
	}
	if served < 12_000 {
		t.Fatalf("served %d", served)
	}
	if grown := int64(heapAlloc()) - int64(before); grown > 32<<20 {
		t.Fatalf("heap grew %d MB while serving", grown>>20)
	}
	// The last page of the backlog ends the stream.
	p, _ := a.siem("events", fmt.Sprintf("limit=1000&from_date=%d", clk.Ago(time.Minute)))
	if *p.HasMore {
		t.Fatal("has_more at the end of the backlog")
	}
}
