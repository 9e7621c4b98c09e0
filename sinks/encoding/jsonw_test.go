package encoding

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// TestAppendQuotedMatchesRawjson holds appendQuoted (plain prefix copied
// whole) to rawjson.AppendString on edge cases and random strings mixing
// plain ASCII with every kind of byte that needs escaping.
func TestAppendQuotedMatchesRawjson(t *testing.T) {
	cases := []string{"", "a", "abcdefgh", "abcdefghi\"", "\x00", "héllo wörld 12345678", "\u2028abcdefghijk",
		"abcdefgh\xff\xfe", "1234567\\", "12345678\\", "plain text that is long enough", "\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x1f"}
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte("abcXYZ019 ~\x7f\"\\\n\t\x01\x1f\xc3\xa9\xe2\x80\xa8\xff")
	for range 20000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			if rng.IntN(4) == 0 {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			} else {
				b[i] = 'a' + byte(rng.IntN(26))
			}
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		if got, want := string(appendQuoted([]byte("x"), s)), string(rawjson.AppendString([]byte("x"), s)); got != want {
			t.Fatalf("%q: %q, want %q", s, got, want)
		}
	}
}

// FuzzAppendQuoted holds appendQuoted (its plain prefix found by
// notPlainBits, 8 bytes at a time) to rawjson.AppendString.
func FuzzAppendQuoted(f *testing.F) {
	for _, s := range []string{"", "abcdefgh", "abcdefghi\"", "héllo wörld 12345678", "\u2028abcdefghijk", "abcdefgh\xff\xfe", "12345678\\", "\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x1f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(appendQuoted([]byte("x"), s)), string(rawjson.AppendString([]byte("x"), s)); got != want {
			t.Fatalf("%q: %q, want %q", s, got, want)
		}
	})
}

// TestUnescapedMatchesAppendStr holds the one-letter-escape fast decoder
// (strView, strOf, appendStrText) to appendStr on random escaped strings.
func TestUnescapedMatchesAppendStr(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	pieces := []string{`\\`, `\"`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, `\u00e9`, `\ud83d\ude00`, "a", "bc", "C:", " ", "~"}
	for range 20000 {
		var b []byte
		for range rng.IntN(12) {
			b = append(b, pieces[rng.IntN(len(pieces))]...)
		}
		want := appendStr([]byte("x"), jsonText(append(append([]byte{'"'}, b...), '"')))
		got, ok := appendUnescaped([]byte("x"), b)
		if !ok {
			if string(got) != "x" {
				t.Fatalf("%s: declined but wrote %q", b, got)
			}
			continue
		}
		if string(got) != string(want) {
			t.Fatalf("%s: %q, want %q", b, got, want)
		}
	}
}

// TestAppendCompactMatchesJSONCompact holds appendCompact to
// encoding/json's Compact for every node of the sample items, as written
// (pretty-printed) and re-indented with tabs and CRLF.
func TestAppendCompactMatchesJSONCompact(t *testing.T) {
	recs := append(pageRecords(t, "events_page.json", pipeline.Events), pageRecords(t, "alerts_page.json", pipeline.Alerts)...)
	recs = append(recs, rec(pipeline.Events, `{"a" : [ 1 , 2.5e3 , true , null , { } , [ ] , "x y" ] , "b":{"c" : "\" }"}}`))
	var tp tape
	for _, r := range recs {
		var tabbed bytes.Buffer
		if err := json.Indent(&tabbed, r.Raw, "\r\n", "\t"); err != nil {
			t.Fatal(err)
		}
		for _, raw := range [][]byte{r.Raw, tabbed.Bytes()} {
			if !tp.parseItem(raw) {
				t.Fatalf("parse %s", raw)
			}
			for n := range int32(len(tp.nodes)) {
				var want bytes.Buffer
				if err := json.Compact(&want, tp.text(n)); err != nil {
					t.Fatal(err)
				}
				if got := tp.appendCompact(nil, n); string(got) != want.String() {
					t.Fatalf("node %d: %s, want %s", n, got, want.Bytes())
				}
			}
		}
	}
}

// TestStrAtMatchesStr holds the copy of a record field's JSON text
// (quotedOf: the field is a view of a plain string node) to quoting it:
// every encoder writes the same bytes for the sample records as for copies
// whose string fields share no memory with the item.
func TestStrAtMatchesStr(t *testing.T) {
	recs := append(pageRecords(t, "events_page.json", pipeline.Events), pageRecords(t, "alerts_page.json", pipeline.Alerts)...)
	// A view of a non-ASCII string: appendQuoted escapes U+2028, a copy would not.
	recs = append(recs, rec(pipeline.Alerts, "{\"id\":\"a\u2028\",\"type\":\"t\u2028\",\"severity\":\"high\",\"location\":\"h\u2028\",\"description\":\"d\u2028\"}"))
	hits := 0
	for _, r := range recs {
		var tp tape
		if !tp.parseItem(r.Raw) {
			t.Fatalf("parse %s", r.ID)
		}
		var f itemFields
		f.read(&tp)
		if tp.quotedOf(f.id, r.ID) != nil {
			hits++
		}
		c := *r
		for _, s := range []*string{&c.ID, &c.Type, &c.Severity, &c.Name, &c.Group, &c.When, &c.CreatedAt, &c.Host, &c.User, &c.EndpointID, &c.EndpointType} {
			*s = strings.Clone(*s)
		}
		for _, format := range Formats {
			enc := mustNew(t, format, Options{})
			want, err := enc.Append(nil, &c)
			if err != nil {
				continue
			}
			if got, _ := enc.Append(nil, r); !bytes.Equal(got, want) {
				t.Fatalf("%s %s:\n%s\nwant\n%s", format, r.ID, got, want)
			}
		}
	}
	if hits != len(recs)-1 {
		t.Fatalf("quotedOf found %d of %d ids as views of the item", hits, len(recs))
	}
}
