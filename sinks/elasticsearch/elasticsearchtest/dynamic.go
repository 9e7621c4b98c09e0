package elasticsearchtest

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Dynamic templates, date detection's place before them, and the total
// fields limit: what decides the type of a new field on a real cluster.

// dynTemplate is one entry of a mapping's dynamic_templates.
type dynTemplate struct {
	name, pathMatch, match, matchType string
	f                                 field
}

// parseDynamicTemplates reads root["dynamic_templates"] (a list of
// {name: {match_mapping_type, path_match, match, mapping}}).
func parseDynamicTemplates(root map[string]any) ([]dynTemplate, error) {
	list, _ := root["dynamic_templates"].([]any)
	var out []dynTemplate
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok || len(m) != 1 {
			return nil, fmt.Errorf("a dynamic template must be an object of one named template")
		}
		for name, v := range m {
			d, _ := v.(map[string]any)
			dt := dynTemplate{name: name}
			dt.pathMatch, _ = d["path_match"].(string)
			dt.match, _ = d["match"].(string)
			dt.matchType, _ = d["match_mapping_type"].(string)
			mp, _ := d["mapping"].(map[string]any)
			typ, _ := mp["type"].(string)
			if typ == "" {
				typ = "keyword"
			}
			im, _ := mp["ignore_malformed"].(bool)
			dt.f = field{t: typeFamily(typ), es: typ, ignoreMalformed: im}
			out = append(out, dt)
		}
	}
	return out, nil
}

// mappingType is the match_mapping_type of what dynamic mapping detected:
// a string that date detection took is a date, not a string.
func mappingType(f field) string {
	switch f.t {
	case ftDate:
		return "date"
	case ftLong:
		return "long"
	case ftDouble:
		return "double"
	case ftBool:
		return "boolean"
	}
	return "string"
}

// dynamicField is the type a new scalar at path gets: date detection and
// the numeric rules first, then the first dynamic template that matches.
func (c *checker) dynamicField(path, v []byte) field {
	f := c.dynamicType(v)
	mt := mappingType(f)
	p := string(path)
	leaf := p
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '.' {
			leaf = p[i+1:]
			break
		}
	}
	for _, dt := range c.m.dyn {
		if dt.matchType != "" && dt.matchType != "*" && dt.matchType != mt {
			continue
		}
		if dt.pathMatch != "" && !globMatch(dt.pathMatch, p) {
			continue
		}
		if dt.match != "" && !globMatch(dt.match, leaf) {
			continue
		}
		return dt.f
	}
	return f
}

// DefaultTotalFieldsLimit is index.mapping.total_fields.limit's default.
const DefaultTotalFieldsLimit = 1000

// applySettings reads the total fields settings of a template's raw body.
func (m *mapping) applySettings(raw []byte) {
	var t struct {
		Template struct {
			Settings map[string]any `json:"settings"`
		} `json:"template"`
	}
	if json.Unmarshal(raw, &t) != nil {
		return
	}
	flat := map[string]any{}
	flatten("", t.Template.Settings, flat)
	for _, k := range []string{"index.mapping.total_fields.limit", "mapping.total_fields.limit"} {
		switch v := flat[k].(type) {
		case float64:
			m.totalLimit = int(v)
		case string:
			if n, err := strconv.Atoi(v); err == nil {
				m.totalLimit = n
			}
		}
	}
	for _, k := range []string{"index.mapping.total_fields.ignore_dynamic_beyond_limit", "mapping.total_fields.ignore_dynamic_beyond_limit"} {
		switch v := flat[k].(type) {
		case bool:
			m.ignoreBeyond = v
		case string:
			m.ignoreBeyond = v == "true"
		}
	}
}

func flatten(prefix string, m map[string]any, out map[string]any) {
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			flatten(prefix+k+".", sub, out)
			continue
		}
		out[prefix+k] = v
	}
}

// overLimit reports whether one more field passes the total fields limit;
// beyond it a field is dropped (ignore_dynamic_beyond_limit) or the
// document refused.
func (c *checker) overLimit() (drop bool, e *docError) {
	limit := c.m.totalLimit
	if limit <= 0 || len(c.m.fields)+len(c.pending) < limit {
		return false, nil
	}
	if c.m.ignoreBeyond {
		return true, nil
	}
	return false, &docError{status: 400, typ: "document_parsing_exception",
		reason: "[1:1] failed to parse: Limit of total fields [" + strconv.Itoa(limit) + "] has been exceeded while adding new fields [1]"}
}
