package encoding

import (
	"bytes"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// The encoders were rewritten for speed (one walk of the item into a tape,
// strings copied verbatim when that gives the same bytes). oracle_test.go
// keeps the previous implementation, renamed with the prefix ref; the tests
// here feed both the same records and require the same bytes, the same
// errors and the same warnings.

// diffVariant is one encoder configuration under comparison.
type diffVariant struct {
	format string
	opts   Options
}

var diffVariants = func() []diffVariant {
	var vs []diffVariant
	for _, f := range Formats {
		if f == "ecs" || f == "integration" || f == "python-json" || f == "ocsf" || f == "leef" {
			// ecs now follows Elastic's integration pipeline, not the old
			// code: its oracle is the integration's fixtures (integration_test.go);
			// python-json's is python3 itself (TestPythonJSONMatchesPython);
			// ocsf's the OCSF schema, leef's the LEEF spec (ocsf_test.go, leef_test.go)
			continue
		}
		vs = append(vs, diffVariant{f, Options{}}, diffVariant{f, Options{CEFStrict: true}})
	}
	return append(vs, diffVariant{"cef", Options{KeepDhost: true}}, diffVariant{"official-json", Options{KeepDhost: true}},
		diffVariant{"keyvalue", Options{KeepDhost: true}})
}()

// diffPair is the new encoder and the oracle for one variant, each logging
// into its own buffer so that warnings can be compared too.
type diffPair struct {
	v              diffVariant
	enc, ref       Encoder
	encLog, refLog *bytes.Buffer
}

// noTime drops the time attribute so two logs of the same warnings match.
func noTime(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey && len(groups) == 0 {
		return slog.Attr{}
	}
	return a
}

func newDiffPairs(t testing.TB) []diffPair {
	t.Helper()
	var ps []diffPair
	for _, v := range diffVariants {
		p := diffPair{v: v, encLog: new(bytes.Buffer), refLog: new(bytes.Buffer)}
		o := v.opts
		o.Logger = slog.New(slog.NewTextHandler(p.encLog, &slog.HandlerOptions{ReplaceAttr: noTime}))
		var err error
		if p.enc, err = New(v.format, o); err != nil {
			t.Fatal(err)
		}
		ro := refOptions{CEFStrict: v.opts.CEFStrict, KeepDhost: v.opts.KeepDhost,
			Logger: slog.New(slog.NewTextHandler(p.refLog, &slog.HandlerOptions{ReplaceAttr: noTime}))}
		if p.ref, err = refNew(v.format, ro); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

// compare encodes r with both and fails on any difference.
func (p *diffPair) compare(t testing.TB, r *pipeline.Record) {
	t.Helper()
	prefix := []byte("pre")
	// Each side logs a value once per process: forget what was logged so
	// both start from the same state.
	warnMu.Lock()
	clear(warnSeen)
	warnMu.Unlock()
	refWarnMu.Lock()
	clear(refWarnSeen)
	refWarnMu.Unlock()
	sev0, split0 := WarningCounts()
	rsev0, rsplit0 := refWarningCounts()
	got, err := p.enc.Append(append([]byte(nil), prefix...), r)
	want, refErr := p.ref.Append(append([]byte(nil), prefix...), r)
	sev1, split1 := WarningCounts()
	rsev1, rsplit1 := refWarningCounts()
	name := fmt.Sprintf("%s %+v", p.v.format, p.v.opts)
	if (err == nil) != (refErr == nil) || err != nil && err.Error() != refErr.Error() {
		t.Fatalf("%s: error %v, oracle %v\nitem %q", name, err, refErr, r.Raw)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: output differs\nitem   %q\ngot    %q\noracle %q", name, r.Raw, got, want)
	}
	if sev1-sev0 != rsev1-rsev0 || split1-split0 != rsplit1-rsplit0 {
		t.Fatalf("%s: warning counts +%d/+%d, oracle +%d/+%d\nitem %q", name, sev1-sev0, split1-split0, rsev1-rsev0, rsplit1-rsplit0, r.Raw)
	}
	if !bytes.Equal(p.encLog.Bytes(), p.refLog.Bytes()) {
		t.Fatalf("%s: log differs\ngot    %s\noracle %s\nitem %q", name, p.encLog, p.refLog, r.Raw)
	}
	p.encLog.Reset()
	p.refLog.Reset()
}

// diffRecords returns the records to compare for one item: as an events and
// an alerts record, with RawChecked both as DecodeRecord sets it and false.
func diffRecords(item []byte) []*pipeline.Record {
	var rs []*pipeline.Record
	for _, s := range []pipeline.Stream{pipeline.Events, pipeline.Alerts} {
		r, err := pipeline.NewRecord(s, "t\"\n", item)
		if err != nil || !r.RawChecked {
			r = pipeline.Record{Stream: s, Tenant: "t\"\n", ID: "x", Raw: item}
		}
		rs = append(rs, &r)
		u := r
		u.RawChecked = false
		u.Tenant = ""
		rs = append(rs, &u)
	}
	return rs
}

// diffSeeds are the sample items, the golden edge cases and hand-written
// inputs aimed at the rewrite's shortcuts.
func diffSeeds(t testing.TB) [][]byte {
	t.Helper()
	var seeds [][]byte
	for _, pg := range goldenPages {
		page, err := os.ReadFile(filepath.Join("testdata", pg.file))
		if err != nil {
			t.Fatal(err)
		}
		_ = rawjson.EachElement(rawjson.Get(page, "items"), func(v []byte) bool {
			seeds = append(seeds, append([]byte(nil), v...))
			return true
		})
	}
	for _, s := range []string{
		`{}`, ` { } `, `{"a":null}`, `[1]`, `"x"`, `{"a":1`, `{}0`, `{"a":1}}`, `{"a" 1}`, `{"a":01}`, `{"a":tru}`,
		`{"a":"\x"}`, `{"a":"\u12"}`, "{\"a\":\"\x01\"}", `{"a":[1,]}`, `{"a":{"b":1,}}`, `{,}`, ` `, ``,
		`{"type":"Event::Endpoint::Threat::Detected","name":"'a' 'b'\n'c' 'd'"}`,
		`{"data":{"threat_id":{"timestamp":1,"machineIdentifier":2,"processIdentifier":3,"counter":4}},"x":1e999}`,
		`{"location":"İ\u212a","source":"\\","name":"\ud800"}`,
		`{"id":"a","id":"b","\u0069d":"c","data":{"x":1,"x":{"y":2,"y":3}},"data":[1,2]}`,
		`{"a\/b":"c\/d","e":"\u00e9\u0001\u001F\u007f\u2028","f":"\b\f\n\r\t\"\\","g":"\u0008\u000a\u000C\u000d\u0009\u0022\u005c"}`,
		"{\"inv\":\"\xff\xfe\xc3\",\"sur\":\"\xed\xa0\x80\",\"ok\":\"é日本😀\",\"k\xffey\":1}",
		`{"when":"2024-05-14T08:02:11.000Z","created_at":"not a date","severity":"HIGH","source":"\\user","user_id":5}`,
		`{"when":"2024-05-14T08:02:11+02:00","created_at":"2024-05-14T08:02:11Z","severity":"very_high","source":"dom\\","customer_id":7}`,
		`{"source_info":{"ip":"10.0.0.1","ip":"::1"},"ips_threat_data":{"localPort":"443","remoteIp":"fe80::1%eth0","remotePort":70000,"executableName":"a.exe","executablePath":"C:\\a.exe","executablePid":"12"},"amsi_threat_data":{"processName":"p","processId":"9","processPath":"C:\\","parentProcessPath":"x","parentProcessId":3}}`,
		`{"data":{"source_info":{"ip":"1.2.3.4"},"ips_threat":{"remote_ip":"1.2.3.4","remote_port":"80","local_port":"8080","executable_name":"n","executable_pid":"1"},"hmpa_exploit":{"process_name":"h","process_pid":2},"endpoint_platform":"linux","endpoint_id":"e","endpoint_type":"t"},"threat":"T","description":"d","type":"x"}`,
		`{"data":{"created_at":1715677912655,"x_at":"1","y_at":-62135596800001,"event_service_id":{"type":3,"data":"AAECAwQFBgcICQoLDA0ODw=="},"user_match_uuid":{"type":4,"data":"AAECAwQFBgcICQoLDA0ODw=="},"threat_id":"abc","user_match_id":{"timestamp":1715677912,"machineIdentifier":1,"processIdentifier":2,"counter":3,"time":1715677912000,"date":5,"timeSecond":6}}}`,
		`{"data":{"user_match_id":{"timestamp":1,"machineIdentifier":2,"processIdentifier":3,"counter":4,"id":"x"},"threat_id":{"timestamp":"1","machineIdentifier":2,"processIdentifier":3,"counter":4}}}`,
		`{"type":"Event::Endpoint::DataLossPreventionUserAllowed","name":"An \u2033allow\u2033 x.  Username: u  Rule names: \u2032r\u2032  User action: a  Application Name: n  Data Control action: c  File type: t  File size: 36  Source path: p"}`,
		`{"description":"desc","name":"n","type":"Event::Endpoint::Threat::CleanedUp","device_event_class_id":"d","full_file_path":"f","location":"A.B..c-","rt":"r"}`,
		`{"severity":"critical","type":["x"],"location":5,"name":{"a":{"b":{}}},"created_at":null,"rt":1.5}`,
		`{"nested":{"a":{"b":{"c":{"d":[{"e":"f"},[],{}]}}},"a_b":1},"nested_a":2,"x":1.0,"y":-0,"z":1E+2,"w":123456789012345678901234567890}`,
		`{"s":"it's","t":"say \"hi\"","u":"both ' and \"","v":"tab\there","w":"\u0000\u001f\u0085\u00ad\ud800\udc00\ud83d\ude00\udc00\ud800x"}`,
		`{ "a" : [ 1 , { "b" : "c" } , [ ] ] , "d" : { } , "e" : "f\u0020g" }`,
		`{"name":"x\ny","location":"a\rb","k\nk":"v=w|x\\y"}`,
		`{"source":"n/a"}`, `{"source":""}`, `{"source":"a\\b\\c"}`, `{"group":true,"customer_id":false,"id":null}`,
	} {
		seeds = append(seeds, []byte(s))
	}
	// Many members (the hash-indexed dict path), with repeats and escapes.
	var b strings.Builder
	b.WriteString(`{"type":"T"`)
	for i := 0; i < 80; i++ {
		fmt.Fprintf(&b, `,"k%d":%d`, i%37, i)
		if i%9 == 0 {
			fmt.Fprintf(&b, `,"\u006b%d":"e%d"`, i%37, i)
		}
	}
	b.WriteString(`,"n":{`)
	for i := 0; i < 70; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"m%d":{"v":%d}`, i%41, i)
	}
	b.WriteString("}}")
	seeds = append(seeds, []byte(b.String()))
	// Deep nesting at and past the parser's limit.
	for _, d := range []int{510, 511, 512, 513} {
		seeds = append(seeds, []byte(`{"a":`+strings.Repeat("[", d)+strings.Repeat("]", d)+`}`))
		seeds = append(seeds, []byte(`{"a":`+strings.Repeat(`{"b":`, d)+"1"+strings.Repeat("}", d)+`}`))
	}
	return seeds
}

// randItem builds a random JSON object from Sophos-like keys and values
// chosen to hit escapes, repeats, nesting and odd numbers.
func randItem(rng *rand.Rand) []byte {
	keys := []string{"id", "when", "created_at", "customer_id", "type", "name", "description", "source", "user_id",
		"location", "endpoint_id", "endpoint_type", "severity", "threat", "appSha256", "data", "source_info",
		"ips_threat_data", "amsi_threat_data", "group", "origin", "full_file_path", "device_event_class_id", "rt",
		"ip", "ips_threat", "hmpa_exploit", "remote_ip", "local_port", "threat_id", "user_match_id", "inserted_at",
		"event_service_id", "timestamp", "counter", "machineIdentifier", "processIdentifier", "time", "x_y", "x",
		"\\u0069d", "na\\u006de", "k\\\\", "\\/", "é", "a b", "a=b", "a|b", "\\n"}
	strs := []string{"", "x", "n/a", "DOM\\\\user", "\\\\u", "u\\\\", "it's", "\\\"q\\\"", "\\u00e9", "é", "\\ud800", "\\udc00\\ud800",
		"\\ud83d\\ude00", "😀", "\\n\\r\\t", "\\b\\f", "\\/", "\\u0000", "\\u001f", "\\u007f", "\x7f", "\\u2028", "a=b|c\\\\d",
		"2024-05-14T08:02:11.000Z", "2024-05-14T08:02:11Z", "10.0.0.1", "::1", "fe80::1%1", "80", "99999", "low", "medium",
		"high", "very_high", "none", "critical", "Event::Endpoint::Threat::Detected", "'a' 'b' 'c' 'd'",
		"Malware: 'X' at 'C:\\\\a.exe'", "WKS-01", "Mary's iMac.local", " sp ", "\xff", "\xc3\x28", "abcdefghijklmnopqrstuvwxyz0123456789"}
	nums := []string{"0", "-0", "1", "443", "70000", "1715677912655", "2.50", "1e3", "1E-7", "-1.5e+300", "1e999", "12345678901234567890", "0.1"}
	var val func(b *bytes.Buffer, depth int)
	obj := func(b *bytes.Buffer, depth, n int) {
		b.WriteByte('{')
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			if rng.IntN(8) == 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(b, `"%s":`, keys[rng.IntN(len(keys))])
			val(b, depth+1)
		}
		b.WriteByte('}')
	}
	val = func(b *bytes.Buffer, depth int) {
		switch k := rng.IntN(14); {
		case k < 6:
			fmt.Fprintf(b, `"%s"`, strs[rng.IntN(len(strs))])
		case k < 8:
			b.WriteString(nums[rng.IntN(len(nums))])
		case k == 8:
			b.WriteString([]string{"true", "false", "null"}[rng.IntN(3)])
		case k < 12 && depth < 5:
			obj(b, depth, rng.IntN(6))
		case depth < 5:
			b.WriteByte('[')
			for i, n := 0, rng.IntN(4); i < n; i++ {
				if i > 0 {
					b.WriteString(" ,")
				}
				val(b, depth+1)
			}
			b.WriteByte(']')
		default:
			b.WriteString("null")
		}
	}
	var b bytes.Buffer
	obj(&b, 0, 1+rng.IntN(24))
	return b.Bytes()
}

var oracleItems = flag.Int("oracle.items", 400, "random items TestTapeMatchesOracle compares (400: about 10 s under -race)")

// TestTapeMatchesOracle compares the encoders with the oracle on the seeds
// and on random items (a fixed seed, so a failure reproduces).
func TestTapeMatchesOracle(t *testing.T) {
	pairs := newDiffPairs(t)
	items := diffSeeds(t)
	rng := rand.New(rand.NewPCG(7, 11))
	n := *oracleItems
	if testing.Short() {
		n = 50
	}
	for i := 0; i < n; i++ {
		items = append(items, randItem(rng))
	}
	for _, item := range items {
		for _, r := range diffRecords(item) {
			for i := range pairs {
				pairs[i].compare(t, r)
			}
		}
	}
}

// FuzzTapeMatchesOracle is TestTapeMatchesOracle on fuzzed items:
// go test -run XXX -fuzz FuzzTapeMatchesOracle -fuzztime 60s ./sinks/encoding/
func FuzzTapeMatchesOracle(f *testing.F) {
	for _, s := range diffSeeds(f) {
		f.Add(s)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 50; i++ {
		f.Add(randItem(rng))
	}
	pairs := newDiffPairs(f)
	f.Fuzz(func(t *testing.T, item []byte) {
		for _, r := range diffRecords(item) {
			for i := range pairs {
				pairs[i].compare(t, r)
			}
		}
	})
}
