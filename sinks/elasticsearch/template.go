package elasticsearch

import "encoding/json"

// ecsMappings maps the fields the ecs encoder writes (the Elastic
// sophos_central integration's mapping) to their ECS types. Other strings
// are mapped as keyword, like the ECS templates do. ip, number and date
// fields ignore malformed values instead of rejecting the whole document: a
// SOC would rather keep an alert with one unindexed field than lose it.
var ecsMappings = map[string]any{
	"dynamic_templates": []any{
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

func typ(t string) map[string]any { return map[string]any{"type": t} }
func kw() map[string]any          { return map[string]any{"type": "keyword", "ignore_above": 1024} }
func obj(p props) map[string]any  { return map[string]any{"properties": p} }
func lenient(t string) map[string]any {
	return map[string]any{"type": t, "ignore_malformed": true}
}

// templateBody is the composable index template for pattern; dataStream
// makes it a data stream template.
func templateBody(pattern string, dataStream bool) []byte {
	t := map[string]any{
		"index_patterns": []string{pattern},
		// above the built-in logs-*-* (100) so ours wins where both match
		"priority": 200,
		"template": map[string]any{
			"settings": map[string]any{"index": map[string]any{"mapping": map[string]any{"total_fields": map[string]any{"limit": 2000}}}},
			"mappings": ecsMappings,
		},
		"_meta": map[string]any{"managed_by": "sophos-connect", "description": "Sophos Central alerts and events as ECS documents"},
	}
	if dataStream {
		t["data_stream"] = map[string]any{}
	}
	b, err := json.Marshal(t)
	if err != nil {
		panic(err) // static data
	}
	return b
}
