package encoding

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// TestManyKeysDictSemantics checks the hash-indexed path (objects past
// indexFrom members) against a direct model of a Python dict: a repeated
// key keeps its first position and its last value.
func TestManyKeysDictSemantics(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 20; round++ {
		n := 10 + rng.IntN(300)
		var obj strings.Builder
		var order []string
		last := map[string]int{}
		obj.WriteString("{")
		for i := 0; i < n; i++ {
			k := "k" + strconv.Itoa(rng.IntN(n/2+1))
			if i > 0 {
				obj.WriteString(",")
			}
			// Some keys arrive escaped: "\u006b..." is "k...".
			if rng.IntN(4) == 0 {
				fmt.Fprintf(&obj, `"\u006b%s":%d`, k[1:], i)
			} else {
				fmt.Fprintf(&obj, `"%s":%d`, k, i)
			}
			if _, seen := last[k]; !seen {
				order = append(order, k)
			}
			last[k] = i
		}
		obj.WriteString("}")
		var want strings.Builder
		for i, k := range order {
			if i > 0 {
				want.WriteString(", ")
			}
			fmt.Fprintf(&want, `"%s": %d`, k, last[k])
		}
		// Top level (official.load) and nested (py.dictMembers).
		in := `{"type":"T","n":` + obj.String() + `,` + obj.String()[1:]
		got := encode(t, mustNew(t, "official-json", Options{}), rec(pipeline.Events, in))
		wantLine := `{"type": "T", "n": {` + want.String() + `}, ` + want.String() + `, "datastream": "event"}`
		if got != wantLine {
			t.Fatalf("n=%d:\ngot  %s\nwant %s", n, got, wantLine)
		}
		// Flattening (official.flatten) produces the same keys under n_.
		cef := encode(t, mustNew(t, "cef", Options{}), rec(pipeline.Events, `{"type":"T","n":`+obj.String()+`}`))
		var wantCEF strings.Builder
		wantCEF.WriteString("CEF:0|sophos|sophos central|1.0|T|NA|0|")
		for i, k := range order {
			if i > 0 {
				wantCEF.WriteString(" ")
			}
			fmt.Fprintf(&wantCEF, "n_%s=%d", k, last[k])
		}
		wantCEF.WriteString(" datastream=event")
		if cef != wantCEF.String() {
			t.Fatalf("cef n=%d:\ngot  %s\nwant %s", n, cef, wantCEF.String())
		}
	}
}
