package encoding

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// TestQuotedGoJSONMatchesAppendJSONString holds the message written as a
// JSON string in one pass (goJSON quoted) to appendJSONString of the Go
// JSON (goJSON not quoted, TestIntegrationMessageIsGoJSON), on the
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
		got, ok := enc.goJSON([]byte(`"`), 0, true)
		if !ok {
			t.Fatalf("item %s: quoted, goJSON failed", item)
		}
		got, want := append(got, '"'), appendJSONString(nil, plainText(msg))
		if !bytes.Equal(got, want) {
			t.Fatalf("item %s:\n got %s\nwant %s", item, got, want)
		}
		n++
	}
	if n < 1000 {
		t.Fatalf("only %d items compared", n)
	}
}

// TestIntegrationBeyondFloat64SendsItemAsReceived: an item with a number
// a float64 cannot hold (httpjson could not decode it) is sent compacted,
// as received, after the one-pass message was begun and abandoned.
func TestIntegrationBeyondFloat64SendsItemAsReceived(t *testing.T) {
	enc := newIntegrationEncoder(Options{})
	r := &pipeline.Record{Stream: pipeline.Events, Raw: []byte(`{"b": "x\"y<", "a": 1e400, "c": [1, 2]}`)}
	out, err := enc.Append([]byte("prefix"), r)
	if err != nil {
		t.Fatal(err)
	}
	want := `prefix{"@timestamp":`
	if !bytes.HasPrefix(out, []byte(want)) || !bytes.Contains(out, []byte(`,"message":"{\"b\":\"x\\\"y<\",\"a\":1e400,\"c\":[1,2]}","data_stream":`)) {
		t.Fatalf("got %s", out)
	}
}

// TestGoPlainEndMatchesTable holds goPlainEnd's word-at-a-time scan to
// the goPlain table on random bytes biased to the ones that end a run.
func TestGoPlainEndMatchesTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	alphabet := []byte("ab<>&\"\\\x00\x1f\x20\x7f\x80\xff\xe2\x80\xa8")
	for n := 0; n < 20000; n++ {
		s := make([]byte, rng.IntN(40))
		for i := range s {
			if rng.IntN(4) == 0 {
				s[i] = alphabet[rng.IntN(len(alphabet))]
			} else {
				s[i] = byte(rng.IntN(256))
			}
		}
		from := 0
		if len(s) > 0 {
			from = rng.IntN(len(s))
		}
		want := from
		for want < len(s) && goPlain[s[want]] {
			want++
		}
		if got := goPlainEnd(s, from); got != want {
			t.Fatalf("goPlainEnd(%q, %d) = %d, want %d", s, from, got, want)
		}
	}
}

// TestGoKeyOrderCache holds the remembered member orders and the short
// integer path to encoding/json: items of a few shapes, each encoded
// many times by one encoder (so the orders are found, evicted and found
// again), give json.Marshal's bytes.
func TestGoKeyOrderCache(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	var shapes [][]byte
	for range 200 { // more lists of names than the encoder remembers
		shapes = append(shapes, ecsRandItem(rng, nil))
	}
	shapes = append(shapes, []byte(`{"b":1,"a":2,"b":3,"c":{"z":-0,"y":999999999999999,"x":1000000000000000,"w":-123,"v":1.5e3}}`))
	enc := newIntegrationEncoder(Options{})
	n := 0
	for range 4000 {
		item := shapes[rng.IntN(len(shapes))]
		var v any
		if json.Unmarshal(item, &v) != nil {
			continue
		}
		want, err := json.Marshal(v)
		if err != nil || !enc.t.parseItem(item) {
			continue
		}
		got, ok := enc.appendGoJSON(nil, 0)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("item %s:\n got %s\nwant %s", item, got, want)
		}
		n++
	}
	if n < 1500 {
		t.Fatalf("only %d items compared", n)
	}
}
