package elasticsearch

import (
	"encoding/json"
	"fmt"
)

// templatePriority is above the built-in logs-*-* (100).
const templatePriority = 200

// ecsMappings maps the fields the ecs encoder writes (the Elastic
// sophos_central integration's mapping) to their ECS types. Other strings
// are mapped as keyword, like the ECS templates do. ip, number and date
// fields ignore malformed values instead of rejecting the whole document: a
// SOC would rather keep an alert with one unindexed field than lose it.
var ecsMappings = map[string]any{
	// A date-looking string must not fix a field's type (date detection
	// runs before the dynamic templates); the dates are mapped below.
	"date_detection": false,
	"dynamic_templates": []any{
		pathTemplate("sc_dates_when", "sophos_central.*.when", lenient("date")),
		pathTemplate("sc_dates_created", "sophos_central.*.created_at", lenient("date")),
		pathTemplate("sc_dates_data_at", "sophos_central.alert.data.*_at", lenient("date")),
		pathTemplate("sc_dates_threat_id", "sophos_central.alert.data.threat_id.t*", lenient("date")),
		pathTemplate("sc_dates_threat_id_date", "sophos_central.alert.data.threat_id.date", lenient("date")),
		pathTemplate("sc_dates_user_match_id", "sophos_central.alert.data.user_match_id.t*", lenient("date")),
		pathTemplate("sc_dates_user_match_id_date", "sophos_central.alert.data.user_match_id.date", lenient("date")),
		pathTemplate("sc_ips", "sophos_central.*.ip", lenient("ip")),
		map[string]any{"strings_as_keyword": map[string]any{
			"match_mapping_type": "string",
			"mapping":            map[string]any{"type": "keyword", "ignore_above": 1024},
		}},
	},
	"properties": props{
		"@timestamp": typ("date"),
		"message":    typ("match_only_text"),
		"ecs":        obj(props{"version": kw()}),
		"event": obj(props{
			"id": kw(), "code": kw(), "kind": kw(), "category": kw(), "type": kw(),
			"action": kw(), "outcome": kw(), "dataset": kw(), "module": kw(), "provider": kw(),
			"created": lenient("date"), "ingested": lenient("date"),
			"severity": lenient("long"), "original": map[string]any{"type": "keyword", "index": false, "doc_values": false},
		}),
		"organization": obj(props{"id": kw(), "name": kw()}),
		"host":         obj(props{"name": kw(), "hostname": kw(), "id": kw(), "type": kw(), "ip": lenient("ip"), "os": obj(props{"platform": kw()})}),
		"user":         obj(props{"name": kw(), "domain": kw(), "id": kw()}),
		"source":       obj(props{"ip": lenient("ip"), "port": lenient("long"), "address": kw(), "domain": kw()}),
		"destination":  obj(props{"ip": lenient("ip"), "port": lenient("long"), "address": kw(), "domain": kw()}),
		"related":      obj(props{"ip": lenient("ip"), "user": kw(), "hosts": kw(), "hash": kw()}),
		"process": obj(props{
			"pid": lenient("long"), "name": kw(), "executable": kw(), "working_directory": kw(),
			"command_line": kw(),
			"parent":       obj(props{"executable": kw(), "name": kw(), "pid": lenient("long")}),
			"hash":         obj(props{"sha256": kw(), "sha1": kw(), "md5": kw()}),
		}),
		"file":     obj(props{"path": kw(), "name": kw(), "hash": obj(props{"sha256": kw()})}),
		"threat":   obj(props{"feed": obj(props{"name": kw()}), "software": obj(props{"name": kw()})}),
		"observer": obj(props{"vendor": kw(), "product": kw(), "type": kw()}),
		"tags":     kw(),
		"labels":   map[string]any{"type": "object"},
		"sophos_central": obj(props{
			"tenant_id":  kw(),
			"datastream": kw(),
		}),
	},
}

type props = map[string]any

func pathTemplate(name, path string, mapping map[string]any) map[string]any {
	return map[string]any{name: map[string]any{"path_match": path, "mapping": mapping}}
}

// templateFeatures are the template settings the cluster's version allows.
type templateFeatures struct {
	lifecycle    bool // template.lifecycle (data stream lifecycle, 8.11+)
	ignoreBeyond bool // index.mapping.total_fields.ignore_dynamic_beyond_limit (8.14+)
}

func featuresFor(version string) templateFeatures {
	var major, minor int
	fmt.Sscanf(version, "%d.%d", &major, &minor)
	v := major*100 + minor
	return templateFeatures{lifecycle: v >= 811, ignoreBeyond: v >= 814}
}

func typ(t string) map[string]any { return map[string]any{"type": t} }
func kw() map[string]any          { return map[string]any{"type": "keyword", "ignore_above": 1024} }
func obj(p props) map[string]any  { return map[string]any{"properties": p} }
func lenient(t string) map[string]any {
	return map[string]any{"type": t, "ignore_malformed": true}
}

// templateBody is the composable index template for pattern; dataStream
// makes it a data stream template.
func templateBody(pattern string, dataStream bool, f templateFeatures) []byte {
	// headroom over the default 1000 fields: the sophos_central trees are
	// wide; where supported, fields beyond the limit are dropped instead of
	// failing the document.
	totalFields := map[string]any{"limit": 2000}
	if f.ignoreBeyond {
		totalFields["ignore_dynamic_beyond_limit"] = true
	}
	tmpl := map[string]any{
		"settings": map[string]any{"index": map[string]any{"mapping": map[string]any{"total_fields": totalFields}}},
		"mappings": ecsMappings,
	}
	t := map[string]any{
		"index_patterns": []string{pattern},
		// above the built-in logs-*-* (100) so ours wins where both match
		"priority": templatePriority,
		"template": tmpl,
		"_meta":    map[string]any{"managed_by": "sophos-connect", "description": "Sophos Central alerts and events as ECS documents"},
	}
	if dataStream {
		t["data_stream"] = map[string]any{}
		if f.lifecycle {
			// a data stream with no lifecycle never rolls over
			tmpl["lifecycle"] = map[string]any{"enabled": true}
		}
	}
	b, err := json.Marshal(t)
	if err != nil {
		panic(err) // static data
	}
	return b
}
