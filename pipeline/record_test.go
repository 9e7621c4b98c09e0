package pipeline

import (
	"testing"
	"unicode/utf8"

	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// FuzzDecodeRecordFields holds DecodeRecord's one-pass decode (string
// flags from the scan: a view when a value has no escapes, the item's UTF-8
// check only when a string is not ASCII) to the plain reading it replaced:
// every top-level member walked with rawjson.EachMember, the last of a key
// winning, each typed field rawjson.StringView of its value, over the item
// made valid UTF-8 first.
func FuzzDecodeRecordFields(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","type":"Event::Endpoint::Threat::Detected","severity":"high","name":"n","group":"MALWARE","when":"2024-05-14T08:02:11.000Z","created_at":"c","location":"WKS","source":"NORTHWIND\\mreyes","endpoint_id":"e","endpoint_type":"computer"}`,
		`{"id":"\u0061\ud800","description":"caf\u00e9 é","data":{"endpoint_id":"x","endpoint_type":"server"}}`,
		"{\"id\":\"b\",\"location\":\"h\xff\xfe\",\"source\":\"\xc3\xa9\"}",
		"{\"id\":\"c\",\"k\xfe\":1}", `{"id":"d","id":"e","type":1,"severity":null,"name":{"x":"y"}}`,
		`{"i\u0064":"f","\u0074ype":"t\"q"}`, `{"id":"g","when":"0123456789abcdef\\/ghij","group":""}`,
		"{\n  \"id\": \"h\",\n  \"data\": {\n    \"endpoint_id\": \"\\u00e9\"\n  }\n}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, stream := range []Stream{Events, Alerts} {
			r, end, err := DecodeRecord(stream, "t", data, 0)
			if err != nil {
				continue
			}
			raw := data[rawjson.SkipSpace(data, 0):end]
			if !utf8.Valid(raw) {
				raw = ValidUTF8(raw)
			}
			var want Record
			var dataObj []byte
			if e := rawjson.EachMember(raw, func(k, v []byte) bool {
				name, kerr := rawjson.Unquote(nil, k)
				if kerr != nil {
					t.Fatalf("key %s: %v", k, kerr)
				}
				s := rawjson.StringView(v)
				switch string(name) {
				case "id":
					want.ID = s
				case "type":
					want.Type = s
				case "severity":
					want.Severity = s
				case "name":
					if stream == Events {
						want.Name = s
					}
				case "description":
					if stream == Alerts {
						want.Name = s
					}
				case "group":
					want.Group = s
				case "when":
					want.When = s
				case "created_at":
					want.CreatedAt = s
				case "location":
					want.Host = s
				case "source":
					want.User = s
				case "endpoint_id":
					want.EndpointID = s
				case "endpoint_type":
					want.EndpointType = s
				case "data":
					dataObj = v
				}
				return true
			}); e != nil {
				t.Fatalf("DecodeRecord accepted %q, EachMember: %v", data, e)
			}
			if len(dataObj) > 0 && dataObj[0] == '{' {
				if want.EndpointID == "" {
					want.EndpointID = rawjson.StringView(rawjson.Get(dataObj, "endpoint_id"))
				}
				if want.EndpointType == "" {
					want.EndpointType = rawjson.StringView(rawjson.Get(dataObj, "endpoint_type"))
				}
			}
			got := [...]string{r.ID, r.Type, r.Severity, r.Name, r.Group, r.When, r.CreatedAt, r.Host, r.User, r.EndpointID, r.EndpointType}
			exp := [...]string{want.ID, want.Type, want.Severity, want.Name, want.Group, want.When, want.CreatedAt, want.Host, want.User, want.EndpointID, want.EndpointType}
			if got != exp {
				t.Fatalf("%s item %q:\nfields %q\nwant   %q", stream, data, got, exp)
			}
		}
	})
}
