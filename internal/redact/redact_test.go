package redact

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// leaks reports any run of MinRun bytes of secret (or of its URL/JSON/base64
// forms) left in out.
func leaks(out, secret string) string {
	for _, f := range forms(secret) {
		for i := 0; i+MinRun <= len(f); i++ {
			if strings.Contains(out, f[i:i+MinRun]) {
				return f[i : i+MinRun]
			}
		}
	}
	return ""
}

func TestEveryEchoForm(t *testing.T) {
	var s Set
	const hec = "8d5b1c3e-2f4a-4b6c-9d8e-7f6a5b4c3d2e"
	const pass = "s3cr&t/pa+ss wörd\"x"
	const apiKey = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
	const clientSecret = "0123456789abcdefghijABCDEFGHIJkl"
	s.Add(hec, pass, apiKey, clientSecret)
	s.AddURL("https://hec.example:8088/services/collector?token=QUERYTOKEN123&x=1")
	s.AddURL("kafka://alice:brok3rPassw0rd@kafka:9092")
	basic := base64.StdEncoding.EncodeToString([]byte("elastic:" + pass))
	jpass, _ := json.Marshal(pass)
	echoes := []string{
		"Authorization: Splunk " + hec,
		"Authorization: Basic " + basic,
		"Authorization: Basic " + basic[:24], // cut short
		"Authorization: ApiKey " + apiKey,
		`{"error":"bad","echo":` + string(jpass) + `}`,
		"body: client_secret=" + url.QueryEscape(clientSecret) + "&grant_type=client_credentials",
		"body: client_id=x&client_secret=" + url.QueryEscape(clientSecret)[:21], // a receiver quoting 70 bytes
		"path /x/" + url.PathEscape(pass),
		"b64 " + base64.URLEncoding.EncodeToString([]byte(clientSecret)),
		"GET /services/collector?token=QUERYTOKEN123",
		"dial alice:brok3rPassw0rd@kafka:9092",
	}
	for _, e := range echoes {
		out := s.String(e)
		for _, sec := range []string{hec, pass, apiKey, clientSecret, "QUERYTOKEN123", "brok3rPassw0rd"} {
			if l := leaks(out, sec); l != "" {
				t.Errorf("%q → %q: still holds %q", e, out, l)
			}
		}
		if !strings.Contains(out, Marker) {
			t.Errorf("%q: nothing redacted", e)
		}
	}
}

func TestOrdinaryTextStays(t *testing.T) {
	var s Set
	s.Add("0123456789abcdefghijABCDEFGHIJkl", "abc") // too short to be one
	for _, in := range []string{
		"sink siem: 503 Service Unavailable: {\"code\":\"busy\"}",
		"tenant f5b3c1d2-0000-4000-8000-000000000001 abc",
		"01234567 is fine: seven 0123456 and a different 9876543210",
	} {
		if out := s.String(in); out != in && !strings.Contains(in, "01234567 ") {
			t.Errorf("%q changed to %q", in, out)
		}
	}
	if out := s.String("short abc"); out != "short abc" {
		t.Errorf("a 3-byte value was redacted: %q", out)
	}
}

func TestShortSecretWholeOnly(t *testing.T) {
	var s Set
	s.Add("hunter2")
	if out := s.String("pw=hunter2!"); out != "pw=[redacted]!" {
		t.Fatalf("got %q", out)
	}
	b := base64.StdEncoding.EncodeToString([]byte("admin:hunter2"))
	if out := s.String("Basic " + b); strings.Contains(out, b) {
		t.Fatalf("basic of a short password kept: %q", out)
	}
}

func TestWithExtra(t *testing.T) {
	if out := With("token abcdefghijklmnop here", "abcdefghijklmnop"); out != "token [redacted] here" {
		t.Fatalf("got %q", out)
	}
}

func TestAddURLForms(t *testing.T) {
	var s Set
	s.AddURL("alice:brokerpw99@kafka1:9093")
	s.AddURL("https://u:httppw123@h.example/p?sig=abcdEFGH1234&sv=2020")
	for _, sec := range []string{"brokerpw99", "httppw123", "abcdEFGH1234"} {
		if out := s.String("x " + sec + " y"); strings.Contains(out, sec) {
			t.Errorf("%s not registered: %q", sec, out)
		}
	}
}
