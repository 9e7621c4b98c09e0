package encoding

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

func TestRaw(t *testing.T) {
	tests := []struct {
		name   string
		stream pipeline.Stream
		tenant string
		in     string
		want   string
	}{
		{"event kept byte for byte", pipeline.Events, "t1",
			`{"id":"a", "x" : [1,2.50,{"k":null}], "s":"\u00e9\/<"}`,
			`{"id":"a", "x" : [1,2.50,{"k":null}], "s":"\u00e9\/<","datastream":"event","tenant_id":"t1"}`},
		{"alert with trailing space", pipeline.Alerts, "t\"2", "{\"id\":\"b\"}\n ",
			`{"id":"b","datastream":"alert","tenant_id":"t\"2"}`},
		{"empty object", pipeline.Events, "t", ` { } `, ` { "datastream":"event","tenant_id":"t"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &pipeline.Record{Stream: tc.stream, Tenant: tc.tenant, Raw: []byte(tc.in)}
			got := encode(t, mustNew(t, "raw", Options{}), r)
			if got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			if !json.Valid([]byte(got)) {
				t.Fatal("invalid JSON")
			}
		})
	}
	for _, bad := range []string{``, `[]`, `{"a":1`, `"x"`, `{"a":1} {}`} {
		r := &pipeline.Record{Stream: pipeline.Events, Raw: []byte(bad)}
		if out, err := mustNew(t, "raw", Options{}).Append([]byte("keep"), r); err == nil || string(out) != "keep" {
			t.Errorf("%q: want error and dst untouched, got %q, %v", bad, out, err)
		}
	}
}

func TestNewUnknownFormat(t *testing.T) {
	_, err := New("xml", Options{})
	if err == nil {
		t.Fatal("want error")
	}
	for _, f := range Formats {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not list %s", err, f)
		}
	}
}
