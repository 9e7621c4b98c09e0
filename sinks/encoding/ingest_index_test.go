package encoding

import (
	"math/rand/v2"
	"testing"
)

// TestMemberIndexMatchesScan holds ingest.in (an index of the members of
// the objects asked about) to tape.lastMember (a scan) on every object of
// the sample pages' and random items (repeated and escaped names, many
// objects, large ones), for every member name and some absent ones, with
// the index carried from item to item as the encoder does.
func TestMemberIndexMatchesScan(t *testing.T) {
	items := diffSeeds(t)
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 1500; i++ {
		items = append(items, randItem(rng))
	}
	big := []byte(`{"o":{`)
	for i := 0; i < 300; i++ {
		big = append(big, `"k`+string(rune('a'+i%26))+string(rune('a'+i/26%26))+`":1,`...)
	}
	big = append(big, `"id":2}}`...)
	items = append(items, []byte(`{"a":{"x":1,"x":2,"y":{"x":3}},"b":{"\u0078":4,"x":5},"c":{"x":6,"\u0078":7}}`), big)
	var tp tape
	p := ingest{t: &tp}
	checks, indexed := 0, 0
	for _, item := range items {
		if !tp.parseItem(item) {
			continue
		}
		p.newRecord()
		for obj := int32(1); obj < int32(len(tp.nodes)); obj++ {
			if tp.kind(obj) != '{' || rng.IntN(3) == 0 { // some objects are never asked about
				continue
			}
			names := []string{"", "missing", "x", "id"}
			for k, end := tp.members(obj); k < end; k = tp.nodes[k+1].next {
				names = append(names, tp.keyName(k), string(tp.appendStrText(nil, k)))
			}
			for _, name := range names {
				if got, want := p.in(obj, name), tp.lastMember(obj, name); got != want {
					t.Fatalf("item %s: in(%d, %q) = %d, a scan finds %d", item, obj, name, got, want)
				}
				checks++
			}
		}
		for _, o := range p.memObjs[:p.memObjN] {
			if o > 0 {
				indexed++
			}
		}
	}
	if checks < 10000 || indexed < 500 {
		t.Fatalf("only %d checks, %d indexed objects", checks, indexed)
	}
}
