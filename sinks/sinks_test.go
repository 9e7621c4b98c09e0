package sinks

import (
	"encoding/json"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/sinks/googlesecops/googlesecopstest"
)

// TestHTTPSinkTypes builds the splunk_hec, sentinel and http sinks from YAML
// the way the collector does: keys decoded strictly (an unknown key is named
// with its line), defaults kept, and the description `validate` prints
// carries no secret.
func TestHTTPSinkTypes(t *testing.T) {
	for _, tc := range []struct{ yaml, want, secret string }{
		{"type: splunk_hec\nurl: https://splunk:8088\ntoken: hec-s3cret\nfields: false\ncef_strict: true\nformat: cef\n",
			"sourcetype=sophos:central:${stream}s source=sophos-connect format=cef compression=gzip(level 1) max_bytes=1048576 request.concurrency=adaptive(1..64) ack=false", "hec-s3cret"},
		{"type: sentinel\ntenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47\nclient_id: 0c1ad2b3-4e5f-4a6b-8c7d-9e0f1a2b3c4d\nclient_secret: az-s3cret\nendpoint: https://x.westeurope-1.ingest.monitor.azure.com\ndcr_immutable_id: dcr-00112233445566778899aabbccddeeff\n",
			"stream=Custom-SophosCentral_CL format=sentinel compression=gzip(level 1) max_bytes=1000000 request.concurrency=adaptive(1..64)", "az-s3cret"},
		{"type: http\nurl: https://siem/ingest?key=q-s3cret\nheaders: {Authorization: h-s3cret}\nauth: {type: bearer, token: b-s3cret}\n",
			"method=POST body=ndjson format=raw compression=none max_bytes=1048576 request.concurrency=adaptive(1..64) auth=bearer headers=Authorization retry_on=408,429,5xx reject_on=4xx split_on=400,413,422", "s3cret"},
	} {
		var comp config.Component
		if err := yaml.Unmarshal([]byte("name: x\n"+tc.yaml), &comp); err != nil {
			t.Fatal(err)
		}
		s, desc, err := Build(comp, "sinks[0]", nil, Env{})
		if err != nil {
			t.Fatalf("%s: %v", comp.Type, err)
		}
		s.Close()
		if !strings.Contains(desc, tc.want) || strings.Contains(desc, tc.secret) {
			t.Errorf("%s: description %q", comp.Type, desc)
		}
		var bad config.Component
		yaml.Unmarshal([]byte("name: x\n"+tc.yaml+"tokn: 1\n"), &bad)
		if _, _, err := Build(bad, "sinks[0]", nil, Env{}); err == nil || !strings.Contains(err.Error(), "tokn") {
			t.Errorf("%s: unknown key: %v", comp.Type, err)
		}
	}
}

// TestEveryValidateErrorNamesItsSink: a sink with several bad keys gets
// each reported with the sink's key path (and line), not only the first.
func TestEveryValidateErrorNamesItsSink(t *testing.T) {
	var comp config.Component
	if err := yaml.Unmarshal([]byte("name: hec\ntype: splunk_hec\nurl: https://splunk:8088\ntoken: t\nack: true\nack_timeout: 50ms\n"), &comp); err != nil {
		t.Fatal(err)
	}
	_, _, err := Build(comp, "sinks[3]", nil, Env{})
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) < 2 {
		t.Fatalf("want the ack_timeout and ack_poll_interval errors, got %v", err)
	}
	for _, l := range lines {
		// "6: sinks[3].ack_timeout: …": the sink, the key and the key's line
		// (the sink's line for a key the file lacks: ack_poll_interval).
		if !strings.HasPrefix(l, "6: sinks[3].ack_timeout: ") && !strings.HasPrefix(l, "1: sinks[3].ack_poll_interval: ") {
			t.Errorf("%q does not name the sink", l)
		}
	}
}

// TestNestedErrorsKeepTheirKeyAndLine: an error about a nested key keeps
// the whole key path and the line of that key — or of its nearest parent
// the file has — at any depth (issue 27: a nested sink error lost it).
func TestNestedErrorsKeepTheirKeyAndLine(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"name: s\ntype: syslog\naddress: tcp+tls://127.0.0.1:6514\ntls:\n  ca_file: /nonexistent/ca.pem\n",
			"5: sinks[0].tls.ca_file: cannot read /nonexistent/ca.pem: no such file or directory"},
		{"name: h\ntype: http\nurl: https://siem.example/in\nauth:\n  type: oauth2\n  token_url: https://idp.example/token\n",
			"4: sinks[0].auth.client_id: client_id and client_secret are needed for auth type oauth2"},
	} {
		var comp config.Component
		if err := yaml.Unmarshal([]byte(tc.yaml), &comp); err != nil {
			t.Fatal(err)
		}
		_, _, err := Build(comp, "sinks[0]", nil, Env{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v\nwant %s", err, tc.want)
		}
	}
}

// TestOTLPAndSecOpsRequestConcurrency: the otlp and google_secops sinks
// take request.concurrency as the other HTTP sinks do (adaptive by
// default, a fixed 1–64, anything else refused saying what it takes), and
// `validate` shows it.
func TestOTLPAndSecOpsRequestConcurrency(t *testing.T) {
	srv := googlesecopstest.New(googlesecopstest.Options{Project: "soc-secops-prod", Location: "us", CustomerID: "c8c65bfa-5f2c-42d4-9189-64bb7b939f2c"})
	defer srv.Close()
	key, _ := json.Marshal(srv.Key()) // a YAML double-quoted string
	for typ, base := range map[string]string{
		"otlp":          "type: otlp\nendpoint: http://127.0.0.1:4318\n",
		"google_secops": "type: google_secops\nproject: soc-secops-prod\ncustomer_id: c8c65bfa-5f2c-42d4-9189-64bb7b939f2c\ncredentials: " + string(key) + "\n",
	} {
		for extra, want := range map[string]string{
			"":                                 "request.concurrency=adaptive(1..64)",
			"request: {concurrency: adaptive}": "request.concurrency=adaptive(1..64)",
			"request: {concurrency: 8}":        "request.concurrency=8",
			"request: {concurrency: 65}":       "",
			"request: {concurrency: auto}":     "",
		} {
			var comp config.Component
			if err := yaml.Unmarshal([]byte("name: x\n"+base+extra+"\n"), &comp); err != nil {
				t.Fatal(err)
			}
			s, desc, err := Build(comp, "sinks[0]", nil, Env{})
			if want == "" {
				if err == nil || !strings.Contains(err.Error(), "is not adaptive or a number from 1 to 64") {
					t.Errorf("%s %q: %v, want the error saying what request.concurrency takes", typ, extra, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s %q: %v", typ, extra, err)
			}
			s.Close()
			if !strings.Contains(desc, want) {
				t.Errorf("%s %q: description %q, want %q", typ, extra, desc, want)
			}
		}
	}
}
