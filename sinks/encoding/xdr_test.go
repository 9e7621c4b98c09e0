package encoding

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

const testDetection = `{"id":"5f1c","time":"2026-12-07T10:00:02.000Z","sensorGeneratedAt":"2026-12-07T10:00:00.000Z","type":"Process","attackType":"Execution","severity":7,` +
	`"detectionRule":"WIN-EXE-PRC-POWERSHELL-ENCODED-COMMAND-1","ruleDescription":"PowerShell started with an encoded command line","detectionDescription":"PowerShell | encoded on WS-01",` +
	`"device":{"id":"e1","type":"computer","entity":"WS-01"},"mitreAttacks":[{"tactic":{"id":"TA0002","name":"Execution","techniques":[{"id":"T1059.001","name":"PowerShell"}]}},` +
	`{"tactic":{"id":"TA0005","name":"Defense Evasion","techniques":[{"id":"T1027","name":"Obfuscated Files or Information"}]}}],"rawData":{"query_name":"q","username":"ACME\\bob"}}`

const testCase = `{"id":"2-1022196","name":"(WS-01) | WIN-EXE-PRC-POWERSHELL-ENCODED-COMMAND-1","status":"investigating","type":"detection","createdAt":"2026-12-01T00:00:00.000Z",` +
	`"updatedAt":"2026-12-07T09:00:00.000Z","escalated":true,"managedBy":"sophos","overview":"Execution on WS-01","assignee":{"name":"Analyst A"},"tenant":{"id":"t1"},` +
	`"detections":[` + testDetection + `]}`

func xdrRecord(t *testing.T, st pipeline.Stream, raw string) *pipeline.Record {
	t.Helper()
	r, err := pipeline.NewRecord(st, "t1", []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return &r
}

func encodeXDR(t *testing.T, format string, r *pipeline.Record) string {
	t.Helper()
	e, err := New(format, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Append(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestXDREncodings(t *testing.T) {
	det, cs := xdrRecord(t, pipeline.Detections, testDetection), xdrRecord(t, pipeline.Cases, testCase)
	for _, format := range []string{"ecs", "integration"} {
		var doc struct {
			Event struct {
				Kind     string
				Severity *int
				Dataset  string
			}
			Rule   struct{ Name, Description string }
			Threat struct {
				Framework string
				Tactic    struct{ ID, Name []string }
				Technique struct{ ID, Name []string }
			}
			Host        struct{ Name string }
			User        struct{ Name, Domain string }
			SophosCentr map[string]any           `json:"sophos_central"`
			DataStream  struct{ Dataset string } `json:"data_stream"`
		}
		out := encodeXDR(t, format, det)
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("%s: %v\n%s", format, err, out)
		}
		if doc.Event.Kind != "alert" || doc.Event.Severity == nil || *doc.Event.Severity != 7 || doc.Rule.Name != "WIN-EXE-PRC-POWERSHELL-ENCODED-COMMAND-1" ||
			doc.Rule.Description == "" || doc.Threat.Framework != "MITRE ATT&CK" || strings.Join(doc.Threat.Tactic.ID, ",") != "TA0002,TA0005" ||
			strings.Join(doc.Threat.Technique.ID, ",") != "T1059.001,T1027" || doc.Threat.Technique.Name[0] != "PowerShell" ||
			doc.Host.Name != "WS-01" || doc.User.Name != "bob" || doc.User.Domain != "ACME" || doc.SophosCentr["detection"] == nil {
			t.Errorf("%s detection document:\n%s", format, out)
		}
		if format == "integration" && doc.DataStream.Dataset != "sophos_central.detection" {
			t.Errorf("integration data_stream %+v", doc.DataStream)
		}
		out = encodeXDR(t, format, cs)
		doc.Threat.Tactic.ID, doc.Event.Severity = nil, nil
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Event.Kind != "alert" || doc.Event.Severity != nil || doc.Rule.Name != "WIN-EXE-PRC-POWERSHELL-ENCODED-COMMAND-1" ||
			strings.Join(doc.Threat.Tactic.ID, ",") != "TA0002,TA0005" || doc.SophosCentr["case"] == nil {
			t.Errorf("%s case document (absent severity stays absent):\n%s", format, out)
		}
	}

	if got, want := encodeXDR(t, "cef", det), `CEF:0|sophos|sophos central|1.0|Process|WIN-EXE-PRC-POWERSHELL-ENCODED-COMMAND-1|7|rt=1796637600000 externalId=5f1c datastream=detection cat=Execution dhost=WS-01 suser=ACME\\bob msg=PowerShell | encoded on WS-01 cs1Label=rule cs1=WIN-EXE-PRC-POWERSHELL-ENCODED-COMMAND-1 cs2Label=ruleDescription cs2=PowerShell started with an encoded command line cs3Label=mitreTactics cs3=TA0002,TA0005 cs4Label=mitreTechniques cs4=T1059.001,T1027 cs5Label=tenantId cs5=t1`; got != want {
		t.Errorf("cef detection\n got %s\nwant %s", got, want)
	}
	if got := encodeXDR(t, "cef", cs); !strings.HasPrefix(got, "CEF:0|sophos|sophos central|1.0|detection|WIN-EXE-PRC-POWERSHELL-ENCODED-COMMAND-1|Unknown|") ||
		!strings.Contains(got, "cs1Label=status cs1=investigating") || !strings.Contains(got, "cs3=TA0002,TA0005") {
		t.Errorf("cef case: %s", got)
	}
	if got := encodeXDR(t, "keyvalue", det); !strings.HasPrefix(got, `2026-12-07T10:00:00.000Z id="5f1c"; datastream="detection";`) ||
		!strings.Contains(got, `rule="WIN-EXE-PRC-POWERSHELL-ENCODED-COMMAND-1";`) || !strings.Contains(got, `mitre_techniques="T1059.001,T1027";`) {
		t.Errorf("keyvalue detection: %s", got)
	}
	if got, want := encodeXDR(t, "txt", det), `[Timestamp: 2026-12-07T10:00:00.000Z] [DetectionID: 5f1c] [Severity: 7] [Rule: WIN-EXE-PRC-POWERSHELL-ENCODED-COMMAND-1] [Description: PowerShell started with an encoded command line] [MITRE: TA0002, TA0005, T1059.001, T1027] [Host: WS-01] [User: ACME\bob] [Type: Process] [TenantID: t1]`; got != want {
		t.Errorf("txt detection\n got %s\nwant %s", got, want)
	}
	if got, want := encodeXDR(t, "txt", cs), `[Timestamp: 2026-12-07T09:00:00.000Z] [CaseID: 2-1022196] [Status: investigating] [Severity: ] [Name: (WS-01) | WIN-EXE-PRC-POWERSHELL-ENCODED-COMMAND-1] [Escalated: True] [Assignee: Analyst A] [ManagedBy: sophos] [Created: 2026-12-01T00:00:00.000Z] [TenantID: t1]`; got != want {
		t.Errorf("txt case\n got %s\nwant %s", got, want)
	}
}
