package encoding

import (
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// The expectations in this file are copied from reference §10.8, not
// produced by the encoders.

// TestCEFReferenceUnitTests asserts the official script's two CEF unit-test
// lines; those tests call the formatter directly, without the API client's
// "datastream".
func TestCEFReferenceUnitTests(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"key":"value"}`, `CEF:0|sophos|sophos central|1.0|NA|NA|0|key=value`},
		{`{"device_event_class_id":"Event::TestEndpoint::TestSuccess","severity":"high","source":"suser","when":"end"}`,
			`CEF:0|sophos|sophos central|1.0|NA|NA|8|type=Event::TestEndpoint::TestSuccess suser=suser end=end`},
	}
	for _, tc := range tests {
		e := mustNew(t, "cef", Options{}).(*cefEncoder)
		if err := e.o.loadRaw([]byte(tc.in), ""); err != nil {
			t.Fatal(err)
		}
		if got := string(e.encode(nil)); got != tc.want {
			t.Errorf("%s:\ngot  %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

// eicar is the official unit-test event of §10.8 (without "datastream":
// the encoder appends it as the API client does).
const eicar = `{"when":"2019-04-01T15:11:41.000Z","id":"5bc48f19-3905-4f72-9f79-cd381c8e92ce","customer_id":"816f36ee-dd2e-4ccd-bb12-cea766c28ade",
 "severity":"medium","created_at":"2019-04-01T15:11:41.053Z","source_info":{"ip":"10.1.39.32"},"endpoint_type":"server",
 "endpoint_id":"c80c2a87-42f2-49b2-bab7-5031b69cd83e","origin":null,"type":"Event::Endpoint::Threat::Detected",
 "location":"mock_Mercury_1","source":"n/a","group":"MALWARE",
 "name":"Malware detected: 'Eicar-AV-Test' at 'C:\\Program Files (x86)\\Trojan Horse\\bin\\eicar.com'"}`

func TestEicarGolden(t *testing.T) {
	const wantJSON = `{"id": "5bc48f19-3905-4f72-9f79-cd381c8e92ce", "customer_id": "816f36ee-dd2e-4ccd-bb12-cea766c28ade", "severity": "medium", "source_info": {"ip": "10.1.39.32"}, "endpoint_type": "server", "endpoint_id": "c80c2a87-42f2-49b2-bab7-5031b69cd83e", "type": "Event::Endpoint::Threat::Detected", "group": "MALWARE", "name": "Eicar-AV-Test", "datastream": "event", "end": "2019-04-01T15:11:41.000Z", "rt": "2019-04-01T15:11:41.053Z", "dhost": "mock-mercury-1", "suser": "n/a", "detection_identity_name": "Eicar-AV-Test", "filePath": "C:\\Program Files (x86)\\Trojan Horse\\bin\\eicar.com"}`
	const wantCEF = `CEF:0|sophos|sophos central|1.0|Event::Endpoint::Threat::Detected|Eicar-AV-Test|5|id=5bc48f19-3905-4f72-9f79-cd381c8e92ce customer_id=816f36ee-dd2e-4ccd-bb12-cea766c28ade source_info_ip=10.1.39.32 endpoint_type=server endpoint_id=c80c2a87-42f2-49b2-bab7-5031b69cd83e group=MALWARE datastream=event detection_identity_name=Eicar-AV-Test filePath=C:\\Program Files (x86)\\Trojan Horse\\bin\\eicar.com end=2019-04-01T15:11:41.000Z rt=2019-04-01T15:11:41.053Z dhost=mock-mercury-1 suser=n/a`
	r := rec(pipeline.Events, eicar)
	if got := encode(t, mustNew(t, "official-json", Options{}), r); got != wantJSON {
		t.Errorf("json:\ngot  %s\nwant %s", got, wantJSON)
	}
	if got := encode(t, mustNew(t, "cef", Options{}), r); got != wantCEF {
		t.Errorf("cef:\ngot  %s\nwant %s", got, wantCEF)
	}
}
