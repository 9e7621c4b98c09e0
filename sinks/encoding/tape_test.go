package encoding

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// parseValue parses raw as one JSON value of any kind with only space
// around it.
func (t *tape) parseValue(raw []byte) bool {
	t.raw = raw
	t.nodes = t.nodes[:0]
	if len(raw) > 1<<31-1 {
		return false
	}
	end, ok := t.value(0)
	return ok && rawjson.SkipSpace(raw, end) == len(raw)
}

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

// TestISOMillisMatchesAppendFormat checks the hand-written date writer
// against time's layout formatting over the whole range it accepts
// (years 1 to 9999).
func TestISOMillisMatchesAppendFormat(t *testing.T) {
	const lo, hi = -62135596800000, 253402300799999
	rng := rand.New(rand.NewPCG(8, 9))
	check := func(ms int64) {
		want := `"` + time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z") + `"`
		if got := string(appendISOMillis(nil, ms)); got != want {
			t.Fatalf("%d: got %s, want %s", ms, got, want)
		}
	}
	for _, ms := range []int64{lo, lo + 1, -1, 0, 1, 999, 1000, 1715677912655, 951782400000, hi - 1, hi} {
		check(ms)
	}
	for i := 0; i < 100000; i++ {
		check(lo + rng.Int64N(hi-lo+1))
	}
}
