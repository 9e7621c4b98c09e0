package encoding

import (
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// TestTxtReferenceLine asserts the UpdateSuccess line quoted in reference §11.2.
func TestTxtReferenceLine(t *testing.T) {
	const want = `[Timestamp: 2024-05-14T08:15:40.733Z] [EventID: e07d3c58-1a9b-4e62-a5f3-8b4c0d7e6a19] [Severity: low] [Name: Update succeeded] [IP: ][EventType: Event::Endpoint::UpdateSuccess] [SourceInfo: {'ip': '10.20.9.17'}] [Location: SRV-SQL-02] [Group: UPDATING] [CustomerID: 3f8a2c71-5d1e-4b9a-8c07-6e2f19d4a5b8]`
	r := findRecord(t, pageRecords(t, "events_page.json", pipeline.Events), "Event::Endpoint::UpdateSuccess")
	if got := encode(t, mustNew(t, "txt", Options{}), r); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestTxtLayouts(t *testing.T) {
	tests := []struct {
		name   string
		stream pipeline.Stream
		in     string
		strict bool
		want   string
	}{
		{"alert", pipeline.Alerts,
			`{"description":"Manual PUA cleanup required: 'PsExec' at 'C:\\Tools\\PsExec64.exe'","severity":"medium","data":{"source_info":{"ip":"10.20.4.142"},"inserted_at":1715677912655,"certificates":[],"threat_cleanable":false},"created_at":"2024-05-14T09:11:52.688Z","type":"Event::Endpoint::Threat::PuaCleanupFailed","location":"WKS-FIN-0142","id":"e3b5"}`,
			false,
			`[Reporter: Sophos Central] [Timestamp: 2024-05-14T09:11:52.688Z] [AlertID: e3b5] [Severity: medium] [IP: ][Description: Event::Endpoint::Threat::PuaCleanupFailed Manual PUA cleanup required: 'PsExec' at 'C:\Tools\PsExec64.exe'] [AlertType: Event::Endpoint::Threat::PuaCleanupFailed] [Data: {'source_info': {'ip': '10.20.4.142'}, 'inserted_at': 1715677912655, 'certificates': [], 'threat_cleanable': False}] [Location: WKS-FIN-0142]`},
		{"alert BSON ids", pipeline.Alerts,
			`{"id":"a","data":{"event_service_id":{"type":3,"data":"F06cO4AtavQ6b7nhyAfSpQ=="},"threat_id":{"timestamp":1715673739,"counter":5044418},"core_remedy_items":{"totalItems":1,"items":[{"result":"FAILED_TO_DELETE","descriptor":"C:\\Users\\m\\~df3a21.tmp"}]}}}`,
			false,
			`[Reporter: Sophos Central] [Timestamp: ] [AlertID: a] [Severity: ] [IP: ][Description:  ] [AlertType: ] [Data: {'event_service_id': {'type': 3, 'data': 'F06cO4AtavQ6b7nhyAfSpQ=='}, 'threat_id': {'timestamp': 1715673739, 'counter': 5044418}, 'core_remedy_items': {'totalItems': 1, 'items': [{'result': 'FAILED_TO_DELETE', 'descriptor': 'C:\\Users\\m\\~df3a21.tmp'}]}}] [Location: ]`},
		{"event missing and null fields", pipeline.Events,
			`{"id":"x","name":null,"source_info":null,"severity":5}`,
			false,
			`[Timestamp: ] [EventID: x] [Severity: 5] [Name: ] [IP: ][EventType: ] [SourceInfo: None] [Location: ] [Group: ] [CustomerID: ]`},
		// A raw CR/LF never splits a record: plain values escape it; repr'd
		// dicts escape it by Python's rules (the same two characters).
		{"newline escaped", pipeline.Events, `{"id":"x","name":"a\nb\r","source_info":{"m":"a\nb"}}`, false,
			`[Timestamp: ] [EventID: x] [Severity: ] [Name: a\nb\r] [IP: ][EventType: ] [SourceInfo: {'m': 'a\nb'}] [Location: ] [Group: ] [CustomerID: ]`},
		{"newline in a string source_info", pipeline.Events, `{"id":"x\n[EventID: forged]","source_info":"s\r\nt"}`, false,
			`[Timestamp: ] [EventID: x\n[EventID: forged]] [Severity: ] [Name: ] [IP: ][EventType: ] [SourceInfo: s\r\nt] [Location: ] [Group: ] [CustomerID: ]`},
		{"newline strict", pipeline.Events, `{"id":"x","name":"a\nb\r"}`, true,
			`[Timestamp: ] [EventID: x] [Severity: ] [Name: a\nb\r] [IP: ][EventType: ] [SourceInfo: ] [Location: ] [Group: ] [CustomerID: ]`},
		{"repeated key last wins", pipeline.Events, `{"id":"x","group":"A","group":"B"}`, false,
			`[Timestamp: ] [EventID: x] [Severity: ] [Name: ] [IP: ][EventType: ] [SourceInfo: ] [Location: ] [Group: B] [CustomerID: ]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := encode(t, mustNew(t, "txt", Options{CEFStrict: tc.strict}), rec(tc.stream, tc.in))
			if got != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
			if tc.strict && strings.ContainsAny(got, "\r\n") {
				t.Fatal("strict line has a newline")
			}
		})
	}
}
