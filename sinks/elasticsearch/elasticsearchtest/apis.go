package elasticsearchtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

var acknowledged = []byte(`{"acknowledged":true}`)

// readJSONBody reads a request body that must be JSON when present.
func readJSONBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	var buf bytes.Buffer
	if err := readBody(r, &buf); err != nil {
		writeError(w, http.StatusBadRequest, "parse_exception", err.Error())
		return nil, false
	}
	b := bytes.TrimSpace(buf.Bytes())
	if len(b) > 0 {
		if ct := r.Header.Get("Content-Type"); ct != "" && !jsonContentType(ct) {
			writeJSON(w, http.StatusNotAcceptable,
				append(appendJSONString([]byte(`{"error":`), "Content-Type header ["+ct+"] is not supported"), `,"status":406}`...))
			return nil, false
		}
		if !json.Valid(b) {
			writeError(w, http.StatusBadRequest, "x_content_parse_exception", "[1:1] Unexpected character in request body")
			return nil, false
		}
	}
	return b, true
}

// indexTemplateAPI serves /_index_template[/{name}].
func (s *Server) indexTemplateAPI(w http.ResponseWriter, r *http.Request, rest []string) {
	name := ""
	if len(rest) > 0 {
		name = rest[0]
	}
	switch r.Method {
	case http.MethodPut, http.MethodPost:
		if name == "" {
			methodNotAllowed(w, r, "GET")
			return
		}
		body, ok := readJSONBody(w, r)
		if !ok {
			return
		}
		t, err := parseTemplate(name, body)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.typ, err.reason)
			return
		}
		s.mu.Lock()
		if msg := s.overlapError(name, t); msg != "" {
			s.mu.Unlock()
			writeError(w, http.StatusBadRequest, "illegal_argument_exception", msg)
			return
		}
		_, exists := s.templates[name]
		if exists && r.URL.Query().Get("create") == "true" {
			s.mu.Unlock()
			writeError(w, http.StatusBadRequest, "illegal_argument_exception", "index template ["+name+"] already exists")
			return
		}
		s.templates[name] = t
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, acknowledged)
	case http.MethodGet, http.MethodHead:
		s.mu.Lock()
		var names []string
		for n := range s.templates {
			if name == "" || globMatch(name, n) {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		out := []byte(`{"index_templates":[`)
		for i, n := range names {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, `{"name":`...)
			out = appendJSONString(out, n)
			out = append(out, `,"index_template":`...)
			out = append(out, s.templates[n].raw...)
			out = append(out, '}')
		}
		s.mu.Unlock()
		out = append(out, "]}"...)
		if len(names) == 0 && name != "" && !strings.Contains(name, "*") {
			writeError(w, http.StatusNotFound, "resource_not_found_exception", "index template matching ["+name+"] not found")
			return
		}
		writeJSON(w, http.StatusOK, out)
	case http.MethodDelete:
		s.mu.Lock()
		_, ok := s.templates[name]
		delete(s.templates, name)
		s.mu.Unlock()
		if !ok {
			writeError(w, http.StatusNotFound, "index_template_missing_exception", "index_template ["+name+"] missing")
			return
		}
		writeJSON(w, http.StatusOK, acknowledged)
	default:
		methodNotAllowed(w, r, "GET, PUT, POST, DELETE")
	}
}

type apiError struct{ typ, reason string }

// parseTemplate validates a composable index template body.
func parseTemplate(name string, body []byte) (*indexTemplate, *apiError) {
	var t struct {
		IndexPatterns json.RawMessage `json:"index_patterns"`
		Priority      *int64          `json:"priority"`
		DataStream    json.RawMessage `json:"data_stream"`
		Template      struct {
			Mappings json.RawMessage `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(body, &t); err != nil {
		return nil, &apiError{"x_content_parse_exception", "[1:1] [index_template] failed to parse: " + err.Error()}
	}
	var patterns []string
	if len(t.IndexPatterns) > 0 && t.IndexPatterns[0] == '"' {
		var p string
		_ = json.Unmarshal(t.IndexPatterns, &p)
		patterns = []string{p}
	} else if len(t.IndexPatterns) > 0 {
		if err := json.Unmarshal(t.IndexPatterns, &patterns); err != nil {
			return nil, &apiError{"x_content_parse_exception", "[1:1] [index_template] failed to parse field [index_patterns]"}
		}
	}
	if len(patterns) == 0 {
		return nil, &apiError{"action_request_validation_exception", "Validation Failed: 1: index patterns are missing;"}
	}
	for _, p := range patterns {
		if strings.ContainsAny(p, ` ,"\/<>|?#`) {
			return nil, &apiError{"invalid_index_template_exception", "index_template [" + name + "] invalid, cause [index_pattern [" + p + "] must not contain the following characters [ , \", \\, <, |, ,, >, /, ?]]"}
		}
	}
	m := newMapping()
	if err := m.merge(t.Template.Mappings); err != nil {
		return nil, &apiError{"mapper_parsing_exception", err.Error()}
	}
	it := &indexTemplate{name: name, raw: append([]byte(nil), body...), patterns: patterns,
		dataStream: len(t.DataStream) > 0 && string(t.DataStream) != "null", mappings: t.Template.Mappings}
	if t.Priority != nil {
		it.priority = *t.Priority
	}
	return it, nil
}

// dataStreamAPI serves /_data_stream[/{name}].
func (s *Server) dataStreamAPI(w http.ResponseWriter, r *http.Request, rest []string) {
	name := ""
	if len(rest) > 0 {
		name = rest[0]
	}
	switch r.Method {
	case http.MethodGet:
		s.mu.Lock()
		var names []string
		for n := range s.streams {
			if name == "" || name == "*" || name == "_all" || globMatch(name, n) {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		out := []byte(`{"data_streams":[`)
		for i, n := range names {
			ds := s.streams[n]
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, `{"name":`...)
			out = appendJSONString(out, n)
			out = append(out, `,"timestamp_field":{"name":"@timestamp"},"indices":[`...)
			for j, ix := range ds.backing {
				if j > 0 {
					out = append(out, ',')
				}
				out = append(out, `{"index_name":`...)
				out = appendJSONString(out, ix.name)
				out = append(out, `,"index_uuid":`...)
				out = appendJSONString(out, ix.uuid)
				out = append(out, '}')
			}
			out = append(out, `],"generation":`...)
			out = strconv.AppendInt(out, int64(len(ds.backing)), 10)
			out = append(out, `,"status":"GREEN","template":`...)
			out = appendJSONString(out, ds.template)
			out = append(out, `,"hidden":false,"system":false,"allow_custom_routing":false,"replicated":false}`...)
		}
		s.mu.Unlock()
		out = append(out, "]}"...)
		if len(names) == 0 && name != "" && !strings.Contains(name, "*") && name != "_all" {
			writeError(w, http.StatusNotFound, "index_not_found_exception", "no such index ["+name+"]")
			return
		}
		writeJSON(w, http.StatusOK, out)
	case http.MethodPut:
		if msg := invalidIndexName(name); msg != "" {
			writeError(w, http.StatusBadRequest, "invalid_index_name_exception", msg)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.streams[name]; ok {
			writeError(w, http.StatusBadRequest, "resource_already_exists_exception", "data_stream ["+name+"] already exists")
			return
		}
		if _, ok := s.indices[name]; ok {
			writeError(w, http.StatusBadRequest, "resource_already_exists_exception", "index ["+name+"] already exists")
			return
		}
		t := s.matchTemplate(name)
		if t == nil || !t.dataStream {
			writeError(w, http.StatusBadRequest, "illegal_argument_exception", "no matching index template found for data stream ["+name+"]")
			return
		}
		if _, err := s.createDataStream(name, t); err != nil {
			writeError(w, http.StatusBadRequest, "mapper_parsing_exception", err.Error())
			return
		}
		writeJSON(w, http.StatusOK, acknowledged)
	case http.MethodDelete:
		if strings.Contains(name, "*") {
			writeError(w, http.StatusBadRequest, "illegal_argument_exception", "Wildcard expressions or all indices are not allowed")
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		ds, ok := s.streams[name]
		if !ok {
			writeError(w, http.StatusNotFound, "index_not_found_exception", "no such index ["+name+"]")
			return
		}
		for _, ix := range ds.backing {
			delete(s.indices, ix.name)
		}
		delete(s.streams, name)
		writeJSON(w, http.StatusOK, acknowledged)
	default:
		methodNotAllowed(w, r, "GET, PUT, DELETE")
	}
}

// pipelineAPI serves /_ingest/pipeline/{id}: ids only, documents pass
// through unchanged.
func (s *Server) pipelineAPI(w http.ResponseWriter, r *http.Request, id string) {
	switch r.Method {
	case http.MethodPut:
		body, ok := readJSONBody(w, r)
		if !ok {
			return
		}
		s.mu.Lock()
		s.pipelines[id] = body
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, acknowledged)
	case http.MethodGet:
		s.mu.Lock()
		body, ok := s.pipelines[id]
		s.mu.Unlock()
		if !ok {
			writeJSON(w, http.StatusNotFound, []byte(`{}`))
			return
		}
		out := append([]byte(`{`), appendJSONString(nil, id)...)
		out = append(append(append(out, ':'), body...), '}')
		writeJSON(w, http.StatusOK, out)
	case http.MethodDelete:
		s.mu.Lock()
		_, ok := s.pipelines[id]
		delete(s.pipelines, id)
		s.mu.Unlock()
		if !ok {
			writeError(w, http.StatusNotFound, "resource_not_found_exception", "pipeline ["+id+"] is missing")
			return
		}
		writeJSON(w, http.StatusOK, acknowledged)
	default:
		methodNotAllowed(w, r, "GET, PUT, DELETE")
	}
}

// indexAPI serves PUT, DELETE, GET and HEAD /{index}.
func (s *Server) indexAPI(w http.ResponseWriter, r *http.Request, name string) {
	switch r.Method {
	case http.MethodPut:
		body, ok := readJSONBody(w, r)
		if !ok {
			return
		}
		if msg := invalidIndexName(name); msg != "" {
			writeError(w, http.StatusBadRequest, "invalid_index_name_exception", msg)
			return
		}
		var req struct {
			Mappings json.RawMessage `json:"mappings"`
		}
		if len(body) > 0 {
			if err := json.Unmarshal(body, &req); err != nil {
				writeError(w, http.StatusBadRequest, "x_content_parse_exception", err.Error())
				return
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if ix, ok := s.indices[name]; ok {
			writeError(w, http.StatusBadRequest, "resource_already_exists_exception", "index ["+name+"/"+ix.uuid+"] already exists")
			return
		}
		if _, ok := s.streams[name]; ok {
			writeError(w, http.StatusBadRequest, "invalid_index_name_exception", "Invalid index name ["+name+"], already exists as data stream")
			return
		}
		t := s.matchTemplate(name)
		if t != nil && t.dataStream {
			t = nil // a data stream template does not apply to a plain index
		}
		if _, err := s.createIndex(name, "", t, req.Mappings); err != nil {
			writeError(w, http.StatusBadRequest, "mapper_parsing_exception", err.Error())
			return
		}
		out := append([]byte(`{"acknowledged":true,"shards_acknowledged":true,"index":`), appendJSONString(nil, name)...)
		writeJSON(w, http.StatusOK, append(out, '}'))
	case http.MethodDelete:
		if strings.Contains(name, "*") || name == "_all" {
			writeError(w, http.StatusBadRequest, "illegal_argument_exception", "Wildcard expressions or all indices are not allowed")
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		names := strings.Split(name, ",")
		for _, n := range names {
			ix, ok := s.indices[n]
			if !ok {
				writeError(w, http.StatusNotFound, "index_not_found_exception", "no such index ["+n+"]")
				return
			}
			if ix.dataStream != "" {
				writeError(w, http.StatusBadRequest, "illegal_argument_exception",
					"index ["+n+"] is the write index for data stream ["+ix.dataStream+"] and cannot be deleted")
				return
			}
		}
		for _, n := range names {
			delete(s.indices, n)
		}
		writeJSON(w, http.StatusOK, acknowledged)
	case http.MethodGet, http.MethodHead:
		ixs, missing := s.resolveReadStrict(name)
		if missing != "" {
			writeError(w, http.StatusNotFound, "index_not_found_exception", "no such index ["+missing+"]")
			return
		}
		out := []byte{'{'}
		for i, ix := range ixs {
			if i > 0 {
				out = append(out, ',')
			}
			out = appendJSONString(out, ix.name)
			out = append(out, `:{"aliases":{},"mappings":{},"settings":{"index":{"uuid":`...)
			out = appendJSONString(out, ix.uuid)
			out = append(out, `}}}`...)
		}
		writeJSON(w, http.StatusOK, append(out, '}'))
	default:
		methodNotAllowed(w, r, "GET, HEAD, PUT, DELETE")
	}
}

func (s *Server) readTargets(w http.ResponseWriter, expr string) ([]*index, bool) {
	ixs, missing := s.resolveReadStrict(expr)
	if missing != "" {
		writeError(w, http.StatusNotFound, "index_not_found_exception", "no such index ["+missing+"]")
		return nil, false
	}
	return ixs, true
}

// refresh serves /{index}/_refresh: documents are searchable at once here.
func (s *Server) refresh(w http.ResponseWriter, r *http.Request, expr string) {
	if _, ok := s.readTargets(w, expr); !ok {
		return
	}
	writeJSON(w, http.StatusOK, []byte(`{"_shards":{"total":2,"successful":1,"failed":0}}`))
}

// count serves /{index}/_count (match_all only).
func (s *Server) count(w http.ResponseWriter, r *http.Request, expr string) {
	ixs, ok := s.readTargets(w, expr)
	if !ok {
		return
	}
	if !matchAllOnly(w, r) {
		return
	}
	n := 0
	for _, ix := range ixs {
		ix.mu.Lock()
		n += len(ix.docs)
		ix.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, []byte(`{"count":`+strconv.Itoa(n)+`,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0}}`))
}

// matchAllOnly refuses queries elasticsearchtest cannot run.
func matchAllOnly(w http.ResponseWriter, r *http.Request) bool {
	body, ok := readJSONBody(w, r)
	if !ok {
		return false
	}
	if len(body) == 0 {
		return true
	}
	var req struct {
		Query map[string]json.RawMessage `json:"query"`
	}
	_ = json.Unmarshal(body, &req)
	for k := range req.Query {
		if k != "match_all" {
			writeError(w, http.StatusBadRequest, "illegal_argument_exception", "elasticsearchtest runs only match_all queries, not ["+k+"]")
			return false
		}
	}
	return true
}

// search serves /{index}/_search: match_all, hits sorted by index and _id.
func (s *Server) search(w http.ResponseWriter, r *http.Request, expr string) {
	ixs, ok := s.readTargets(w, expr)
	if !ok {
		return
	}
	if !matchAllOnly(w, r) {
		return
	}
	q := r.URL.Query()
	size := 10
	if v := q.Get("size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "illegal_argument_exception", "[size] parameter cannot be negative, found ["+v+"]")
			return
		}
		size = n
	}
	if size > 10000 {
		writeError(w, http.StatusBadRequest, "illegal_argument_exception",
			"Result window is too large, from + size must be less than or equal to: [10000] but was ["+strconv.Itoa(size)+"].")
		return
	}
	withVersion := q.Get("version") == "true"
	type hit struct {
		index, id string
		d         doc
	}
	var hits []hit
	total := 0
	for _, ix := range ixs {
		ix.mu.Lock()
		total += len(ix.docs)
		for id, d := range ix.docs {
			hits = append(hits, hit{ix.name, id, *d})
		}
		ix.mu.Unlock()
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].index != hits[j].index {
			return hits[i].index < hits[j].index
		}
		return hits[i].id < hits[j].id
	})
	if len(hits) > size {
		hits = hits[:size]
	}
	out := []byte(`{"took":1,"timed_out":false,"_shards":{"total":` + strconv.Itoa(len(ixs)) + `,"successful":` + strconv.Itoa(len(ixs)) +
		`,"skipped":0,"failed":0},"hits":{"total":{"value":` + strconv.Itoa(total) + `,"relation":"eq"},"max_score":1.0,"hits":[`)
	for i, h := range hits {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"_index":`...)
		out = appendJSONString(out, h.index)
		out = append(out, `,"_id":`...)
		out = appendJSONString(out, h.id)
		if withVersion {
			out = append(out, `,"_version":`...)
			out = appendInt(out, h.d.version)
		}
		out = append(out, `,"_score":1.0,"_source":`...)
		out = appendSource(out, h.d.source)
		out = append(out, '}')
	}
	writeJSON(w, http.StatusOK, append(out, "]}}"...))
}

func appendSource(out, src []byte) []byte {
	if len(src) == 0 {
		return append(out, '{', '}')
	}
	return append(out, src...)
}

// getDoc serves GET /{index}/_doc/{id}.
func (s *Server) getDoc(w http.ResponseWriter, r *http.Request, name, id string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, http.StatusBadRequest, "illegal_argument_exception", "elasticsearchtest serves only GET /{index}/_doc/{id}")
		return
	}
	ixs, ok := s.readTargets(w, name)
	if !ok {
		return
	}
	for _, ix := range ixs {
		ix.mu.Lock()
		d, found := ix.docs[id]
		var cp doc
		if found {
			cp = *d
		}
		ix.mu.Unlock()
		if !found {
			continue
		}
		out := append([]byte(`{"_index":`), appendJSONString(nil, ix.name)...)
		out = append(out, `,"_id":`...)
		out = appendJSONString(out, id)
		out = append(out, `,"_version":`...)
		out = appendInt(out, cp.version)
		out = append(out, `,"_seq_no":`...)
		out = appendInt(out, cp.seqNo)
		out = append(out, `,"_primary_term":1,"found":true,"_source":`...)
		out = appendSource(out, cp.source)
		writeJSON(w, http.StatusOK, append(out, '}'))
		return
	}
	out := append([]byte(`{"_index":`), appendJSONString(nil, name)...)
	out = append(out, `,"_id":`...)
	out = appendJSONString(out, id)
	writeJSON(w, http.StatusNotFound, append(out, `,"found":false}`...))
}

// fieldMapping serves GET /{index}/_mapping/field/{fields} (exact field
// names, comma-separated).
func (s *Server) fieldMapping(w http.ResponseWriter, r *http.Request, expr, fields string) {
	ixs, ok := s.readTargets(w, expr)
	if !ok {
		return
	}
	out := []byte{'{'}
	for i, ix := range ixs {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendJSONString(out, ix.name)
		out = append(out, `:{"mappings":{`...)
		n := 0
		ix.mapMu.RLock()
		for _, f := range strings.Split(fields, ",") {
			fm, ok := ix.m.fields[f]
			if !ok {
				continue
			}
			if n > 0 {
				out = append(out, ',')
			}
			n++
			leaf := f[strings.LastIndexByte(f, '.')+1:]
			out = appendJSONString(out, f)
			out = append(out, `:{"full_name":`...)
			out = appendJSONString(out, f)
			out = append(out, `,"mapping":{`...)
			out = appendJSONString(out, leaf)
			out = append(out, `:{"type":`...)
			out = appendJSONString(out, fm.es)
			if fm.ignoreMalformed {
				out = append(out, `,"ignore_malformed":true`...)
			}
			if fm.keywordSub {
				out = append(out, `,"fields":{"keyword":{"type":"keyword","ignore_above":256}}`...)
			}
			out = append(out, `}}}`...)
		}
		ix.mapMu.RUnlock()
		out = append(out, `}}`...)
	}
	writeJSON(w, http.StatusOK, append(out, '}'))
}
