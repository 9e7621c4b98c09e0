package sentinel

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
	"github.com/sophos-connect/sophos-connect/sinks/sentinel/sentineltest"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

const asimStream = "Custom-SophosCentralAlertEvent_CL"

// asimParser reads examples/sentinel-asim/ASimAlertEventSophosCentral.yaml: its name,
// the table it reads, the columns its final project lists, and the
// aliases its extend defines.
func asimParser(t *testing.T) (name, table string, project []string, aliases map[string]string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "sentinel-asim", "ASimAlertEventSophosCentral.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		ParserName    string `yaml:"ParserName"`
		Normalization struct {
			Schema  string `yaml:"Schema"`
			Version string `yaml:"Version"`
		} `yaml:"Normalization"`
		ParserQuery string `yaml:"ParserQuery"`
	}
	if err := yaml.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if p.Normalization.Schema != "AlertEvent" || p.Normalization.Version != "0.1" {
		t.Fatalf("parser normalizes to %s %s, want AlertEvent 0.1", p.Normalization.Schema, p.Normalization.Version)
	}
	q := p.ParserQuery
	m := regexp.MustCompile(`\{\s*(\w+)\s*\n`).FindStringSubmatch(q)
	if m == nil {
		t.Fatalf("no table in the parser query:\n%s", q)
	}
	table = m[1]
	i := strings.LastIndex(q, "| project\n")
	if i < 0 {
		t.Fatalf("the parser query has no final '| project' list:\n%s", q)
	}
	list := q[i+len("| project\n"):]
	list = list[:strings.Index(list, "}")]
	for _, c := range strings.Split(list, ",") {
		project = append(project, strings.TrimSpace(c))
	}
	aliases = map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(\w+) = (.+?),?$`).FindAllStringSubmatch(q, -1) {
		aliases[m[1]] = m[2]
	}
	return p.ParserName, table, project, aliases
}

// asimMandatory are the ASIM Alert Event schema's mandatory fields (common
// fields and the alert's own) and the aliases every parser must give.
var asimMandatory = []string{"TimeGenerated", "EventCount", "EventStartTime", "EventEndTime", "EventType", "EventProduct",
	"EventVendor", "EventSchema", "EventSchemaVersion", "Dvc", "AlertId"}

// asimValues are the values the schema allows in its enumerated columns.
var asimValues = map[string][]string{
	"EventType":          {"Alert"},
	"EventSchema":        {"AlertEvent"},
	"EventSchemaVersion": {"0.1"},
	"EventSeverity":      {"Informational", "Low", "Medium", "High"},
	"EventSubType":       {"Threat", "Suspicious Activity", "User Behavior", "Policy Violation"},
	"AlertStatus":        {"Active", "Closed"},
	"AlertVerdict":       {"True Positive", "False Positive", "Benign Positive", "Unknown"},
	"ThreatCategory": {"Malware", "Ransomware", "Trojan", "Virus", "Worm", "Adware", "Spyware", "Rootkit", "Cryptominer",
		"Phishing", "Spam", "MaliciousUrl", "Spoofing", "Security Policy Violation", "Unknown", "SuspiciousActivity"},
	"DetectionMethod": {"EDR", "Behavioral Analytics", "Antivirus", "Sandbox", "Machine Learning", "Intrusion Detection",
		"Threat Intelligence", "Other"},
	"UsernameType": {"UPN", "Windows", "DN", "Simple", "AWSId", "Other"},
	"DvcIdType":    {"MDEid", "AzureResourceId", "MD4IoTid", "VMConnectionId", "VectraId", "Other"},
}

// TestASIMRowsMatchDCRAndParser sends every type of the emulator's
// catalogue, in all four streams, as asim_alert rows to a Logs Ingestion
// server declaring examples/sentinel-dcr-asim.json, and checks the rows
// against the DCR (nothing dropped, every value of its column's type), the
// ASIM schema's values, and the shipped KQL parser column by column.
func TestASIMRowsMatchDCRAndParser(t *testing.T) {
	streams, err := sentineltest.LoadDCR(filepath.Join("..", "..", "examples", "sentinel-dcr-asim.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dcrCols []string
	for _, c := range streams[asimStream] {
		dcrCols = append(dcrCols, c.Name)
	}
	if !slices.Equal(dcrCols, encoding.ASIMAlertColumns) {
		t.Fatalf("the DCR declares %v\nthe encoder writes %v", dcrCols, encoding.ASIMAlertColumns)
	}
	name, table, project, aliases := asimParser(t)
	if name != "ASimAlertEventSophosCentral" || "Custom-"+table != asimStream {
		t.Fatalf("parser %s reads %s; want ASimAlertEventSophosCentral reading the DCR's table (%s)", name, table, asimStream)
	}
	// Column by column: the parser projects every table column, and
	// anything else it projects is an alias it defines from them.
	for _, c := range dcrCols {
		if !slices.Contains(project, c) {
			t.Errorf("the parser does not project the table column %s", c)
		}
	}
	for _, c := range project {
		if !slices.Contains(dcrCols, c) {
			def, ok := aliases[c]
			if !ok {
				t.Errorf("the parser projects %s, neither a table column nor an alias it defines", c)
				continue
			}
			for _, ref := range regexp.MustCompile(`\b[A-Z]\w+\b`).FindAllString(def, -1) {
				if !slices.Contains(dcrCols, ref) {
					t.Errorf("alias %s = %s reads %s, not a table column", c, def, ref)
				}
			}
		}
	}
	for _, c := range asimMandatory {
		if !slices.Contains(project, c) {
			t.Errorf("the parser's output lacks the mandatory ASIM field %s", c)
		}
	}

	srv := sentineltest.New(sentineltest.Options{TenantID: tenantID, ClientID: clientID, ClientSecret: secret, DCR: dcrID, Streams: streams})
	t.Cleanup(srv.Close)
	c := testConfig(t, srv)
	c.Format, c.Stream = "asim_alert", asimStream
	s := started(t, c)
	var recs []*pipeline.Record
	for _, st := range pipeline.AllStreams {
		for _, it := range emulator.Catalogue(string(st), 2, 3) {
			r, err := pipeline.NewRecord(st, "3f8a2c71-5d1e-4b9a-8c07-6e2f19d4a5b8", it.Item)
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, &r)
		}
	}
	if err := s.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	if st := srv.Stats(); len(st.Dropped) != 0 {
		t.Fatalf("the DCR dropped columns: %v", st.Dropped)
	}
	rows := srv.Rows(asimStream)
	if len(rows) != len(recs) {
		t.Fatalf("%d rows for %d records", len(rows), len(recs))
	}
	for i, row := range rows {
		r := recs[i]
		for col := range row {
			if !slices.Contains(project, col) {
				t.Errorf("%s %s: column %s is not in the parser's output", r.Stream, r.ID, col)
			}
		}
		for _, col := range asimMandatory {
			if _, ok := row[col]; !ok && slices.Contains(dcrCols, col) {
				t.Errorf("%s %s: mandatory %s missing", r.Stream, r.ID, col)
			}
		}
		for col, allowed := range asimValues {
			raw, ok := row[col]
			if !ok {
				continue
			}
			var v string
			if err := json.Unmarshal(raw, &v); err != nil || !slices.Contains(allowed, v) {
				t.Errorf("%s %s: %s = %s, not one of %v", r.Stream, r.ID, col, raw, allowed)
			}
		}
		var id, host string
		json.Unmarshal(row["AlertId"], &id)
		json.Unmarshal(row["DvcHostname"], &host)
		if id != r.ID || host != r.Host {
			t.Errorf("row %d: AlertId %q DvcHostname %q, want %s %s", i, id, host, r.ID, r.Host)
		}
		if _, ok := row["DvcHostname"]; !ok && r.Host != "" {
			t.Errorf("%s %s: no DvcHostname", r.Stream, r.ID)
		}
		if r.Stream == pipeline.Detections && strings.Contains(string(r.Raw), `"tactic"`) {
			if _, ok := row["AttackTactics"]; !ok {
				t.Errorf("detection %s with MITRE tactics has no AttackTactics", r.ID)
			}
		}
		var add struct {
			SophosStream string
			Item         map[string]any
		}
		if err := json.Unmarshal(row["AdditionalFields"], &add); err != nil || add.SophosStream != string(r.Stream) || add.Item["id"] != r.ID {
			t.Errorf("row %d: AdditionalFields %s", i, row["AdditionalFields"])
		}
	}
}
