package encoding

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// The ecs encoder (ecs.go, slots) is the pipelines compiled by hand; the
// interpreter (ecs_interp.go, odoc and ingest.go) runs them processor by
// processor and is what the fixtures were first matched with. The tests
// here require the same bytes from both on the fixtures, the golden and
// diff seeds and random items shaped like the API's (every member the
// pipelines read, with values of every type, repeated, escaped, missing).

// ecsOptionSets are every combination of the options ecs reads.
var ecsOptionSets = func() []Options {
	var out []Options
	for i := range 8 {
		out = append(out, Options{PreserveOriginalEvent: i&1 != 0, PreserveDuplicateCustomFields: i&2 != 0, ECSExtras: i&4 != 0})
	}
	return out
}()

// ecsShape is the objects the pipelines read members of, by dotted path
// ("" is the item), and the member names read.
var ecsShape = map[string][]string{
	"":                       topNames.names,
	"data":                   dataNames.names,
	"data.hmpa_exploit":      hmpaNames.names,
	"data.ips_threat":        alertIPSNames.names,
	"data.source_info":       ipNames.names,
	"source_info":            ipNames.names,
	"data.core_remedy_items": remedyNames.names,
	"core_remedy_items":      remedyNames.names,
	"data.threat_id":         objectIDNames.names,
	"data.user_match_id":     objectIDNames.names,
	"data.event_service_id":  dataTypeNames.names,
	"data.user_match_uuid":   dataTypeNames.names,
	"amsi_threat_data":       amsiNames.names,
	"ips_threat_data":        eventIPSNames.names,
}

// ecsRandItem builds an item of the API's shape: each member the
// pipelines read present or not, its value of a random kind.
func ecsRandItem(rng *rand.Rand, rawData []string) []byte {
	strs := []string{"", "x", "n/a", `DOM\\user`, `\\u`, `u\\`, `a\\b\\c`, "line1\\nline2", `\u00e9`, "é", `\ud800`,
		"2024-05-14T08:02:11.000Z", "2024-05-14T08:02:11Z", "2024-05-14", "2024-02-30T00:00:00Z", "2024-05-14T08:02:11.123456+05:30",
		"0001-01-01T00:00:00Z", "10000-01-01T00:00:00Z", "10.0.0.1", "::1", "fe80::1%1", "999.1.1.1", "80", "0x1F", "-0x10",
		"1715677912655", "1715677912", "1715677912.5", "1e3", "NaN", "0x10p1", "1_000", "true", "FALSE", "maybe", "low", "medium",
		"high", "critical", "very_high", "Event::Endpoint::Threat::Detected", "AA:bb:CC:dd:EE:ff", "aabb.ccdd.eeff", "WKS-01"}
	nums := []string{"0", "-0", "1", "443", "70000", "1715677912655", "1715677912", "2.50", "1e3", "1E-7", "-1.5e+300", "1e999",
		"12345678901234567890", "0.1", "-62135596800001", "253402300799999"}
	var value func(b *bytes.Buffer, path string, depth int)
	object := func(b *bytes.Buffer, path string, names []string, depth int) {
		b.WriteByte('{')
		first := true
		member := func(name string) {
			if !first {
				b.WriteByte(',')
			}
			first = false
			if rng.IntN(12) == 0 && len(name) > 0 { // an escaped name
				fmt.Fprintf(b, `"\u%04x%s":`, name[0], name[1:])
			} else {
				fmt.Fprintf(b, "%q:", name)
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			value(b, p, depth+1)
		}
		for _, name := range names {
			if rng.IntN(3) == 0 {
				continue
			}
			member(name)
			if rng.IntN(15) == 0 {
				member(name) // repeated: the last counts
			}
		}
		if rng.IntN(4) == 0 {
			member("other")
		}
		b.WriteByte('}')
	}
	value = func(b *bytes.Buffer, path string, depth int) {
		if names, ok := ecsShape[path]; ok && rng.IntN(6) != 0 {
			object(b, path, names, depth)
			return
		}
		k := rng.IntN(20)
		switch {
		case (strings.HasSuffix(path, "raw_data") || strings.HasSuffix(path, "rawData")) && k < 14 && len(rawData) > 0:
			s := rawData[rng.IntN(len(rawData))]
			if rng.IntN(3) == 0 {
				s = s[:rng.IntN(len(s)+1)]
			}
			j, _ := json.Marshal(s)
			b.Write(j)
		case strings.HasSuffix(path, "items") && k < 10:
			b.WriteByte('[')
			for i, n := 0, rng.IntN(3); i < n; i++ {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(b, `{"sophosPid":"%d","suspendResult":"OK","processPath":"","type":"file","x":null}`, i)
			}
			b.WriteByte(']')
		case k < 9:
			fmt.Fprintf(b, `"%s"`, strs[rng.IntN(len(strs))])
		case k < 13:
			b.WriteString(nums[rng.IntN(len(nums))])
		case k < 15:
			b.WriteString([]string{"true", "false", "null"}[rng.IntN(3)])
		case k < 17 && depth < 4:
			b.WriteByte('[')
			for i, n := 0, rng.IntN(3); i < n; i++ {
				if i > 0 {
					b.WriteByte(',')
				}
				value(b, "-", depth+1)
			}
			b.WriteByte(']')
		case depth < 4:
			b.WriteString(`{"a":`)
			value(b, "-", depth+1)
			b.WriteString(`,"b":""}`)
		default:
			b.WriteString(`""`)
		}
	}
	var b bytes.Buffer
	object(&b, "", ecsShape[""], 0)
	return b.Bytes()
}

// fixtureRawData are the IPS raw_data texts of the integration's fixtures.
func fixtureRawData(t testing.TB) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "raw_data" || k == "rawData") {
					out = append(out, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	for _, f := range loadFixtures(t.(*testing.T)) {
		for _, l := range f.lines {
			var v any
			if json.Unmarshal(l, &v) == nil {
				walk(v)
			}
		}
	}
	return out
}

type ecsPair struct {
	enc    *ecsEncoder
	interp *ecsInterp
	opts   Options
}

func newECSPairs() []ecsPair {
	var ps []ecsPair
	for _, o := range ecsOptionSets {
		ps = append(ps, ecsPair{newECSEncoder(o), newECSInterp(o), o})
	}
	return ps
}

func (p ecsPair) compare(t testing.TB, r *pipeline.Record) {
	t.Helper()
	got, gerr := p.enc.Append(nil, r)
	want, werr := p.interp.Append(nil, r)
	if (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() {
		t.Fatalf("%+v %s item %s:\nerror %v\n want %v", p.opts, r.Stream, r.Raw, gerr, werr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%+v %s item %s:\n got %s\nwant %s", p.opts, r.Stream, r.Raw, got, want)
	}
}

var ecsItems = flag.Int("ecs.items", 3000, "random items TestECSMatchesInterpreter compares (3000: a few seconds under -race)")

// TestECSMatchesInterpreter holds the encoder to the interpreter, byte for
// byte, for every option set and both streams.
func TestECSMatchesInterpreter(t *testing.T) {
	pairs := newECSPairs()
	items := diffSeeds(t)
	for _, f := range loadFixtures(t) {
		items = append(items, f.lines...)
	}
	for _, item := range items {
		for _, r := range diffRecords(item) {
			for _, p := range pairs {
				p.compare(t, r)
			}
		}
	}
	// random items, each record under two of the option sets
	rng := rand.New(rand.NewPCG(3, 4))
	rawData := fixtureRawData(t)
	n := *ecsItems
	if testing.Short() {
		n = 300
	}
	for range n {
		item := ecsRandItem(rng, rawData)
		for _, r := range diffRecords(item) {
			pairs[rng.IntN(len(pairs))].compare(t, r)
			pairs[rng.IntN(len(pairs))].compare(t, r)
		}
	}
}

// FuzzECSMatchesInterpreter is TestECSMatchesInterpreter on fuzzed items:
// go test -run XXX -fuzz FuzzECSMatchesInterpreter -fuzztime 60s ./sinks/encoding/
func FuzzECSMatchesInterpreter(f *testing.F) {
	for _, s := range diffSeeds(f) {
		f.Add(s)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 50 {
		f.Add(ecsRandItem(rng, nil))
	}
	pairs := newECSPairs()
	f.Fuzz(func(t *testing.T, item []byte) {
		for _, r := range diffRecords(item) {
			for _, p := range pairs {
				p.compare(t, r)
			}
		}
	})
}

// TestCanonicalISO holds the date fast path to parseISO8601 and
// appendISOMillis: what it accepts they accept and write back unchanged.
func TestCanonicalISO(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	ok := 0
	for range 200000 {
		b := []byte("2024-05-14T08:02:11.482Z")
		switch rng.IntN(4) {
		case 0: // a random instant in years 1 to 9999
			ms := minISOMillis + rng.Int64N(maxISOMillis-minISOMillis+1)
			b = appendISOMillis(nil, ms)
			b = b[1 : len(b)-1]
		default: // digits and separators changed at random
			for range 1 + rng.IntN(3) {
				b[rng.IntN(len(b))] = "0123456789-:.TZ+x"[rng.IntN(17)]
			}
		}
		if rng.IntN(50) == 0 {
			b = b[:rng.IntN(len(b))]
		}
		if !canonicalISO(b) {
			continue
		}
		ok++
		ms, parsed := parseISO8601(b)
		if !parsed || ms < minISOMillis || ms > maxISOMillis {
			t.Fatalf("%s: canonical, but parseISO8601 rejects it", b)
		}
		if w := appendISOMillis(nil, ms); string(w[1:len(w)-1]) != string(b) {
			t.Fatalf("%s: canonical, but written back as %s", b, w)
		}
	}
	if ok < 10000 {
		t.Fatalf("only %d canonical instants tried", ok)
	}
	for _, s := range []string{"0000-01-01T00:00:00.000Z", "2023-02-29T00:00:00.000Z", "2024-02-30T00:00:00.000Z", "2024-13-01T00:00:00.000Z", "2024-05-14T24:00:00.000Z"} {
		if canonicalISO([]byte(s)) {
			t.Errorf("%s: taken as canonical", s)
		}
	}
}
