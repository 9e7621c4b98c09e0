package pipeline

import "testing"

func TestXDRTypedFields(t *testing.T) {
	det := `{"id":"d1","time":"2026-12-07T10:00:02.000Z","sensorGeneratedAt":"2026-12-07T10:00:00.000Z","type":"Process","severity":7,` +
		`"detectionRule":"WIN-EXE-PRC-POWERSHELL-ENCODED-COMMAND-1","device":{"id":"e1","type":"computer","entity":"WS-01"},` +
		`"rawData":{"query_name":"q","username":"ACME\\bob"},"mitreAttacks":[]}`
	r, err := NewRecord(Detections, "t1", []byte(det))
	if err != nil {
		t.Fatal(err)
	}
	want := Record{Stream: Detections, Tenant: "t1", ID: "d1", Type: "Process", Severity: "high", Name: "WIN-EXE-PRC-POWERSHELL-ENCODED-COMMAND-1",
		When: "2026-12-07T10:00:00.000Z", CreatedAt: "2026-12-07T10:00:02.000Z", Host: "WS-01", User: `ACME\bob`, EndpointID: "e1", EndpointType: "computer"}
	checkTyped(t, r, want)

	cs := `{"id":"2-1022196","name":"(WS-01) | WIN-EXE-PRC-POWERSHELL-ENCODED-COMMAND-1","status":"new","type":"detection",` +
		`"createdAt":"2026-12-01T00:00:00.000Z","updatedAt":"2026-12-07T09:00:00.000Z","assignee":{"name":"Analyst A"},"tenant":{"id":"t1"}}`
	r, err = NewRecord(Cases, "t1", []byte(cs))
	if err != nil {
		t.Fatal(err)
	}
	want = Record{Stream: Cases, Tenant: "t1", ID: "2-1022196", Type: "detection", Severity: "", Name: "(WS-01) | WIN-EXE-PRC-POWERSHELL-ENCODED-COMMAND-1",
		When: "2026-12-07T09:00:00.000Z", CreatedAt: "2026-12-01T00:00:00.000Z", Host: "WS-01", User: "Analyst A"}
	checkTyped(t, r, want) // an absent case severity stays absent

	r, _ = NewRecord(Cases, "t1", []byte(`{"id":"2-1","severity":"Critical","name":"Suspicious"}`))
	if r.Severity != "critical" || r.Host != "" {
		t.Errorf("case severity %q host %q", r.Severity, r.Host)
	}
}

func checkTyped(t *testing.T, got, want Record) {
	t.Helper()
	if got.Stream != want.Stream || got.Tenant != want.Tenant || got.ID != want.ID || got.Type != want.Type || got.Severity != want.Severity ||
		got.Name != want.Name || got.When != want.When || got.CreatedAt != want.CreatedAt || got.Host != want.Host || got.User != want.User ||
		got.EndpointID != want.EndpointID || got.EndpointType != want.EndpointType {
		t.Errorf("typed fields:\n got %+v\nwant %+v", got, want)
	}
}

func TestDetectionSeverityBuckets(t *testing.T) {
	for score, want := range map[float64]string{0: "informational", 1: "low", 3: "low", 4: "medium", 6: "medium", 7: "high", 8: "high", 9: "critical", 10: "critical", 11: "", -1: ""} {
		if got := DetectionSeverity(score); got != want {
			t.Errorf("DetectionSeverity(%v) = %q, want %q", score, got, want)
		}
	}
	for word, want := range map[string]string{"Informational": "informational", "info": "informational", "HIGH": "high", "": "", "urgent": ""} {
		if got := CaseSeverity(word); got != want {
			t.Errorf("CaseSeverity(%q) = %q, want %q", word, got, want)
		}
	}
	for _, s := range []string{"detections", "detection", "Cases", "case"} {
		if _, err := ParseStream(s); err != nil {
			t.Error(err)
		}
	}
}

// TestStreamTemplates: ${stream} names the new streams in every template
// (Splunk's default sourcetype sophos:central:${stream}s, Kafka topics,
// Elasticsearch data streams).
func TestStreamTemplates(t *testing.T) {
	for st, want := range map[Stream]string{Detections: "sophos:central:detections", Cases: "sophos:central:cases", Alerts: "sophos:central:alerts"} {
		if got := string(ParseTemplate("sophos:central:${stream}s").Append(nil, &Record{Stream: st})); got != want {
			t.Errorf("%s: %q, want %q", st, got, want)
		}
	}
	if got := string(ParseTemplate("logs-sophos_central.${stream}-default").Append(nil, &Record{Stream: Cases})); got != "logs-sophos_central.case-default" {
		t.Errorf("data stream %q", got)
	}
}
