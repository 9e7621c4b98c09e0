package encoding

import (
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// appendRepr appends Python's repr() of the JSON value v (any kind), on a
// tape of its own: the tests' entry to py.repr.
func (p *py) appendRepr(dst, v []byte) []byte {
	var t tape
	if !t.parseValue(v) {
		panic("appendRepr: invalid JSON")
	}
	p.t = &t
	return p.repr(dst, 0)
}

// BenchmarkTapeParse is the tape's share of every encoder's work: one
// parse of a sample item.
func BenchmarkTapeParse(b *testing.B) {
	recs := append(pageRecords(b, "events_page.json", pipeline.Events), pageRecords(b, "alerts_page.json", pipeline.Alerts)...)
	var t tape
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if !t.parseItem(recs[i%len(recs)].Raw) {
			b.Fatal("rejected")
		}
	}
}
