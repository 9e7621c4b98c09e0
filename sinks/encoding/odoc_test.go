package encoding

import (
	"math/rand"
	"testing"
)

// TestOdocIndexMatchesScan drives a document through random sets,
// copies, removes and appends on a few overlapping paths and checks after
// each step that child (through the index) finds what a walk of the
// object's members finds, for every object and key.
func TestOdocIndexMatchesScan(t *testing.T) {
	scan := func(d *odoc, parent int32, key string) int32 {
		parent = d.n[parent].v.node
		for c := d.n[parent].first; c != 0; c = d.n[c].next {
			if d.n[c].v.kind != oDead && d.n[c].key == key {
				return c
			}
		}
		return 0
	}
	paths := []string{"a", "b", "a.x", "a.y", "a.x.p", "b.x", "b.x.q", "c.d.e", "c.d", "c", "a.x.p.z"}
	keys := []string{"a", "b", "c", "d", "e", "x", "y", "p", "q", "z"}
	rng := rand.New(rand.NewSource(1))
	var d odoc
	var tp tape
	checks := 0
	for round := 0; round < 200; round++ {
		d.reset(&tp)
		for step := 0; step < 60; step++ {
			p, q := paths[rng.Intn(len(paths))], paths[rng.Intn(len(paths))]
			switch rng.Intn(6) {
			case 0:
				d.set(p, intVal(int64(step)))
			case 1:
				d.set(p, val{kind: oObj})
			case 2:
				d.copyField(p, q)
			case 3:
				d.remove(p)
			case 4:
				d.appendTo(p, intVal(int64(step)), rng.Intn(2) == 0)
			case 5:
				d.dir(p)
			}
			for n := range d.n {
				if k := d.n[n].v.kind; k != oObj {
					continue
				}
				for _, k := range keys {
					if got, want := d.child(int32(n), k), scan(&d, int32(n), k); got != want {
						t.Fatalf("round %d step %d: child(%d, %q) = %d, a walk finds %d", round, step, n, k, got, want)
					}
					checks++
				}
			}
		}
	}
	if checks < 10000 {
		t.Fatalf("only %d checks", checks)
	}
}

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
