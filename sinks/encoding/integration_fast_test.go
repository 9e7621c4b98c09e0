package encoding

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestQuotedGoJSONMatchesAppendJSONString holds the message's quoting
// shortcut (only " and \ escaped) to the general appendJSONString, on the
// Go JSON of the sample pages and of random items with escapes, controls,
// non-ASCII and invalid UTF-8 in names and values.
func TestQuotedGoJSONMatchesAppendJSONString(t *testing.T) {
	items := diffSeeds(t)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 2000; i++ {
		items = append(items, randItem(rng))
	}
	items = append(items, []byte(`{"a\"b":"x\\y\n\u0001\u2028<&>","\u00e9":"\ud800","z":"`+"\xff\xfe\x7f"+`"}`))
	enc := newIntegrationEncoder(Options{})
	n := 0
	for _, item := range items {
		if !enc.t.parseItem(item) {
			continue
		}
		msg, ok := enc.appendGoJSON(nil, 0)
		if !ok {
			continue
		}
		got, want := appendQuotedGoJSON(nil, msg), appendJSONString(nil, plainText(msg))
		if !bytes.Equal(got, want) {
			t.Fatalf("item %s:\n got %s\nwant %s", item, got, want)
		}
		n++
	}
	if n < 1000 {
		t.Fatalf("only %d items compared", n)
	}
}
