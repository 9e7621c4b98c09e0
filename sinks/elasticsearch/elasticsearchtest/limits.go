package elasticsearchtest

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Limits are cluster settings and privileges a real deployment has that
// the sink must cope with (see sinks/elasticsearch/README.md).
type Limits struct {
	// MaxContentLength is http.max_content_length (Elasticsearch's default
	// is 100mb): a larger request body is answered 413 as a whole. 0: no
	// limit.
	MaxContentLength int64
	// NoMonitor answers GET / with 403, as for an API key with index
	// privileges only (no monitor cluster privilege).
	NoMonitor bool
	// NoCreateIndex refuses, per bulk item with 403 security_exception,
	// writes that would create an index or data stream (the user lacks
	// auto_configure / create_index).
	NoCreateIndex bool
	// WriteBlock refuses every bulk item with 403 cluster_block_exception,
	// as an index with index.blocks.write (or the flood-stage block) does.
	WriteBlock bool
	// LogsTemplate installs the built-in "logs" template (index pattern
	// logs-*-*, priority 100, data stream) that every Elasticsearch 8 has.
	LogsTemplate bool
}

// SetLimits replaces the limits.
func (s *Server) SetLimits(l Limits) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits = l
	if l.LogsTemplate {
		if _, ok := s.templates["logs"]; !ok {
			t, err := parseTemplate("logs", []byte(`{"index_patterns":["logs-*-*"],"priority":100,"data_stream":{},"template":{"mappings":{"date_detection":false}},"_meta":{"managed":true,"description":"default logs template installed by x-pack"}}`))
			if err == nil {
				s.templates["logs"] = t
			}
		}
	}
}

// tooLarge answers 413 for a body over MaxContentLength (s.mu not held).
func (s *Server) tooLarge(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	limit := s.limits.MaxContentLength
	s.mu.Unlock()
	if limit <= 0 {
		return false
	}
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		// Elasticsearch inflates before it counts: the limit is on the
		// decompressed body (Netty's decompressor comes before its
		// aggregator)
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return false // readBody answers the bad gzip
		}
		body, _ := io.ReadAll(io.LimitReader(zr, limit+1))
		zr.Close()
		r.Header.Del("Content-Encoding")
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	if r.ContentLength < 0 || r.ContentLength > limit {
		// no length given (chunked): measure it, keeping what was read
		body, _ := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if int64(len(body)) <= limit {
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			return false
		}
	}
	if r.ContentLength >= 0 && r.ContentLength <= limit {
		return false
	}
	// Elasticsearch answers before reading the body, with no JSON.
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	return true
}

// monitorForbidden answers GET / with 403 when NoMonitor is set.
func (s *Server) monitorForbidden(w http.ResponseWriter) bool {
	s.mu.Lock()
	no := s.limits.NoMonitor
	s.mu.Unlock()
	if !no {
		return false
	}
	writeError(w, http.StatusForbidden, "security_exception",
		"action [cluster:monitor/main] is unauthorized for API key id [elasticsearchtest] of user [elasticsearchtest], this action is granted by the cluster privileges [monitor,manage,all]")
	return true
}

// writeBlocked is the per-item 403 of a write block on name (s.mu held).
func (s *Server) writeBlocked(name string) *docError {
	if !s.limits.WriteBlock {
		return nil
	}
	return &docError{status: http.StatusForbidden, typ: "cluster_block_exception",
		reason: "index [" + name + "] blocked by: [FORBIDDEN/8/index write (api)];"}
}

// createForbidden is the per-item 403 for creating name (s.mu held).
func (s *Server) createForbidden(name string) *docError {
	if !s.limits.NoCreateIndex {
		return nil
	}
	return &docError{status: http.StatusForbidden, typ: "security_exception",
		reason: "action [indices:admin/auto_create] is unauthorized for user [elasticsearchtest] with effective roles [writer] on indices [" + name +
			"], this action is granted by the index privileges [auto_configure,create_index,manage,all]"}
}

// overlapError is Elasticsearch's refusal of a template whose patterns
// overlap another's of the same priority (s.mu held).
func (s *Server) overlapError(name string, t *indexTemplate) string {
	for on, o := range s.templates {
		if on == name || o.priority != t.priority {
			continue
		}
		for _, a := range t.patterns {
			for _, b := range o.patterns {
				if globMatch(a, strings.ReplaceAll(b, "*", "x")) || globMatch(b, strings.ReplaceAll(a, "*", "x")) {
					return "index template [" + name + "] has index patterns [" + strings.Join(t.patterns, ", ") +
						"] matching patterns from existing templates [" + on + "] with patterns (" + on + " => [" + strings.Join(o.patterns, ", ") +
						"]) that have the same priority [" + strconv.FormatInt(t.priority, 10) + "], multiple index templates may not match during index creation, please use a different priority"
				}
			}
		}
	}
	return ""
}
