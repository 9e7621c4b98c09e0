package sentinel

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/sentinel/sentineltest"
)

// TestXDRRowsMatchDCR: detections and cases fill the rule and MITRE columns
// of examples/sentinel-dcr.json with their declared types; nothing is dropped.
func TestXDRRowsMatchDCR(t *testing.T) {
	srv := testServer(t, sentineltest.Options{})
	s := started(t, testConfig(t, srv))
	det, err := pipeline.NewRecord(pipeline.Detections, "t1", []byte(`{"id":"d1","sensorGeneratedAt":"2026-12-07T10:00:00.000Z","time":"2026-12-07T10:00:01.000Z","severity":9,`+
		`"detectionRule":"WIN-CRED-PRC-LSASS-ACCESS-1","ruleDescription":"A process opened LSASS memory","device":{"entity":"WS-01"},`+
		`"mitreAttacks":[{"tactic":{"id":"TA0006","name":"Credential Access","techniques":[{"id":"T1003.001","name":"LSASS Memory"}]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := pipeline.NewRecord(pipeline.Cases, "t1", []byte(`{"id":"2-1","name":"(WS-01) | WIN-CRED-PRC-LSASS-ACCESS-1","status":"new","createdAt":"2026-12-07T10:01:00.000Z","updatedAt":"2026-12-07T10:02:00.000Z","escalated":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), []*pipeline.Record{&det, &cs}); err != nil {
		t.Fatal(err)
	}
	if st := srv.Stats(); len(st.Dropped) != 0 {
		t.Fatalf("columns dropped: %v", st.Dropped)
	}
	rows := srv.Rows(DefaultStream)
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	var rule, sev, status string
	var tactics []string
	var escalated bool
	json.Unmarshal(rows[0]["RuleName"], &rule)
	json.Unmarshal(rows[0]["Severity"], &sev)
	json.Unmarshal(rows[0]["MitreTactics"], &tactics)
	if rule != "WIN-CRED-PRC-LSASS-ACCESS-1" || sev != "critical" || len(tactics) != 1 || tactics[0] != "TA0006" {
		t.Errorf("detection row: rule %q severity %q tactics %v", rule, sev, tactics)
	}
	json.Unmarshal(rows[1]["CaseStatus"], &status)
	json.Unmarshal(rows[1]["Escalated"], &escalated)
	if status != "new" || !escalated || string(rows[1]["Datastream"]) != `"case"` {
		t.Errorf("case row: %s %v %s", status, escalated, rows[1]["Datastream"])
	}
}
