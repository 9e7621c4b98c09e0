package filter

import (
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/transforms/internal/samples"
)

// Sample events e0..e7 and alerts a0..a3 (reference samples):
//
//	e0 Threat::Detected medium MALWARE      e4 Application::Allowed low APPLICATION_CONTROL
//	e1 Threat::CleanedUp low MALWARE        e5 Threat::IpsInboundDetection low RUNTIME_DETECTIONS
//	e2 UpdateSuccess low UPDATING           e6 CoreAmsiBlocked high RUNTIME_DETECTIONS
//	e3 WebControlViolation low WEB          e7 Threat::PuaCleanupFailed medium PUA
//	a0 Threat::PuaCleanupFailed medium      a2 HmpaCryptoGuard high
//	a1 Threat::CleanupFailed high           a3 ServiceNotRunning medium
func labelled() ([]*pipeline.Record, []string) {
	var recs []*pipeline.Record
	var names []string
	for i, r := range samples.Records(pipeline.Events) {
		recs, names = append(recs, r), append(names, fmt.Sprintf("e%d", i))
	}
	for i, r := range samples.Records(pipeline.Alerts) {
		recs, names = append(recs, r), append(names, fmt.Sprintf("a%d", i))
	}
	// A second tenant's copy of e0, to exercise tenants.
	other := *recs[0]
	other.Tenant = "other-tenant"
	return append(recs, &other), append(names, "x0")
}

func decode(t *testing.T, src string) Config {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	if err := config.DecodeStrict(n.Content[0], &c, "transforms[0]", "type"); err != nil {
		t.Fatalf("decode %q: %v", src, err)
	}
	return c
}

func TestFilter(t *testing.T) {
	cases := []struct {
		name, yaml, keep string
	}{
		{"empty keeps all", `{}`, "e0 e1 e2 e3 e4 e5 e6 e7 a0 a1 a2 a3 x0"},
		{"types exact", `types: [Event::Endpoint::CoreAmsiBlocked, Event::Endpoint::UpdateSuccess]`, "e2 e6"},
		{"types prefix", `types: ["Event::Endpoint::Threat::"]`, "e0 e1 e5 e7 a0 a1 x0"},
		{"types glob", `types: ["*Cleanup*"]`, "e7 a0 a1"},
		{"types mixed", `types: ["Event::Endpoint::Threat::", Event::Endpoint::HmpaCryptoGuard, "*Amsi*"]`, "e0 e1 e5 e6 e7 a0 a1 a2 x0"},
		{"exclude_types", `exclude_types: ["Event::Endpoint::Threat::", Event::Endpoint::UpdateSuccess]`, "e3 e4 e6 a2 a3"},
		{"min_severity medium", `min_severity: medium`, "e0 e6 e7 a0 a1 a2 a3 x0"},
		{"min_severity HIGH", `min_severity: HIGH`, "e6 a1 a2"},
		{"min_severity low", `min_severity: low`, "e0 e1 e2 e3 e4 e5 e6 e7 a0 a1 a2 a3 x0"},
		{"tenants", `tenants: [other-tenant]`, "x0"},
		{"groups", `groups: [MALWARE, PUA]`, "e0 e1 e7 x0"},
		{"field equals", `field: {path: raw.source_info.ip, equals: 10.20.9.17}`, "e2 e5"},
		{"field equals typed", `field: {path: host, equals: SRV-SQL-02}`, "e2 e5"},
		{"field matches", `field: {path: raw.data.endpoint_platform, matches: "mac*"}`, "a3"},
		{"field regex", `field: {path: name, regex: "^(Malware|AMSI)"}`, "e0 e1 e6 x0"},
		{"field equals empty", `field: {path: raw.threat, equals: ""}`, "e0 e1 e2 e3 e4 a3 x0"},
		{"light", `light: true`, "e0 e1 e5 e6 e7 a0 a1 a2 a3 x0"},
		{"when", `when: stream == alerts and severity >= high`, "a1 a2"},
		{"drop_when", `drop_when: 'group in ("WEB", "UPDATING") or stream == alerts'`, "e0 e1 e4 e5 e6 e7 x0"},
		{"keys combine with AND", "min_severity: medium\ntypes: [\"Event::Endpoint::Threat::\"]\ntenants: [" + samples.Tenant + "]\nlight: true\ndrop_when: stream == alerts",
			"e0 e7"},
	}
	recs, names := labelled()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := decode(t, c.yaml)
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			f, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var kept []string
			for i, r := range recs {
				out, err := f.Process(r, nil)
				if err != nil {
					t.Fatal(err)
				}
				if len(out) == 1 && out[0] == r {
					kept = append(kept, names[i])
				} else if len(out) != 0 {
					t.Fatalf("Process returned %d records", len(out))
				}
			}
			if got := strings.Join(kept, " "); got != c.keep {
				t.Errorf("kept %q, want %q (condition %s)", got, c.keep, f.Condition())
			}
		})
	}
}

func TestValidate(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{`min_severity: urgent`, `min_severity: "urgent" is not a severity: use low, medium or high`},
		{`types: []`, `types: empty list would drop every record`},
		{`types: [a, ""]`, `types[1]: empty type`},
		{`tenants: []`, `tenants: empty list`},
		{`groups: [""]`, `groups[0]: empty value`},
		{`field: {path: raw.x}`, `field: give exactly one of equals, matches (glob) or regex`},
		{`field: {path: raw.x, equals: a, regex: b}`, `field: give exactly one`},
		{`field: {equals: a}`, `field.path: required`},
		{`field: {path: "raw x", equals: a}`, `field.path: "raw x" is not a field path`},
		{`field: {path: sevrity, equals: a}`, `field: column 1: unknown field "sevrity" (did you mean severity?)`},
		{`field: {path: raw.x, regex: "(a"}`, `field: column 10: invalid regular expression`},
		{`when: severity >= urgent`, `when: column 13: unknown severity "urgent"`},
		{`drop_when: "type matches"`, `drop_when: column 13: expected a value after matches`},
		{"min_severity: urgent\nwhen: x", "min_severity: \"urgent\" is not a severity: use low, medium or high\nwhen: column 1: unknown field"},
	}
	for _, c := range cases {
		cfg := decode(t, c.yaml)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate() = %v, want %q", c.yaml, err, c.want)
		}
		if _, nerr := New(cfg); nerr == nil {
			t.Errorf("%s: New accepted an invalid config", c.yaml)
		}
	}
}

func TestUnknownKey(t *testing.T) {
	var n yaml.Node
	_ = yaml.Unmarshal([]byte("type: filter\nmin_severty: high\n"), &n)
	c := DefaultConfig()
	err := config.DecodeStrict(n.Content[0], &c, "transforms[0]", "type")
	if err == nil || !strings.Contains(err.Error(), `2: transforms[0].min_severty: unknown key (did you mean "min_severity"?)`) {
		t.Errorf("DecodeStrict = %v", err)
	}
}

func TestString(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{`{}`, "filter(keep all)"},
		{`min_severity: Medium`, "filter(min_severity=medium)"},
		{"light: true\ntypes: [\"Event::Endpoint::Threat::\"]", "filter(types=[Event::Endpoint::Threat::], light)"},
		{`field: {path: raw.a.b, matches: "x*"}`, `filter(field: raw.a.b matches "x*")`},
		{`when: severity>=high`, "filter(when: severity >= high)"},
		{`drop_when: group == WEB`, `filter(drop_when: group == "WEB")`},
	}
	for _, c := range cases {
		f, err := New(decode(t, c.yaml))
		if err != nil {
			t.Fatal(err)
		}
		if got := f.String(); got != c.want {
			t.Errorf("%s: String() = %q, want %q", c.yaml, got, c.want)
		}
	}
}

func TestLightTypesMatchReference(t *testing.T) {
	// The wire form of the official script's exclude_types (reference §4.3).
	const wire = "Event::Endpoint::NonCompliant,Event::Endpoint::Compliant,Event::Endpoint::Device::AlertedOnly," +
		"Event::Endpoint::UpdateFailure,Event::Endpoint::SavScanComplete,Event::Endpoint::Application::Allowed," +
		"Event::Endpoint::UpdateSuccess,Event::Endpoint::WebControlViolation,Event::Endpoint::WebFilteringBlocked"
	if got := strings.Join(LightTypes, ","); got != wire {
		t.Errorf("LightTypes = %s", got)
	}
}
