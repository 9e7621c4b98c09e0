package encoding

import (
	"testing"
)

// TestTopIndexMatchesScan holds ingest.top (an index of the item's
// members) to a scan of them: repeated names (the last wins), escaped
// names, items too large for the index.
func TestTopIndexMatchesScan(t *testing.T) {
	many := `{`
	for i := 0; i < 40; i++ {
		many += `"k` + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `":1,`
	}
	many += `"id":"x"}`
	items := []string{`{"id":"a","when":"w","id":"b"}`, `{"i\u0064":"a","id":"b","when":1}`, `{}`, `{"":1,"id":2}`, many,
		`{"a":1,"b":2,"c":3,"d":{"id":4},"id":5,"severity":"high","source":"x"}`}
	names := []string{"id", "when", "", "a", "d", "severity", "source", "kaa", "kob", "missing"}
	for _, item := range items {
		var tp tape
		if !tp.parseItem([]byte(item)) {
			t.Fatalf("parse %s", item)
		}
		p := ingest{t: &tp}
		for _, name := range names {
			var want int32
			for k, end := tp.itemMembers(); k < end; k = tp.nodes[k+1].next {
				if tp.keyIs(k, name) {
					want = k + 1
				}
			}
			if got := p.top(name); got != want {
				t.Errorf("%s: top(%q) = %d, a scan finds %d", item, name, got, want)
			}
		}
	}
}
