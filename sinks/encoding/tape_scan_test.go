package encoding

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// TestTapeParseMatchesRawjson mutates the sample items byte by byte (quotes,
// escapes, control and high bytes, space) and holds the tape parser to
// rawjson: the same items accepted, and every string node's flags as its
// text says (strEsc: a backslash, strHigh: a byte >= 0x80).
func TestTapeParseMatchesRawjson(t *testing.T) {
	recs := append(pageRecords(t, "events_page.json", pipeline.Events), pageRecords(t, "alerts_page.json", pipeline.Alerts)...)
	rng := rand.New(rand.NewPCG(11, 12))
	alphabet := []byte("\"\\/bnu0aF \t\n\x01\x1f\x7f\xc3\xa9\xff{}[],:")
	var tp tape
	accepted := 0
	for range 30000 {
		raw := bytes.Clone(recs[rng.IntN(len(recs))].Raw)
		for range 1 + rng.IntN(3) {
			raw[rng.IntN(len(raw))] = alphabet[rng.IntN(len(alphabet))]
		}
		want := rawjson.Valid(raw) && raw[rawjson.SkipSpace(raw, 0)] == '{'
		if got := tp.parseItem(raw); got != want {
			t.Fatalf("parseItem = %v, rawjson %v: %s", got, want, raw)
		}
		if !want {
			continue
		}
		accepted++
		for n := range tp.nodes {
			nd := tp.nodes[n]
			if nd.kind != '"' {
				continue
			}
			if f := stringFlags(raw[nd.s+1 : nd.e-1]); f != nd.flags {
				t.Fatalf("node %d %s: flags %d, want %d", n, raw[nd.s:nd.e], nd.flags, f)
			}
		}
	}
	if accepted < 1000 {
		t.Fatalf("only %d mutated items valid: the test checks too little", accepted)
	}
}
