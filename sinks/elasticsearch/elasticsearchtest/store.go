package elasticsearchtest

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"
)

// index is one index: its documents and mapping. mu guards docs and
// seqNo, mapMu the mapping; the Server's mu guards the maps of indices.
type index struct {
	name       string
	uuid       string
	dataStream string // owning data stream, for backing indices
	created    time.Time

	mu    sync.Mutex
	docs  map[string]*doc
	seqNo int64
	mapMu sync.RWMutex
	m     *mapping
}

// doc is a stored document.
type doc struct {
	source  []byte // nil with Options.DiscardSource
	version int64
	seqNo   int64
}

// dataStream is a data stream and its backing indices (the last one is
// the write index).
type dataStream struct {
	name     string
	template string
	backing  []*index
}

// indexTemplate is a composable index template.
type indexTemplate struct {
	name       string
	raw        []byte
	patterns   []string
	priority   int64
	dataStream bool
	mappings   []byte
}

// Doc is a stored document as the accessors return it.
type Doc struct {
	Source  json.RawMessage
	Version int64
	SeqNo   int64
}

// Docs returns a copy of the documents of index (a concrete index or a data
// stream name), keyed by _id.
func (s *Server) Docs(name string) map[string]Doc {
	out := map[string]Doc{}
	for _, ix := range s.concrete(name) {
		ix.mu.Lock()
		for id, d := range ix.docs {
			out[id] = Doc{Source: append(json.RawMessage(nil), d.source...), Version: d.version, SeqNo: d.seqNo}
		}
		ix.mu.Unlock()
	}
	return out
}

// Count returns the number of documents in the indices name resolves to
// (a name, a data stream, a pattern with *, or "" for all).
func (s *Server) Count(name string) int {
	if name == "" {
		name = "*"
	}
	n := 0
	for _, ix := range s.resolveRead(name) {
		ix.mu.Lock()
		n += len(ix.docs)
		ix.mu.Unlock()
	}
	return n
}

// Indices lists the concrete indices, sorted.
func (s *Server) Indices() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for n := range s.indices {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// DataStreams lists the data stream names, sorted.
func (s *Server) DataStreams() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for n := range s.streams {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// IndexTemplate returns the body an index template was stored with.
func (s *Server) IndexTemplate(name string) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.templates[name]
	if !ok {
		return nil, false
	}
	return append(json.RawMessage(nil), t.raw...), true
}

// MappingType returns the type a field path (dotted) is mapped to in index
// ("" when unmapped).
func (s *Server) MappingType(name, field string) string {
	for _, ix := range s.concrete(name) {
		ix.mapMu.RLock()
		f, ok := ix.m.fields[field]
		ix.mapMu.RUnlock()
		if ok {
			return f.es
		}
	}
	return ""
}

// concrete resolves an exact index or data stream name.
func (s *Server) concrete(name string) []*index {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ds, ok := s.streams[name]; ok {
		return append([]*index(nil), ds.backing...)
	}
	if ix, ok := s.indices[name]; ok {
		return []*index{ix}
	}
	return nil
}

// resolveRead resolves a read target expression: comma-separated names,
// data streams and * patterns; "_all" and "*" mean every index. Hidden
// backing indices match only by explicit .ds- patterns or their stream.
func (s *Server) resolveRead(expr string) []*index {
	ixs, _ := s.resolveReadStrict(expr)
	return ixs
}

// resolveReadStrict also returns the first concrete name that does not exist.
func (s *Server) resolveReadStrict(expr string) ([]*index, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[*index]bool{}
	var out []*index
	add := func(ix *index) {
		if !seen[ix] {
			seen[ix] = true
			out = append(out, ix)
		}
	}
	missing := ""
	for _, part := range strings.Split(expr, ",") {
		part = strings.TrimSpace(part)
		if part == "_all" {
			part = "*"
		}
		if !strings.Contains(part, "*") {
			if ds, ok := s.streams[part]; ok {
				for _, ix := range ds.backing {
					add(ix)
				}
			} else if ix, ok := s.indices[part]; ok {
				add(ix)
			} else if missing == "" {
				missing = part
			}
			continue
		}
		for _, ds := range s.streams {
			if globMatch(part, ds.name) {
				for _, ix := range ds.backing {
					add(ix)
				}
			}
		}
		for n, ix := range s.indices {
			if strings.HasPrefix(n, ".") && !strings.HasPrefix(part, ".") {
				continue
			}
			if globMatch(part, n) {
				add(ix)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, missing
}

// globMatch matches an index pattern where * is the only wildcard.
func globMatch(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == name
	}
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(name, p)
		if i < 0 {
			return false
		}
		name = name[i+len(p):]
	}
	return strings.HasSuffix(name, parts[len(parts)-1])
}

// invalidIndexName says why Elasticsearch refuses an index name, or "".
func invalidIndexName(name string) string {
	switch {
	case name == "":
		return "Invalid index name [], must not be empty"
	case strings.ToLower(name) != name:
		return "Invalid index name [" + name + "], must be lowercase"
	case strings.ContainsAny(name, `\/*?"<>| ,#:`):
		return "Invalid index name [" + name + "], must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?]"
	case strings.HasPrefix(name, "_") || strings.HasPrefix(name, "-") || strings.HasPrefix(name, "+"):
		return "Invalid index name [" + name + "], must not start with '_', '-', or '+'"
	case name == "." || name == "..":
		return "Invalid index name [" + name + "], must not be '.' or '..'"
	case len(name) > 255:
		return "Invalid index name [" + name + "], index name is too long"
	}
	return ""
}

// matchTemplate returns the highest-priority template whose patterns match
// name (s.mu held).
func (s *Server) matchTemplate(name string) *indexTemplate {
	var best *indexTemplate
	for _, t := range s.templates {
		for _, p := range t.patterns {
			if globMatch(p, name) {
				if best == nil || t.priority > best.priority || (t.priority == best.priority && t.name < best.name) {
					best = t
				}
				break
			}
		}
	}
	return best
}

// createIndex creates an index with the mapping of the matching template
// plus extra (s.mu held).
func (s *Server) createIndex(name, dataStream string, t *indexTemplate, extra []byte) (*index, error) {
	m := newMapping()
	if t != nil {
		if err := m.merge(t.mappings); err != nil {
			return nil, err
		}
		m.applySettings(t.raw)
	}
	if dataStream != "" {
		if _, ok := m.fields["@timestamp"]; !ok {
			m.fields["@timestamp"] = field{t: ftDate, es: "date"}
		}
	}
	if err := m.merge(extra); err != nil {
		return nil, err
	}
	ix := &index{name: name, uuid: s.newUUID(), dataStream: dataStream, created: time.Now(), docs: map[string]*doc{}, m: m}
	s.indices[name] = ix
	return ix, nil
}

// createDataStream creates a data stream and its first backing index (s.mu held).
func (s *Server) createDataStream(name string, t *indexTemplate) (*dataStream, error) {
	backing := ".ds-" + name + "-" + time.Now().UTC().Format("2006.01.02") + "-000001"
	ix, err := s.createIndex(backing, name, t, nil)
	if err != nil {
		return nil, err
	}
	ds := &dataStream{name: name, template: t.name, backing: []*index{ix}}
	s.streams[name] = ds
	return ds, nil
}

// writeTarget resolves where a bulk item of op writes, auto-creating
// indices and data streams the way action.auto_create_index does (s.mu held).
func (s *Server) writeTarget(name string, op string) (*index, *docError) {
	if e := s.writeBlocked(name); e != nil {
		return nil, e
	}
	if ds, ok := s.streams[name]; ok {
		if op != "create" {
			return nil, &docError{status: 400, typ: "illegal_argument_exception",
				reason: "only write ops with an op_type of create are allowed in data streams"}
		}
		return ds.backing[len(ds.backing)-1], nil
	}
	if ix, ok := s.indices[name]; ok {
		return ix, nil
	}
	if msg := invalidIndexName(name); msg != "" {
		return nil, &docError{status: 400, typ: "invalid_index_name_exception", reason: msg}
	}
	if e := s.createForbidden(name); e != nil {
		return nil, e
	}
	t := s.matchTemplate(name)
	if t != nil && t.dataStream {
		if op != "create" {
			return nil, &docError{status: 400, typ: "illegal_argument_exception",
				reason: "only write ops with an op_type of create are allowed in data streams"}
		}
		ds, err := s.createDataStream(name, t)
		if err != nil {
			return nil, &docError{status: 400, typ: "mapper_parsing_exception", reason: err.Error()}
		}
		return ds.backing[0], nil
	}
	ix, err := s.createIndex(name, "", t, nil)
	if err != nil {
		return nil, &docError{status: 400, typ: "mapper_parsing_exception", reason: err.Error()}
	}
	return ix, nil
}
