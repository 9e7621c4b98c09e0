package encoding

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// Expectations in this file were checked against the official script's own
// functions (siem.py and name_mapping.py v2.1.0) run by Python 3.11.

func TestOfficialRules(t *testing.T) {
	tests := []struct {
		name, format string
		stream       pipeline.Stream
		opts         Options
		in, want     string
	}{
		{"renames move to the end in record order; top-level null dropped, nested null kept", "official-json", pipeline.Events, Options{},
			`{"location":"h1","a":null,"source":"u","n":{"x":null},"created_at":"t","when":"w","user_id":"d","full_file_path":"p","type":"T","name":"N"}`,
			`{"n": {"x": null}, "type": "T", "name": "N", "datastream": "event", "dhost": "h1", "suser": "u", "rt": "t", "end": "w", "duid": "d", "filePath": "p"}`},
		{"same record as keyvalue", "keyvalue", pipeline.Events, Options{},
			`{"location":"h1","a":null,"source":"u","n":{"x":null},"created_at":"t","when":"w","user_id":"d","full_file_path":"p","type":"T","name":"N"}`,
			`t n="{'x': None}"; type="T"; name="N"; datastream="event"; dhost="h1"; suser="u"; rt="t"; end="w"; duid="d"; filePath="p";`},
		{"same record as cef", "cef", pipeline.Events, Options{},
			`{"location":"h1","a":null,"source":"u","n":{"x":null},"created_at":"t","when":"w","user_id":"d","full_file_path":"p","type":"T","name":"N"}`,
			`CEF:0|sophos|sophos central|1.0|T|N|0|n_x=None datastream=event dhost=h1 suser=u rt=t end=w duid=d filePath=p`},
		{"rename onto an existing key updates it in place", "official-json", pipeline.Events, Options{},
			`{"suser":"old","source":"new","type":"T"}`,
			`{"suser": "new", "type": "T", "datastream": "event"}`},
		{"existing datastream is overwritten in place", "official-json", pipeline.Alerts, Options{},
			`{"datastream":"x","type":"T"}`,
			`{"datastream": "alert", "type": "T"}`},
		{"alert: name from description appended after the renames, then the threat split", "official-json", pipeline.Alerts, Options{},
			`{"type":"Event::Endpoint::Threat::CleanedUp","description":"Threat 'EICAR' in 'myfile.com' ","created_at":"c","location":"l"}`,
			`{"type": "Event::Endpoint::Threat::CleanedUp", "description": "Threat 'EICAR' in 'myfile.com' ", "datastream": "alert", "rt": "c", "dhost": "l", "name": "EICAR", "detection_identity_name": "EICAR", "filePath": "myfile.com"}`},
		{"cef escaping: header \\ and |, string values \\ and =, keys and non-strings as they are, raw newline", "cef", pipeline.Events, Options{},
			`{"type":"A|B\\C","name":"n|a\\m=e","severity":"low","k=y":"v=a\\l\nue","lst":["a=b","c\\d"],"f":2.50,"b":true,"n":{"x":null,"y":{}},"e":{},"last":"trail  "}`,
			"CEF:0|sophos|sophos central|1.0|A\\|B\\\\C|n\\|a\\\\m=e|1|k=y=v\\=a\\\\l\nue lst=['a=b', 'c\\\\d'] f=2.5 b=True n_x=None last=trail   datastream=event"},
		{"cef_strict escapes newlines and CR everywhere", "cef", pipeline.Events, Options{CEFStrict: true},
			`{"type":"T\n","name":"a\r\nb","severity":"low","k\n":"v\nw\r"}`,
			`CEF:0|sophos|sophos central|1.0|T\n|a\r\nb|1|k\n=v\nw\r datastream=event`},
		{"cef line is strip()ped", "cef", pipeline.Events, Options{},
			`{"type":"T","severity":"high","datastream":"event","last":"x  \n\u3000"}`,
			`CEF:0|sophos|sophos central|1.0|T|NA|8|datastream=event last=x`},
		{"cef lists as repr, nested dicts flattened, BSON object ids", "cef", pipeline.Alerts, Options{},
			`{"type":"T","certs":[{"signer":"X","thumbprint":"ab"}],"flags":[true,false,null,1,"x"],"data":{"threat_id":{"counter":5,"time":1},"user_match_uuid":{"type":3,"data":"aA=="},"certificates":[]},"description":"d","last":"x  \n"}`,
			`CEF:0|sophos|sophos central|1.0|T|d|0|certs=[{'signer': 'X', 'thumbprint': 'ab'}] flags=[True, False, None, 1, 'x'] data_threat_id_counter=5 data_threat_id_time=1 data_user_match_uuid_type=3 data_user_match_uuid_data=aA\=\= data_certificates=[] description=d last=x  ` + "\n" + ` datastream=alert`},
		{"keyvalue: rt first, str() values, nothing escaped, strip()", "keyvalue", pipeline.Events, Options{},
			`{"created_at":"  2024 ","type":"T","q":"a\"b;c\\d\ne","d":{"ip":"1.2.3.4","t":true},"l":[1,2.5,null]}`,
			"2024  type=\"T\"; q=\"a\"b;c\\d\ne\"; d=\"{'ip': '1.2.3.4', 't': True}\"; l=\"[1, 2.5, None]\"; datastream=\"event\"; rt=\"  2024 \";"},
		{"keyvalue strict keeps one line", "keyvalue", pipeline.Events, Options{CEFStrict: true},
			`{"created_at":"c","type":"T","q":"a\nb\rc"}`,
			`c type="T"; q="a\nb\rc"; datastream="event"; rt="c";`},
		{"json escapes: lower-case \\u00xx, named escapes, no / < > & U+2028 escaping, DEL raw", "official-json", pipeline.Events, Options{},
			`{"type":"T","s":"\u0001\u001f\b\f\n\r\t\"\\/<>&\u2028\u2029\u007f\u00e9\ud83d\ude00"}`,
			"{\"type\": \"T\", \"s\": \"\\u0001\\u001f\\b\\f\\n\\r\\t\\\"\\\\/<>&\u2028\u2029\u007f\u00e9\U0001F600\", \"datastream\": \"event\"}"},
		{"json numbers as Python prints them", "official-json", pipeline.Events, Options{},
			`{"type":"T","a":2.50,"b":1e3,"c":-0,"d":-0.0,"e":0.00001,"f":1e16,"g":12345678901234567890,"h":[1E3,1e-7,100.0]}`,
			`{"type": "T", "a": 2.5, "b": 1000.0, "c": 0, "d": -0.0, "e": 1e-05, "f": 1e+16, "g": 12345678901234567890, "h": [1000.0, 1e-07, 100.0], "datastream": "event"}`},
		{"dhost cleanup off keeps location", "official-json", pipeline.Events, Options{KeepDhost: true},
			`{"type":"T","location":"mock_Mercury_1"}`,
			`{"type": "T", "datastream": "event", "dhost": "mock_Mercury_1"}`},
		{"repeated key: first position, last value", "official-json", pipeline.Events, Options{},
			`{"type":"T","a":1,"b":{"x":1,"y":2,"x":3},"a":null}`,
			`{"type": "T", "b": {"x": 3, "y": 2}, "datastream": "event"}`},
		{"DLP user allowed fields", "official-json", pipeline.Events, Options{},
			`{"type":"Event::Endpoint::DataLossPreventionUserAllowed","name":"An \u2033allow transfer on acceptance by user\u2033 action was taken.  Username: WIN10CLOUD2\\Sophos  Rule names: \u2032test\u2032  User action: File open  Application Name: Google Chrome  Data Control action: Allow  File type: Plain text (ASCII/UTF-8)  File size: 36  Source path: C:\\Users\\Sophos\\Desktop\\test.txt"}`,
			`{"type": "Event::Endpoint::DataLossPreventionUserAllowed", "name": "allow transfer on acceptance by user", "datastream": "event", "user": "WIN10CLOUD2\\Sophos", "rule": "test", "user_action": "File open", "app_name": "Google Chrome", "action": "Allow", "file_type": "Plain text (ASCII/UTF-8)", "file_size": "36", "file_path": "C:\\Users\\Sophos\\Desktop\\test.txt"}`},
		{"threat name that does not split is kept", "official-json", pipeline.Events, Options{},
			`{"type":"Event::Endpoint::Threat::Detected","name":"only 'one' quote pair"}`,
			`{"type": "Event::Endpoint::Threat::Detected", "name": "only 'one' quote pair", "datastream": "event"}`},
		{"noisy types pass through", "official-json", pipeline.Events, Options{},
			`{"type":"Event::Endpoint::UpdateSuccess","name":"'a' 'b' 'c' 'd'"}`,
			`{"type": "Event::Endpoint::UpdateSuccess", "name": "'a' 'b' 'c' 'd'", "datastream": "event"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := encode(t, mustNew(t, tc.format, tc.opts), rec(tc.stream, tc.in))
			if got != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestDhost(t *testing.T) {
	tests := []struct {
		in    string
		valid bool
		out   string
	}{
		{"mock_Mercury_1", false, "mock-mercury-1"},
		{"Mary's iMac.local", false, "mary-s-imac.local"},
		{"Reception PC #2", false, "reception-pc-2"},
		{"WKS-FIN-0142", true, "WKS-FIN-0142"},
		{"host.example.com", true, "host.example.com"},
		{"UPPER.Example.COM", true, "UPPER.Example.COM"},
		{"host.", true, "host."},
		{" host ", true, " host "},
		{"abc\n.def", true, "abc\n.def"}, // Python's $ matches before a final newline
		{"a..b", false, "a.b"},
		{"a.'.b", false, "a..b"},
		{"-a-", false, "a"},
		{"İstanbul", false, "i-stanbul"},
		{"\u212ax", false, "kx"},
		{"Ünïcödé-Host", false, "n-c-d--host"},
		{"a_b.c d.", false, "a-b.c-d"},
		{"", false, ""},
		{"  ", false, ""},
		{strings.Repeat("a", 63) + ".b", true, strings.Repeat("a", 63) + ".b"},
		{strings.Repeat("a", 64), false, strings.Repeat("a", 64)},
		{strings.Repeat("a.", 128), true, strings.Repeat("a.", 128)}, // 255 characters once the dot is chomped
		{strings.Repeat("a.", 128) + "a", false, strings.Repeat("a.", 128) + "a"},
	}
	for _, tc := range tests {
		if got := validFQDN([]byte(tc.in)); got != tc.valid {
			t.Errorf("validFQDN(%q) = %v", tc.in, got)
		}
		out := tc.in
		if !tc.valid {
			out = string(appendConvertFQDN(nil, []byte(tc.in)))
		}
		if out != tc.out {
			t.Errorf("dhost(%q) = %q, want %q", tc.in, out, tc.out)
		}
		// Through the encoder too.
		o := mustNew(t, "official-json", Options{}).(*officialJSONEncoder)
		r := rec(pipeline.Events, `{"type":"T","location":`+string(appendJSONString(nil, plainText([]byte(tc.in))))+`}`)
		want := `{"type": "T", "datastream": "event", "dhost": ` + string(appendJSONString(nil, plainText([]byte(tc.out)))) + `}`
		if got := encode(t, o, r); got != want {
			t.Errorf("encoded %q: got %s want %s", tc.in, got, want)
		}
	}
}

func TestSeverityMap(t *testing.T) {
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	// Other tests may have logged these values already.
	warnMu.Lock()
	clear(warnSeen)
	warnMu.Unlock()
	tests := []struct {
		sev  string // JSON value, "" for missing
		want string
		warn string // the value in the warning, "" for none
	}{
		{`"none"`, "0", ""}, {`"low"`, "1", ""}, {`"medium"`, "5", ""}, {`"high"`, "8", ""}, {`"very_high"`, "10", ""},
		{`"critical"`, "0", "critical"}, {`"High"`, "0", "High"}, {"", "0", "NA"}, {`5`, "0", "5"}, {`true`, "0", "True"},
	}
	for _, tc := range tests {
		in := `{"type":"T"}`
		if tc.sev != "" {
			in = `{"type":"T","severity":` + tc.sev + `}`
		}
		before, _ := WarningCounts()
		got := encode(t, mustNew(t, "cef", Options{Logger: log}), rec(pipeline.Events, in))
		if want := "CEF:0|sophos|sophos central|1.0|T|NA|" + tc.want + "|datastream=event"; got != want {
			t.Errorf("%s: got %s want %s", tc.sev, got, want)
		}
		after, _ := WarningCounts()
		if (after > before) != (tc.warn != "") {
			t.Errorf("%s: warning counted %v", tc.sev, after > before)
		}
		if tc.warn != "" && !strings.Contains(logBuf.String(), `The \"`+tc.warn+`\" severity can not be mapped, defaulting to 0`) {
			t.Errorf("%s: warning not logged: %s", tc.sev, logBuf.String())
		}
	}
	// Once per distinct value: a repeat is counted but not logged again.
	n := strings.Count(logBuf.String(), "critical")
	before, _ := WarningCounts()
	encode(t, mustNew(t, "cef", Options{Logger: log}), rec(pipeline.Events, `{"type":"T","severity":"critical"}`))
	after, _ := WarningCounts()
	if after != before+1 || strings.Count(logBuf.String(), "critical") != n {
		t.Errorf("repeat: counted %d, logged again %v", after-before, strings.Count(logBuf.String(), "critical") != n)
	}
}

func TestPythonRepr(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `'plain'`},
		{"it's", `"it's"`},
		{`say "hi"`, `'say "hi"'`},
		{`both ' and "`, `'both \' and "'`},
		{`back\slash`, `'back\\slash'`},
		{"nl\nx\ty\rz", `'nl\nx\ty\rz'`},
		{"\x00\x1f\x7f", `'\x00\x1f\x7f'`},
		{"\u0085\u00a0\u00ad", `'\x85\xa0\xad'`},
		{"é日本", `'é日本'`},
		{"\u200b\u2028", `'\u200b\u2028'`},
		{"😀", `'😀'`},
		{"\ue000", `'\ue000'`},
		{"\U000f0000", `'\U000f0000'`},
		{"\u0378", `'\u0378'`},
		{"\u00ff\u0100", `'ÿĀ'`},
	}
	for _, tc := range tests {
		if got := string(appendRepr(nil, plainText([]byte(tc.in)))); got != tc.want {
			t.Errorf("repr(%q) = %s, want %s", tc.in, got, tc.want)
		}
		// The same text arriving JSON-escaped.
		if got := string(appendRepr(nil, jsonText(appendJSONString(nil, plainText([]byte(tc.in)))))); got != tc.want {
			t.Errorf("repr(json %q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	var p py
	for in, want := range map[string]string{
		`"\ud800"`:                        `'\ud800'`, // a lone surrogate stays one in Python
		`{"a":[1,2.5,null,true],"b":{}}`:  `{'a': [1, 2.5, None, True], 'b': {}}`,
		`[[],{"k":"it's"}]`:               `[[], {'k': "it's"}]`,
		`{"\u00e9":"x","a":1,"\u00e9":2}`: `{'é': 2, 'a': 1}`,
	} {
		if got := string(p.appendRepr(nil, []byte(in))); got != want {
			t.Errorf("repr(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestPythonNumbers(t *testing.T) {
	tests := []struct{ in, repr, json string }{
		{"2.50", "2.5", "2.5"}, {"1e3", "1000.0", "1000.0"}, {"1E3", "1000.0", "1000.0"},
		{"-0", "0", "0"}, {"-0.0", "-0.0", "-0.0"}, {"0.0001", "0.0001", "0.0001"},
		{"0.00001", "1e-05", "1e-05"}, {"1e16", "1e+16", "1e+16"}, {"1.5e16", "1.5e+16", "1.5e+16"},
		{"123456789012345678", "123456789012345678", "123456789012345678"}, {"1e22", "1e+22", "1e+22"},
		{"1e-7", "1e-07", "1e-07"}, {"100.0", "100.0", "100.0"}, {"1e308", "1e+308", "1e+308"},
		{"1e999", "inf", "1e999"}, {"-1e999", "-inf", "-1e999"}, {"0.1", "0.1", "0.1"}, {"1.0", "1.0", "1.0"},
		{"12345678901234567890123", "12345678901234567890123", "12345678901234567890123"},
		{"9007199254740993.0", "9007199254740992.0", "9007199254740992.0"}, {"5e-324", "5e-324", "5e-324"},
		{"1.7976931348623157e308", "1.7976931348623157e+308", "1.7976931348623157e+308"},
		{"123456789.123456789", "123456789.12345679", "123456789.12345679"},
		{"1e15", "1000000000000000.0", "1000000000000000.0"}, {"0.000123", "0.000123", "0.000123"},
		{"1715677912655", "1715677912655", "1715677912655"},
	}
	for _, tc := range tests {
		if got := string(appendPyNumber(nil, []byte(tc.in), false)); got != tc.repr {
			t.Errorf("repr(%s) = %s, want %s", tc.in, got, tc.repr)
		}
		if got := string(appendPyNumber(nil, []byte(tc.in), true)); got != tc.json {
			t.Errorf("json(%s) = %s, want %s", tc.in, got, tc.json)
		}
	}
}

// TestSplitThreatMatchesRegexp checks the hand-written threat split against
// Go's regexp, whose leftmost-first submatches are Python's re.search's.
func TestSplitThreatMatchesRegexp(t *testing.T) {
	re := regexp.MustCompile(`'(.*?)'.+'(.*?)'`)
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"'", "'", "'", "a", " ", "\n", "é", "\\", "\r"}
	check := func(s string) {
		m := re.FindStringSubmatchIndex(s)
		d0, d1, f0, f1, ok := splitThreat([]byte(s))
		if ok != (m != nil) || ok && (d0 != m[2] || d1 != m[3] || f0 != m[4] || f1 != m[5]) {
			t.Fatalf("%q: split %v %d %d %d %d, regexp %v", s, ok, d0, d1, f0, f1, m)
		}
	}
	for _, s := range []string{"", "'a' 'b'", "'a''b'", "'a'b'", "x'a'\n'b' 'c'", "Threat 'EICAR' in 'myfile.com' ", "''x''", "'''''"} {
		check(s)
	}
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		for n := rng.IntN(16); n > 0; n-- {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		check(b.String())
	}
}
