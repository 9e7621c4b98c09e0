package condition

import (
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/transforms/internal/samples"
)

// testEvent is a Sophos event with every field kind the language reads:
// escaped strings, numbers, booleans, null and nested objects.
const testEvent = `{"when":"2024-05-14T08:02:11.000Z","id":"4c9e2b17-83a5-4f0d-b6e1-9a27d5c3f804",` +
	`"customer_id":"3f8a2c71","severity":"medium","created_at":"2024-05-14T08:02:11.482Z",` +
	`"source_info":{"ip":"10.20.4.142"},"endpoint_type":"computer","endpoint_id":"1b6f3d2e",` +
	`"origin":null,"type":"Event::Endpoint::Threat::Detected","location":"WKS-FIN-0142",` +
	`"source":"NORTHWIND\\mreyes","group":"MALWARE","count":16,"isolated":true,` +
	`"ips_threat_data":{"localPort":"445","detectionType":0,"remote":{"ip":"198.51.100.23"}},` +
	`"name":"Malware detected: 'Troj/Agent-BKXQ' at 'C:\\Users\\mreyes\\x.exe'"}`

func mustRecord(t testing.TB, stream pipeline.Stream, tenant, raw string) *pipeline.Record {
	t.Helper()
	r, err := pipeline.NewRecord(stream, tenant, []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return &r
}

func TestMatch(t *testing.T) {
	ev := mustRecord(t, pipeline.Events, "tenant-a", testEvent)
	cases := []struct {
		expr string
		want bool
	}{
		// stream
		{`stream == event`, true},
		{`stream == events`, true},
		{`stream == "alerts"`, false},
		{`stream != alert`, true},
		{`stream in (alerts, events)`, true},
		// tenant
		{`tenant == "tenant-a"`, true},
		{`tenant in ("a", "b")`, false},
		{`not tenant in ("a","b")`, true},
		{`tenant not in ("tenant-a")`, false},
		{`tenant startswith tenant-`, true},
		{`tenant prefix "x"`, false},
		// id
		{`id == "4c9e2b17-83a5-4f0d-b6e1-9a27d5c3f804"`, true},
		{`id matches "4c9e2b17-*"`, true},
		{`id =~ "^[0-9a-f-]{36}$"`, true},
		{`id ~= "^X"`, false},
		// type
		{`type == "Event::Endpoint::Threat::Detected"`, true},
		{`type matches "Event::Endpoint::Threat::*"`, true},
		{`type matches Event::Endpoint::*::Detected`, true},
		{`type matches "Event::Endpoint::?hreat::Detected"`, true},
		{`type matches "Event::Endpoint::Threat"`, false},
		{`type startswith "Event::Endpoint::Threat::"`, true},
		{`type not matches "Event::Firewall::*"`, true},
		{`type contains "Threat"`, true},
		{`type not contains "Threat"`, false},
		// severity
		{`severity == medium`, true},
		{`severity == "HIGH"`, false},
		{`severity >= medium`, true},
		{`severity > medium`, false},
		{`severity <= medium`, true},
		{`severity < medium`, false},
		{`severity < high`, true},
		{`severity >= low`, true},
		{`severity > none`, true},
		{`severity in (medium, high)`, true},
		// name (escapes in the raw JSON are decoded by the record)
		{`name contains "Troj/Agent-BKXQ"`, true},
		{`name matches "*C:\Users\mreyes\x.exe'"`, false}, // \U escapes U in a glob: backslash is gone
		{`name contains "C:\Users\mreyes"`, true},
		{`name =~ "at 'C:\\\\Users"`, true},
		// group, host, user, endpoint
		{`group == MALWARE`, true},
		{`group in ("PUA", "WEB")`, false},
		{`host == "WKS-FIN-0142"`, true},
		{`host matches "WKS-*"`, true},
		{`user == "NORTHWIND\mreyes"`, true},
		{`user == 'NORTHWIND\\mreyes'`, true},
		{`endpoint_id == "1b6f3d2e"`, true},
		{`endpoint_type in (computer, server)`, true},
		// raw paths
		{`raw.source_info.ip == "10.20.4.142"`, true},
		{`raw.source_info.ip startswith "10.20."`, true},
		{`raw.ips_threat_data.remote.ip == "198.51.100.23"`, true},
		{`raw.ips_threat_data.localPort == 445`, true},
		{`raw.ips_threat_data.detectionType == 0`, true},
		{`raw.count == 16`, true},
		{`raw.count in ("15", "16")`, true},
		{`raw.isolated == true`, true},
		{`raw.origin == ""`, true},                 // null reads as ""
		{`raw.missing == ""`, true},                // absent reads as ""
		{`raw.missing != "x"`, true},               // != is the negation of ==
		{`raw.source == "NORTHWIND\mreyes"`, true}, // escaped raw string
		{`raw.source =~ "^NORTHWIND\\\\"`, true},
		{`raw.source_info matches "*10.20.4.142*"`, true}, // objects read as JSON text
		{`raw.source_info.ip.deeper == ""`, true},
		// boolean structure
		{`severity >= medium and type matches "Event::Endpoint::Threat::*" and not tenant in ("a","b")`, true},
		{`severity >= high or group == MALWARE`, true},
		{`severity >= high or group == PUA`, false},
		{`(severity >= high or group == PUA) and stream == event`, false},
		{`severity >= high || (group == MALWARE && !(tenant == "x"))`, true},
		{`not not stream == event`, true},
		{`NOT stream == alert AND host == "WKS-FIN-0142"`, true},
	}
	for _, c := range cases {
		cond, err := Parse(c.expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.expr, err)
			continue
		}
		if got := cond.Match(ev); got != c.want {
			t.Errorf("%q on the test event = %v, want %v (canonical %q)", c.expr, got, c.want, cond.String())
		}
		// The canonical form means the same thing.
		again, err := Parse(cond.String())
		if err != nil {
			t.Errorf("re-Parse(%q): %v", cond.String(), err)
			continue
		}
		if got := again.Match(ev); got != c.want {
			t.Errorf("canonical %q = %v, want %v", cond.String(), got, c.want)
		}
	}
}

func TestMatchAlert(t *testing.T) {
	alerts := samples.Records(pipeline.Alerts)
	cases := []struct {
		expr string
		want int // number of the 4 sample alerts that match
	}{
		{`stream == alerts`, 4},
		{`severity >= high`, 2},
		{`severity == medium`, 2},
		{`name contains "cleanup"`, 2},   // alerts: name is the description
		{`endpoint_type == computer`, 4}, // from data.endpoint_type
		{`raw.data.endpoint_platform == "windows"`, 3},
		{`group == ""`, 4}, // alerts have no group
		{`type matches "*Threat*"`, 2},
		{`raw.threat_cleanable == false`, 3},
		{`raw.threat_cleanable == ""`, 1},
	}
	for _, c := range cases {
		cond := MustParse(c.expr)
		n := 0
		for _, r := range alerts {
			if cond.Match(r) {
				n++
			}
		}
		if n != c.want {
			t.Errorf("%q matches %d sample alerts, want %d", c.expr, n, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		expr string
		col  int
		msg  string
	}{
		{``, 1, "empty condition"},
		{`   `, 1, "empty condition"},
		{`sevrity >= medium`, 1, `unknown field "sevrity" (did you mean severity?)`},
		{`location == "x"`, 1, "did you mean host?"},
		{`raw == "x"`, 1, "raw needs a path"},
		{`raw.a..b == "x"`, 1, "empty key"},
		{`severity`, 9, "expected an operator"},
		{`severity = high`, 10, "use == to compare"},
		{`severity >= `, 13, "expected a value after >="},
		{`severity >= urgent`, 13, `unknown severity "urgent"`},
		{`type >= medium`, 6, "compares severities only"},
		{`stream == logs`, 11, `unknown stream "logs"`},
		{`tenant in "a"`, 11, "expected ( after in"},
		{`tenant in ("a" "b")`, 16, "expected , or ) in the list opened at column 11"},
		{`tenant in ()`, 12, "expected a value"},
		{`tenant in ("a",`, 16, "expected a value"},
		{`name == and`, 9, "found keyword and (quote it"},
		{`name =~ "(unclosed"`, 9, "invalid regular expression"},
		{`name == "unterminated`, 9, "unterminated string"},
		{`(severity >= high`, 18, "expected ) to close the ( at column 1"},
		{`severity >= high)`, 17, "unmatched )"},
		{`severity >= high severity`, 18, "expected and, or or the end"},
		{`severity >= high and`, 21, "expected a field"},
		{`and x == y`, 1, "expected a field"},
		{`"type" == x`, 1, "expected a field"},
		{`type not == x`, 10, "expected in, matches, startswith, contains or =~ after not"},
		{`type ~ x`, 6, `did you mean =~`},
		{`a == 1 & b == 2`, 8, `did you mean and`},
		{`é == x`, 1, "unknown field"},
		{`host == "é" and é`, 17, "unknown field"}, // columns count characters, not bytes
		{strings.Repeat("(", 100) + "id == x" + strings.Repeat(")", 100), 65, "nested too deeply"},
	}
	for _, c := range cases {
		_, err := Parse(c.expr)
		se, ok := err.(*SyntaxError)
		if !ok {
			t.Errorf("Parse(%q) = %v, want a *SyntaxError", c.expr, err)
			continue
		}
		if se.Col != c.col || !strings.Contains(se.Msg, c.msg) {
			t.Errorf("Parse(%q) = %q (col %d), want col %d containing %q", c.expr, err, se.Col, c.col, c.msg)
		}
	}
}

func TestString(t *testing.T) {
	cases := []struct{ in, want string }{
		{`severity>=MEDIUM`, `severity >= medium`},
		{`stream in (alerts,events)`, `stream in ("alert", "event")`},
		{`a.b == 1 or raw.a.b == 1`, ``}, // error case below
		{`type prefix Event::`, `type startswith "Event::"`},
		{`name ~= "\d+"`, `name =~ "\\d+"`},
		{`user == 'a"b'`, `user == "a\"b"`},
		{`a == b`, ``},
		{`host == x and (user == y and id == z)`, `host == "x" and user == "y" and id == "z"`},
		{`host == x or user == y and id == z`, `host == "x" or (user == "y" and id == "z")`},
		{`(host == x or user == y) and id == z`, `(host == "x" or user == "y") and id == "z"`},
		{`tenant not in (a)`, `not tenant in ("a")`},
		{`!(host == x && user == y)`, `not (host == "x" and user == "y")`},
		{`raw.data.endpoint_id != ""`, `raw.data.endpoint_id != ""`},
	}
	for _, c := range cases {
		cond, err := Parse(c.in)
		if c.want == "" {
			if err == nil {
				t.Errorf("Parse(%q) succeeded, want an error", c.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if got := cond.String(); got != c.want {
			t.Errorf("Parse(%q).String() = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestCombinators(t *testing.T) {
	ev := mustRecord(t, pipeline.Events, "t", testEvent)
	a := MustParse(`severity >= medium`)
	b := MustParse(`group == PUA or group == WEB`)
	if got := And(a, nil, b).String(); got != `severity >= medium and (group == "PUA" or group == "WEB")` {
		t.Errorf("And = %q", got)
	}
	if And(a, b).Match(ev) || !Or(a, b).Match(ev) || Not(a).Match(ev) {
		t.Error("combinators evaluate wrongly")
	}
	if And() != nil || Not(nil) != nil || !(*Condition)(nil).Match(ev) || (*Condition)(nil).String() != "" {
		t.Error("nil conditions must match everything and print empty")
	}
	if got := Or(Or(a, b), a).String(); got != `severity >= medium or group == "PUA" or group == "WEB" or severity >= medium` {
		t.Errorf("Or flattens: %q", got)
	}
}

func TestGlob(t *testing.T) {
	cases := []struct {
		pat, s string
		want   bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "anything::at/all", true},
		{"Event::*", "Event::Endpoint::Threat::Detected", true},
		{"Event::*::Detected", "Event::Endpoint::Threat::Detected", true},
		{"Event::*::Detected", "Event::Endpoint::Threat::DetectedX", false},
		{"*Threat*", "Event::Endpoint::Threat::Detected", true},
		{"?", "é", true},
		{"??", "é", false},
		{"a?c", "abc", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false},
		{`a\*`, "a*", true},
		{`a\*`, "ab", false},
		{`a\`, `a\`, true},
		{"*é*", "xéy", true},
		{"**a", "a", true},
		{"*a*a*a*a*b", strings.Repeat("a", 40), false},
	}
	for _, c := range cases {
		if got := Glob(c.pat, c.s); got != c.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", c.pat, c.s, got, c.want)
		}
	}
}

func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{"", `a`, `"`, `\`, `a\"b`, `\\"`, "new\nline", `C:\Users\`} {
		toks, err := lex(Quote(s))
		if err != nil || toks[0].kind != tString || toks[0].val != s || toks[1].kind != tEOF {
			t.Errorf("lex(Quote(%q)) = %+v, %v", s, toks, err)
		}
	}
}

func TestSyntaxErrorPointer(t *testing.T) {
	_, err := Parse(`severity >= urgent`)
	se := err.(*SyntaxError)
	if got, want := se.Pointer(), "severity >= urgent\n            ^"; got != want {
		t.Errorf("Pointer() =\n%s\nwant\n%s", got, want)
	}
}

// TestMatchAllocs proves the hot path does not allocate: typed fields, raw
// paths (plain and escaped strings), regexps, globs and large in-lists.
func TestMatchAllocs(t *testing.T) {
	ev := mustRecord(t, pipeline.Events, "tenant-a", testEvent)
	var big []string
	for i := range 20 {
		big = append(big, Quote(strings.Repeat("x", i)))
	}
	for _, expr := range []string{
		`severity >= medium and type matches "Event::Endpoint::Threat::*" and not tenant in ("a","b")`,
		`raw.source_info.ip startswith "10.20." and raw.ips_threat_data.remote.ip == "198.51.100.23"`,
		`raw.source == "NORTHWIND\mreyes"`,
		`name =~ "Troj/[A-Z][a-z]+-[A-Z]+" or host =~ "^SRV-"`,
		`tenant in (` + strings.Join(big, ",") + `)`,
		`raw.count == 16 and raw.origin == ""`,
	} {
		c := MustParse(expr)
		c.Match(ev) // warm the regexp and buffer pools
		if n := testing.AllocsPerRun(200, func() { c.Match(ev) }); n != 0 {
			t.Errorf("%q: %v allocations per Match, want 0", expr, n)
		}
	}
}

// FuzzParse: any input either fails with a *SyntaxError or parses into a
// condition whose canonical form parses back to the same canonical form and
// the same verdict on every sample record.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`severity >= medium and type matches "Event::Endpoint::Threat::*" and not tenant in ("a","b")`,
		`raw.data.endpoint_id =~ "^1b6f" || (group == 'PUA' && !stream == alerts)`,
		`user == "NORTHWIND\\mreyes" or name contains "\""`,
		`tenant not in (a, b, c, d, e, f, g, h, i, j)`,
		`((((id == x))))`, `type prefix Event:: and host matches "WKS-??-*"`,
		`severity<high`, `name == 'it\'s'`, "host == \"a\nb\"", `é`, `"`, `(`, `raw.`,
	} {
		f.Add(s)
	}
	recs := samples.All()
	f.Fuzz(func(t *testing.T, expr string) {
		c, err := Parse(expr)
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("Parse(%q) error %T %v, want *SyntaxError", expr, err, err)
			}
			return
		}
		s := c.String()
		c2, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its String %q does not parse: %v", expr, s, err)
		}
		if s2 := c2.String(); s2 != s {
			t.Fatalf("round trip changed %q into %q", s, s2)
		}
		for _, r := range recs {
			if c.Match(r) != c2.Match(r) {
				t.Fatalf("%q and its canonical %q disagree on record %s", expr, s, r.ID)
			}
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	recs := samples.All()
	for _, bc := range []struct{ name, expr string }{
		{"typed", `severity >= medium and type matches "Event::Endpoint::Threat::*" and not tenant in ("a","b")`},
		{"raw", `raw.source_info.ip startswith "10.20." or raw.data.endpoint_platform == "windows"`},
		{"regex", `name =~ "Troj/[A-Z][a-z]+-[A-Z]+"`},
	} {
		c := MustParse(bc.expr)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c.Match(recs[i%len(recs)])
				i++
			}
		})
	}
}
