package encoding

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/encoding/leeftest"
)

// TestLEEFParseSpecExamples: the parser reads the specification's own
// examples (LEEF 1.0 with tabs, 2.0 with ^ and with a hex delimiter).
func TestLEEFParseSpecExamples(t *testing.T) {
	for _, tt := range []struct {
		line    string
		version string
		delim   byte
		attrs   string
	}{
		{"LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=192.0.2.0\tdst=172.50.123.1\tsev=5\tcat=anomaly\tsrcPort=81\tdstPort=21\tusrName=joe.black",
			"1.0", '\t', "src=192.0.2.0 dst=172.50.123.1 sev=5 cat=anomaly srcPort=81 dstPort=21 usrName=joe.black"},
		{"LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5^srcPort=81^dstPort=21",
			"2.0", '^', "src=10.0.1.8 dst=10.0.0.5 sev=5 srcPort=81 dstPort=21"},
		{"LEEF:2.0|Lancope|StealthWatch|1.0|41|x5E|src=10.0.1.8^dst=10.0.0.5",
			"2.0", '^', "src=10.0.1.8 dst=10.0.0.5"},
		{"LEEF:2.0|Lancope|StealthWatch|1.0|41|0x09|src=10.0.1.8\tdst=10.0.0.5",
			"2.0", '\t', "src=10.0.1.8 dst=10.0.0.5"},
		{"LEEF:1.0|ABC Company|SystemDefender|1.13|console_login|devTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ\tdevTime=2017-10-18T11:26:03.060+0200\tusrName=flastname\tname=Firstname Lastname\tauthType=interactivePassword\tsrc=192.168.0.1",
			"1.0", '\t', "devTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ devTime=2017-10-18T11:26:03.060+0200 usrName=flastname name=Firstname Lastname authType=interactivePassword src=192.168.0.1"},
	} {
		ev, err := leeftest.Parse(tt.line)
		if err != nil {
			t.Fatalf("%q: %v", tt.line, err)
		}
		var got []string
		for _, a := range ev.Attrs {
			got = append(got, a[0]+"="+a[1])
		}
		if ev.Version != tt.version || ev.Delim != tt.delim || strings.Join(got, " ") != tt.attrs {
			t.Errorf("%q: version %s delim %q attrs %q", tt.line, ev.Version, ev.Delim, strings.Join(got, " "))
		}
	}
	if _, err := leeftest.Parse("LEEF:2.0|a|b|c|d|"); err == nil {
		t.Error("a 2.0 header without its delimiter field parsed")
	}
}

// leefPredefined are the LEEF specification's predefined keys the encoder
// may write, with a check of the value's form.
var leefPredefined = map[string]func(string) bool{
	"devTime":       func(v string) bool { _, err := time.Parse("2006-01-02T15:04:05.000-0700", v); return err == nil },
	"devTimeFormat": func(v string) bool { return v == LEEFDevTimeFormat },
	"cat":           func(v string) bool { return v != "" },
	"sev": func(v string) bool {
		n, err := strconv.Atoi(v)
		return err == nil && n >= 1 && n <= 10
	},
	"src":           isIPString,
	"dst":           isIPString,
	"identSrc":      isIPString,
	"srcPort":       isPort,
	"dstPort":       isPort,
	"proto":         func(v string) bool { return v != "" },
	"srcMAC":        isMAC,
	"dstMAC":        isMAC,
	"usrName":       func(v string) bool { return v != "" },
	"identHostName": func(v string) bool { return v != "" },
	"url":           func(v string) bool { return strings.HasPrefix(v, "http") },
}

var leefSophosKeys = map[string]bool{"sophosId": true, "sophosTenantId": true, "sophosEndpointId": true,
	"sophosEndpointType": true, "sophosSeverity": true, "threat": true, "name": true,
	"caseStatus": true, "mitreTactics": true, "mitreTechniques": true, "description": true}

func isIPString(v string) bool { return isIP([]byte(v)) }
func isPort(v string) bool     { _, err := strconv.ParseUint(v, 10, 16); return err == nil }
func isMAC(v string) bool {
	return len(v) == 17 && strings.Count(v, ":") == 5
}

// leefText is what a value holds for text s: tab and line breaks written
// as \t \n \r.
func leefText(s string) string {
	return strings.NewReplacer("\t", `\t`, "\n", `\n`, "\r", `\r`).Replace(s)
}

// TestLEEFCatalogueRoundTrip encodes every type of the emulator's catalogue
// in both versions and reads each line back with the spec's parser.
func TestLEEFCatalogueRoundTrip(t *testing.T) {
	for _, version := range LEEFVersions {
		enc := mustNew(t, "leef", Options{LEEF: LEEFOptions{Version: version}})
		for _, stream := range ocsfStreams() {
			for _, r := range catalogueRecords(t, stream, 3) {
				line := encode(t, enc, r)
				checkLEEF(t, line, version, r)
			}
		}
	}
}

func checkLEEF(t *testing.T, line, version string, r *pipeline.Record) {
	t.Helper()
	if strings.ContainsAny(line, "\r\n") {
		t.Fatalf("%s: line break in %q", r.Type, line)
	}
	ev, err := leeftest.Parse(line)
	if err != nil {
		t.Fatalf("%s: %v\n%q", r.Type, err, line)
	}
	eventID := r.Type
	if r.Stream == pipeline.Detections {
		eventID = r.Name
	}
	if ev.Version != version || ev.Vendor != "Sophos" || ev.Product != "Central" || ev.EventID != eventID || ev.Delim != '\t' {
		t.Fatalf("%s: header %+v", r.Type, ev)
	}
	seen := map[string]bool{}
	for _, a := range ev.Attrs {
		if seen[a[0]] {
			t.Errorf("%s: key %s twice", r.Type, a[0])
		}
		seen[a[0]] = true
		if check, ok := leefPredefined[a[0]]; ok {
			if !check(a[1]) {
				t.Errorf("%s: %s=%q is not a valid value", r.Type, a[0], a[1])
			}
		} else if !leefSophosKeys[a[0]] {
			t.Errorf("%s: unexpected key %s", r.Type, a[0])
		}
	}
	for _, k := range []string{"devTime", "devTimeFormat", "cat", "sev", "sophosId", "identHostName"} {
		if k == "identHostName" && r.Host == "" {
			continue // a case not named after a host
		}
		if !seen[k] {
			t.Errorf("%s: no %s in %q", r.Type, k, line)
		}
	}
	if v, _ := ev.Attr("sophosId"); v != r.ID {
		t.Errorf("%s: sophosId %q, want %q", r.Type, v, r.ID)
	}
	if v, _ := ev.Attr("devTime"); v != "" {
		got, _ := time.Parse("2006-01-02T15:04:05.000-0700", v)
		if !got.Equal(r.WhenTime()) {
			t.Errorf("%s: devTime %s, the item's when is %s", r.Type, v, r.When)
		}
	}
	if v, _ := ev.Attr("name"); v != leefText(r.Name) {
		t.Errorf("%s: name %q, want %q", r.Type, v, leefText(r.Name))
	}
	if u := r.User; u != "" && u != "n/a" {
		if v, _ := ev.Attr("usrName"); v != leefText(u) {
			t.Errorf("%s: usrName %q, want %q", r.Type, v, u)
		}
	}
	if r.Stream == pipeline.Detections && strings.Contains(string(r.Raw), `"tactic"`) && !seen["mitreTactics"] {
		t.Errorf("%s: detection with MITRE tactics but no mitreTactics: %q", r.Type, line)
	}
	if strings.Contains(r.Type, "Ips") {
		for _, k := range []string{"src", "dst", "srcPort", "dstPort", "proto", "srcMAC", "dstMAC"} {
			if !seen[k] {
				t.Errorf("%s: IPS record without %s: %q", r.Type, k, line)
			}
		}
	}
}

// TestLEEFEscaping: a | or \ in a header field is escaped with a
// backslash, a tab or line break in a value is written \t \n \r, and the
// spec's parser reads the original back.
func TestLEEFEscaping(t *testing.T) {
	item := `{"id":"a|b","type":"Event::Custom|Pipe\\Back","severity":"high","name":"one\ttwo\nthree=3 | four",` +
		`"when":"2026-01-02T03:04:05.678Z","location":"host\tname","source":"DOM\\user"}`
	r, err := pipeline.NewRecord(pipeline.Events, "t", []byte(item))
	if err != nil {
		t.Fatal(err)
	}
	line := encode(t, mustNew(t, "leef", Options{}), &r)
	want := `LEEF:2.0|Sophos|Central|1.0|Event::Custom\|Pipe\\Back|x09|devTime=2026-01-02T03:04:05.678+0000` + "\t"
	if !strings.HasPrefix(line, want) {
		t.Fatalf("got  %q\nwant %q…", line, want)
	}
	ev, err := leeftest.Parse(line)
	if err != nil {
		t.Fatal(err)
	}
	name, _ := ev.Attr("name")
	host, _ := ev.Attr("identHostName")
	user, _ := ev.Attr("usrName")
	sev, _ := ev.Attr("sev")
	if ev.EventID != `Event::Custom|Pipe\Back` || name != `one\ttwo\nthree=3 | four` || host != `host\tname` || user != `DOM\user` || sev != "8" {
		t.Errorf("parsed %+v", ev)
	}
	v1 := encode(t, mustNew(t, "leef", Options{LEEF: LEEFOptions{Version: "1.0"}}), &r)
	if !strings.HasPrefix(v1, `LEEF:1.0|Sophos|Central|1.0|Event::Custom\|Pipe\\Back|devTime=`) {
		t.Errorf("1.0 header: %q", v1)
	}
	if _, err := New("leef", Options{LEEF: LEEFOptions{Version: "3.0"}}); err == nil || !strings.Contains(err.Error(), `"2.0"`) {
		t.Errorf("version 3.0: %v", err)
	}
}
