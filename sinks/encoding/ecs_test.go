package encoding

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// ecsDoc encodes r as ECS and decodes the document.
func ecsDoc(t *testing.T, r *pipeline.Record) map[string]any {
	t.Helper()
	out := encode(t, mustNew(t, "ecs", Options{}), r)
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, out)
	}
	return doc
}

// at walks a decoded document along keys.
func at(doc any, keys ...string) any {
	for _, k := range keys {
		m, ok := doc.(map[string]any)
		if !ok {
			return nil
		}
		doc = m[k]
	}
	return doc
}

func TestECSMapping(t *testing.T) {
	events := pageRecords(t, "events_page.json", pipeline.Events)
	alerts := pageRecords(t, "alerts_page.json", pipeline.Alerts)
	type check struct {
		path []string
		want any
	}
	p := func(want any, path ...string) check { return check{path, want} }
	tests := []struct {
		name   string
		r      *pipeline.Record
		checks []check
	}{
		{"IPS event", findRecord(t, events, "Event::Endpoint::Threat::IpsInboundDetection"), []check{
			p("2024-05-14T08:52:27.094Z", "@timestamp"),
			p("event", "event", "kind"),
			p("Malicious inbound network traffic blocked from a remote computer at 198.51.100.23 (Technical Support reference: 2024051408.81245573.2)", "event", "action"),
			p("c2d84f16-9e3a-4b07-a1c5-6f8e0b2d7a93", "event", "id"),
			p("2024-05-14T08:52:30.310Z", "event", "created"),
			p(1.0, "event", "severity"),
			p("sophos_central.event", "event", "dataset"),
			p(nil, "event", "code"),
			p("3f8a2c71-5d1e-4b9a-8c07-6e2f19d4a5b8", "organization", "id"),
			p("svc_sql", "user", "name"),
			p("NORTHWIND", "user", "domain"),
			p("6621a7e3c48b9f0011d2e6a8", "user", "id"),
			p("10.20.9.17", "source", "ip"),
			p(445.0, "source", "port"),
			p("198.51.100.23", "destination", "ip"),
			p(50522.0, "destination", "port"),
			p(3172.0, "process", "pid"),
			p("sqlservr.exe", "process", "name"),
			p(`C:\Program Files\Microsoft SQL Server\MSSQL15.MSSQLSERVER\MSSQL\Binn\sqlservr.exe`, "process", "executable"),
			p("SRV-SQL-02", "host", "name"),
			p("5e0c9a47-2b81-4d36-a9f2-7d13c8e06b59", "host", "id"),
			p("IPS/Inbound/7776102", "threat", "feed", "name"),
			p([]any{"10.20.9.17", "198.51.100.23"}, "related", "ip"),
			p("Event::Endpoint::Threat::IpsInboundDetection", "sophos_central", "event", "type"),
			p("RUNTIME_DETECTIONS", "sophos_central", "event", "group"),
			p("445", "sophos_central", "event", "ips_threat_data", "localPort"),
			p(nil, "sophos_central", "event", "id"),
			p(nil, "sophos_central", "event", "name"),
		}},
		{"AMSI event", findRecord(t, events, "Event::Endpoint::CoreAmsiBlocked"), []check{
			p(8.0, "event", "severity"),
			p("powershell.exe", "process", "name"),
			p(7812.0, "process", "pid"),
			p(`C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, "process", "working_directory"),
			p(`C:\Windows\explorer.exe`, "process", "parent", "executable"),
			p(6640.0, "process", "parent", "pid"),
		}},
		{"application allowed event", findRecord(t, events, "Event::Endpoint::Application::Allowed"), []check{
			p("5f2b8c0e9a7d41c3b6e8f0a2d4c6b8e0f1a3c5e7d9b1f3a5c7e9d1b3f5a7c9e1", "process", "hash", "sha256"),
			p("John Doe", "user", "name"),
			p(nil, "user", "domain"),
		}},
		{"UpdateSuccess event: n/a user", findRecord(t, events, "Event::Endpoint::UpdateSuccess"), []check{
			p(nil, "user"),
			p("n/a", "sophos_central", "event", "source"),
		}},
		{"BSON alert", findRecord(t, alerts, "Event::Endpoint::Threat::CleanupFailed"), []check{
			p("alert", "event", "kind"),
			p([]any{"host"}, "event", "category"),
			p([]any{"info"}, "event", "type"),
			p("Event::Endpoint::Threat::CleanupFailed", "event", "code"),
			p(nil, "event", "action"),
			p("Manual cleanup required: 'Troj/Agent-BKXQ' at 'C:\\Users\\mreyes\\AppData\\Local\\Temp\\~df3a21.tmp'", "message"),
			p("sophos_central.alert", "event", "dataset"),
			p("10.20.4.142", "source", "ip"),
			p("1b6f3d2e-8a4c-4e71-9d05-c2a7e6b9f410", "host", "id"),
			p("windows", "host", "os", "platform"),
			p("Troj/Agent-BKXQ", "sophos_central", "alert", "threat", "value"),
			p("2024-05-14T08:02:19.120Z", "sophos_central", "alert", "data", "created_at"),
			p("2024-05-14T09:07:19.120Z", "sophos_central", "alert", "data", "make_actionable_at"),
			p("f46a2d80-3b9c-4e17-a5d2-07c8e1b96f3a", "sophos_central", "alert", "data", "event_service_id"),
			p("0d4b7e29-6a13-4c85-b2f0-8e61a9c3d574", "sophos_central", "alert", "data", "user_match_uuid"),
			p("66431a8bc677fc0f194cf8c2", "sophos_central", "alert", "data", "threat_id", "id"),
			p("2024-05-14T08:02:19.000Z", "sophos_central", "alert", "data", "threat_id", "timestamp"),
			p(5044418.0, "sophos_central", "alert", "data", "threat_id", "counter"),
			p(nil, "sophos_central", "alert", "type"),
			p(nil, "sophos_central", "alert", "description"),
		}},
		{"string-id alert", findRecord(t, alerts, "Event::Endpoint::Threat::PuaCleanupFailed"), []check{
			p("663dede2d9c2ef0f9d4f55a8", "sophos_central", "alert", "data", "user_match_id", "id"),
			p("66432ad8c677fc0f194cf8d0", "sophos_central", "alert", "data", "threat_id", "id"),
			p("e3b5a9c2-4f17-4d8e-9a06-1c7d2b8f5e40", "sophos_central", "alert", "data", "event_service_id"),
			p(5.0, "event", "severity"),
		}},
		{"CryptoGuard alert", findRecord(t, alerts, "Event::Endpoint::HmpaCryptoGuard"), []check{
			p("updsvc.exe", "process", "name"),
			p(9024.0, "process", "pid"),
		}},
		{"fallbacks and omissions", rec(pipeline.Alerts, `{"id":"x","created_at":"2024-01-01T00:00:00.000Z","severity":"critical","source":"\\user","data":{"source_info":{"ip":"not-an-ip"},"ips_threat":{"remote_ip":"fe80::1%eth0","remote_port":"99999"}}}`), []check{
			p("2024-01-01T00:00:00.000Z", "@timestamp"),
			p(nil, "event", "severity"),
			p("tenant-1", "organization", "id"),
			p("user", "user", "name"),
			p(nil, "user", "domain"),
			p(nil, "source"),
			p(nil, "destination"),
			p("critical", "sophos_central", "alert", "severity"),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := ecsDoc(t, tc.r)
			for _, c := range tc.checks {
				if got := at(doc, c.path...); !reflect.DeepEqual(got, c.want) {
					t.Errorf("%v = %#v, want %#v", c.path, got, c.want)
				}
			}
		})
	}
}

func TestECSDuplicateKeysAndCompaction(t *testing.T) {
	out := encode(t, mustNew(t, "ecs", Options{}), rec(pipeline.Events,
		"{\n  \"id\": \"x\",\n  \"extra\": { \"a\" : 1 , \"a\" : [ 2 , 3 ] },\n  \"extra\": {\"b\": \"\\u00e9\\/\"}\n}"))
	const want = `{"ecs":{"version":"` + ECSVersion + `"},"event":{"kind":"event","id":"x","module":"sophos_central","dataset":"sophos_central.event"},"organization":{"id":"tenant-1"},"sophos_central":{"tenant_id":"tenant-1","event":{"extra":{"b":"é/"}}}}`
	if out != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
}

func TestECSUnparsableDatesStay(t *testing.T) {
	doc := ecsDoc(t, rec(pipeline.Events, `{"id":"x","when":"yesterday","created_at":"2024-05-14T08:02:11.482Z"}`))
	for _, c := range []struct {
		path []string
		want any
	}{
		{[]string{"@timestamp"}, "2024-05-14T08:02:11.482Z"},
		{[]string{"event", "created"}, "2024-05-14T08:02:11.482Z"},
		{[]string{"sophos_central", "event", "when"}, "yesterday"},
		{[]string{"sophos_central", "event", "created_at"}, nil},
	} {
		if got := at(doc, c.path...); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%v = %#v, want %#v", c.path, got, c.want)
		}
	}
	doc = ecsDoc(t, rec(pipeline.Events, `{"id":7,"when":5}`))
	if at(doc, "@timestamp") != nil || at(doc, "sophos_central", "event", "id") != 7.0 || at(doc, "sophos_central", "event", "when") != 5.0 {
		t.Errorf("non-string id/when must stay under sophos_central: %v", doc)
	}
}
