package elasticsearchtest

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// bulkItem is one action of a bulk request and, once applied, its outcome.
type bulkItem struct {
	op       string // response key: index, create, update, delete
	index    string // target as requested
	id       string
	idSet    bool // "_id" was given (possibly empty)
	pipeline string
	source   []byte // index/create: the document; update: the update body

	concrete  string // index written to (a backing index for data streams)
	indexUUID string
	status    int
	version   int64
	seqNo     int64
	result    string
	err       *docError
}

// bulkError is a failure of the whole bulk request.
type bulkError struct {
	status      int
	typ, reason string
}

// bulk serves POST /_bulk and /{index}/_bulk.
func (s *Server) bulk(w http.ResponseWriter, r *http.Request, defIndex string) int {
	start := time.Now()
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		writeJSON(w, http.StatusNotAcceptable, []byte(`{"error":"Content-Type header is missing","status":406}`))
		return 0
	}
	if !jsonContentType(ct) {
		writeJSON(w, http.StatusNotAcceptable,
			append(appendJSONString([]byte(`{"error":`), "Content-Type header ["+ct+"] is not supported"), `,"status":406}`...))
		return 0
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if err := readBody(r, buf); err != nil {
		writeError(w, http.StatusBadRequest, "parse_exception", "request body is required: "+err.Error())
		return 0
	}
	q := r.URL.Query()
	items, berr := parseBulk(buf.Bytes(), defIndex, q.Get("pipeline"))

	s.mu.Lock()
	s.stats.BulkRequests++
	s.stats.Items += len(items)
	fault := s.requestFault()
	s.mu.Unlock()
	switch {
	case fault == http.StatusTooManyRequests:
		writeError(w, fault, "es_rejected_execution_exception",
			"rejected execution of coordinating operation [coordinating_and_primary_bytes=104857600, replica_bytes=0, all_bytes=104857600, coordinating_operation_bytes="+
				strconv.Itoa(buf.Len())+", max_coordinating_and_primary_bytes=107374182]")
		return len(items)
	case fault == http.StatusServiceUnavailable:
		writeError(w, fault, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/2/no master];")
		return len(items)
	case berr != nil:
		writeError(w, berr.status, berr.typ, berr.reason)
		return len(items)
	}

	s.apply(items)

	f := parseFilterPath(q.Get("filter_path"))
	out := s.renderBulk(items, f, time.Since(start))
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
	return len(items)
}

// requestFault picks a whole-request fault (s.mu held).
func (s *Server) requestFault() int {
	f := &s.faults
	switch {
	case f.FaultAfter > 0 && (f.Request429First > 0 || f.Request503First > 0):
		f.FaultAfter--
		return 0
	case f.Request429First > 0:
		f.Request429First--
		return http.StatusTooManyRequests
	case f.Request503First > 0:
		f.Request503First--
		return http.StatusServiceUnavailable
	case f.Request429Rate > 0 && s.rng.Float64() < f.Request429Rate:
		return http.StatusTooManyRequests
	case f.Request503Rate > 0 && s.rng.Float64() < f.Request503Rate:
		return http.StatusServiceUnavailable
	}
	return 0
}

// itemFault picks a per-item fault (s.mu held).
func (s *Server) itemFault(id string) *docError {
	f := &s.faults
	if n := f.ItemReject429IDs[id]; n > 0 {
		f.ItemReject429IDs[id] = n - 1
		return rejected()
	}
	if f.ItemReject400IDs[id] {
		return injected400(id)
	}
	if f.ItemReject429Rate > 0 && s.rng.Float64() < f.ItemReject429Rate {
		return rejected()
	}
	if f.ItemReject400Rate > 0 && s.rng.Float64() < f.ItemReject400Rate {
		return injected400(id)
	}
	return nil
}

func rejected() *docError {
	return &docError{status: http.StatusTooManyRequests, typ: "es_rejected_execution_exception",
		reason: "rejected execution of primary operation [shard_detail=[sophos][0][elasticsearchtest-node-1], shard_primary_operation_bytes=1024, max_primary_operation_bytes=107374182]"}
}

func injected400(id string) *docError {
	return &docError{status: http.StatusBadRequest, typ: "document_parsing_exception",
		reason:     "[1:2] failed to parse field [injected] of type [long] in document with id '" + id + "'. Preview of field's value: 'elasticsearchtest'",
		causedType: "illegal_argument_exception", causedReason: "For input string: \"elasticsearchtest\""}
}

// parseBulk splits the NDJSON body into items, checking what Elasticsearch
// checks before executing any item.
func parseBulk(body []byte, defIndex, defPipeline string) ([]bulkItem, *bulkError) {
	if len(body) == 0 {
		// checked against a real node (realnode_test.go): no body at all
		// fails before parsing, unlike a body of blank lines
		return nil, &bulkError{400, "parse_exception", "request body is required"}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, &bulkError{400, "action_request_validation_exception", "Validation Failed: 1: no requests added;"}
	}
	if body[len(body)-1] != '\n' {
		return nil, &bulkError{400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]"}
	}
	items := make([]bulkItem, 0, bytes.Count(body, []byte{'\n'})/2+1)
	line := 0
	next := func() ([]byte, bool) {
		for len(body) > 0 {
			nl := bytes.IndexByte(body, '\n')
			l := body[:nl]
			body = body[nl+1:]
			line++
			if len(bytes.TrimSpace(l)) > 0 {
				return l, true
			}
		}
		return nil, false
	}
	for {
		action, ok := next()
		if !ok {
			break
		}
		it, e := parseAction(action, line, defIndex, defPipeline)
		if e != nil {
			return items, e
		}
		if it.op != "delete" {
			src, ok := next()
			if !ok {
				return items, &bulkError{400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]"}
			}
			it.source = src
		}
		items = append(items, it)
	}
	var msg []byte
	n := 0
	for i := range items {
		it := &items[i]
		var why string
		switch {
		case it.index == "":
			why = "index is missing"
		case it.id == "" && (it.op == "delete" || it.op == "update"):
			why = "id is missing"
		case len(it.id) > 512:
			why = "id [" + it.id + "] is too long, must be no longer than 512 bytes but was: " + strconv.Itoa(len(it.id))
		}
		if why != "" {
			n++
			msg = append(msg, strconv.Itoa(n)+": "+why+";"...)
		}
	}
	if n > 0 {
		return items, &bulkError{400, "action_request_validation_exception", "Validation Failed: " + string(msg)}
	}
	return items, nil
}

// parseAction reads one action/metadata line.
func parseAction(l []byte, line int, defIndex, defPipeline string) (bulkItem, *bulkError) {
	it := bulkItem{index: defIndex, pipeline: defPipeline}
	ln := strconv.Itoa(line)
	i := rawjson.SkipSpace(l, 0)
	if i >= len(l) || l[i] != '{' {
		return it, &bulkError{400, "illegal_argument_exception", "Malformed action/metadata line [" + ln + "], expected START_OBJECT or END_OBJECT but found [" + tokenName(l[i:]) + "]"}
	}
	var berr *bulkError
	members := 0
	err := rawjson.EachMember(l, func(k, v []byte) bool {
		members++
		if members > 1 {
			berr = &bulkError{400, "illegal_argument_exception", "Malformed action/metadata line [" + ln + "], expected END_OBJECT but found [FIELD_NAME]"}
			return false
		}
		op := string(unquoteKey(k))
		switch op {
		case "index", "create", "update", "delete":
		default:
			berr = &bulkError{400, "illegal_argument_exception", "Malformed action/metadata line [" + ln + "], expected field [create], [delete], [index] or [update] but found [" + op + "]"}
			return false
		}
		it.op = op
		if len(v) == 0 || v[0] != '{' {
			berr = &bulkError{400, "illegal_argument_exception", "Malformed action/metadata line [" + ln + "], expected START_OBJECT but found [" + tokenName(v) + "]"}
			return false
		}
		_ = rawjson.EachMember(v, func(pk, pv []byte) bool {
			name := string(unquoteKey(pk))
			val := ""
			if len(pv) > 0 && pv[0] == '"' {
				val = string(unquoteKey(pv))
			} else {
				val = string(pv)
			}
			switch name {
			case "_index":
				it.index = val
			case "_id":
				it.id, it.idSet = val, true
			case "pipeline":
				it.pipeline = val
			case "op_type":
				if it.op == "index" && val == "create" {
					it.op = "create"
				} else if val != "index" && val != "create" {
					berr = &bulkError{400, "illegal_argument_exception", "opType must be 'create' or 'index', found: [" + val + "]"}
					return false
				}
			case "routing", "require_alias", "require_data_stream", "if_seq_no", "if_primary_term", "version",
				"version_type", "retry_on_conflict", "dynamic_templates", "list_executed_pipelines", "_source":
			default:
				berr = &bulkError{400, "illegal_argument_exception", "Action/metadata line [" + ln + "] contains an unknown parameter [" + name + "]"}
				return false
			}
			return true
		})
		return berr == nil
	})
	if berr != nil {
		return it, berr
	}
	if err != nil {
		return it, &bulkError{400, "x_content_parse_exception", "[" + ln + ":1] Unexpected character: " + err.Error()}
	}
	if members == 0 {
		return it, &bulkError{400, "illegal_argument_exception", "Malformed action/metadata line [" + ln + "], expected FIELD_NAME but found [END_OBJECT]"}
	}
	return it, nil
}

func tokenName(v []byte) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "null"
	}
	switch v[0] {
	case '"':
		return "VALUE_STRING"
	case '[':
		return "START_ARRAY"
	case '{':
		return "START_OBJECT"
	case 't':
		return "VALUE_TRUE"
	case 'f':
		return "VALUE_FALSE"
	case 'n':
		return "VALUE_NULL"
	}
	return "VALUE_NUMBER_INT"
}

// apply executes the items in order. Items of concurrent requests run in
// parallel: documents are parsed against the mapping under a read lock, and
// only new fields and the document store take write locks.
func (s *Server) apply(items []bulkItem) {
	var c checker
	var lastName, lastClass string
	var lastIx *index
	knownPipelines := map[string]bool{}
	var st Stats
	st.ItemStatus = map[int]int{}
	defer func() {
		s.mu.Lock()
		for k, v := range st.ItemStatus {
			s.stats.ItemStatus[k] += v
		}
		s.stats.Created += st.Created
		s.stats.Updated += st.Updated
		s.mu.Unlock()
	}()
	tally := func(it *bulkItem) {
		if it.err != nil {
			it.status = it.err.status
		}
		st.ItemStatus[it.status]++
		switch it.result {
		case "created":
			st.Created++
		case "updated":
			st.Updated++
		}
	}
	for i := range items {
		it := &items[i]
		if it.idSet && it.id == "" {
			// as a real node answers (realnode_test.go): per item, not
			// a validation failure of the whole request
			it.err = &docError{status: 400, typ: "illegal_argument_exception", reason: "if _id is specified it must not be empty"}
			tally(it)
			continue
		}
		if p := it.pipeline; p != "" && p != "_none" && !knownPipelines[p] {
			s.mu.Lock()
			_, ok := s.pipelines[p]
			s.mu.Unlock()
			if !ok {
				it.err = &docError{status: 400, typ: "illegal_argument_exception", reason: "pipeline with id [" + p + "] does not exist"}
				tally(it)
				continue
			}
			knownPipelines[p] = true
		}
		if s.faultsOn.Load() {
			s.mu.Lock()
			fe := s.itemFault(it.id)
			s.mu.Unlock()
			if fe != nil {
				it.err = fe
				tally(it)
				continue
			}
		}
		class := it.op
		if class != "create" {
			class = "other"
		}
		ix := lastIx
		if ix == nil || it.index != lastName || class != lastClass {
			s.mu.Lock()
			var derr *docError
			ix, derr = s.writeTarget(it.index, it.op)
			s.mu.Unlock()
			if derr != nil {
				it.err = derr
				tally(it)
				lastIx = nil
				continue
			}
			lastName, lastClass, lastIx = it.index, class, ix
		}
		if it.id == "" {
			s.mu.Lock()
			it.id = s.autoID()
			s.mu.Unlock()
		}
		it.concrete, it.indexUUID = ix.name, ix.uuid
		s.applyOne(ix, it, &c)
		tally(it)
	}
}

// autoID makes a 20-character id like Elasticsearch's time-based UUIDs (s.mu held).
func (s *Server) autoID() string {
	var b [15]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixNano()))
	binary.BigEndian.PutUint64(b[7:], s.rng.Uint64())
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// parse checks a document against the index mapping, adding the dynamic
// fields it introduces.
func (ix *index) parse(c *checker, src []byte, id string) *docError {
	ix.mapMu.RLock()
	c.reset(ix.m, src, id)
	derr := c.check(ix.dataStream != "")
	fresh := len(c.pending) > 0
	ix.mapMu.RUnlock()
	if derr != nil || !fresh {
		return derr
	}
	// new fields: parse again under the write lock (another request may
	// have mapped them meanwhile) and commit
	ix.mapMu.Lock()
	defer ix.mapMu.Unlock()
	c.reset(ix.m, src, id)
	if derr := c.check(ix.dataStream != ""); derr != nil {
		return derr
	}
	c.commit()
	return nil
}

// applyOne executes one item against its index.
func (s *Server) applyOne(ix *index, it *bulkItem, c *checker) {
	switch it.op {
	case "delete":
		ix.mu.Lock()
		defer ix.mu.Unlock()
		d := ix.docs[it.id]
		it.seqNo = ix.seqNo
		ix.seqNo++
		if d == nil {
			it.status, it.result, it.version = 404, "not_found", 1
			return
		}
		delete(ix.docs, it.id)
		it.status, it.result, it.version = 200, "deleted", d.version+1
		return
	case "update":
		ix.mu.Lock()
		defer ix.mu.Unlock()
		d := ix.docs[it.id]
		src, created, noop, derr := updatedSource(d, it)
		if derr != nil {
			it.err = derr
			return
		}
		if noop {
			it.status, it.result, it.version, it.seqNo = 200, "noop", d.version, d.seqNo
			return
		}
		if it.err = ix.parse(c, src, it.id); it.err != nil {
			return
		}
		if created {
			d = nil
		}
		it.source = src
		s.store(ix, it, d)
		return
	}
	if it.err = ix.parse(c, it.source, it.id); it.err != nil {
		return
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	d := ix.docs[it.id]
	if it.op == "create" && d != nil {
		it.err = &docError{status: 409, typ: "version_conflict_engine_exception",
			reason: "[" + it.id + "]: version conflict, document already exists (current version [" + strconv.FormatInt(d.version, 10) + "])"}
		return
	}
	s.store(ix, it, d)
}

// store writes the item's source as a new version of d (nil: a new
// document) (ix.mu held).
func (s *Server) store(ix *index, it *bulkItem, d *doc) {
	if d == nil {
		d = &doc{}
		ix.docs[it.id] = d
		it.status, it.result = 201, "created"
	} else {
		it.status, it.result = 200, "updated"
	}
	d.version++
	d.seqNo = ix.seqNo
	ix.seqNo++
	if !s.opts.DiscardSource {
		d.source = append(d.source[:0:0], it.source...)
	}
	it.version, it.seqNo = d.version, d.seqNo
}

// renderBulk writes the bulk response, honouring filter_path.
func (s *Server) renderBulk(items []bulkItem, f filterPath, took time.Duration) []byte {
	errs := false
	for i := range items {
		if items[i].err != nil {
			errs = true
			break
		}
	}
	out := make([]byte, 0, 64+len(items)*(200))
	out = append(out, '{')
	sep := func() {
		if out[len(out)-1] != '{' && out[len(out)-1] != '[' {
			out = append(out, ',')
		}
	}
	if f.has("errors") {
		out = append(out, `"errors":`...)
		out = strconv.AppendBool(out, errs)
	}
	if f.has("took") {
		sep()
		out = append(out, `"took":`...)
		out = appendInt(out, took.Milliseconds())
	}
	var filters map[string]itemFilter
	if f.match("items") != matchNone {
		filters = map[string]itemFilter{}
		for _, op := range []string{"index", "create", "update", "delete"} {
			filters[op] = newItemFilter(f, op)
		}
		sep()
		out = append(out, `"items":[`...)
		mark := len(out)
		for i := range items {
			it := &items[i]
			flt := filters[it.op]
			if !flt.any {
				continue
			}
			if len(out) > mark {
				out = append(out, ',')
			}
			before := len(out)
			out = appendItem(out, it, flt)
			if f != nil && len(out) == before {
				// nothing kept: trim the separator too
				if len(out) > mark && out[len(out)-1] == ',' {
					out = out[:len(out)-1]
				}
			}
		}
		out = append(out, ']')
	}
	return append(out, '}')
}

// appendItem writes one item ({"op":{...}}), or nothing when the filter
// keeps none of it.
func appendItem(out []byte, it *bulkItem, f itemFilter) []byte {
	start := len(out)
	out = append(out, '{', '"')
	out = append(out, it.op...)
	out = append(out, `":{`...)
	body := len(out)
	field := func(name string) {
		if len(out) > body {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, name...)
		out = append(out, '"', ':')
	}
	index := it.concrete
	if index == "" {
		index = it.index
	}
	if f.index {
		field("_index")
		out = appendJSONString(out, index)
	}
	if f.id && it.id != "" {
		field("_id")
		out = appendJSONString(out, it.id)
	}
	if e := it.err; e != nil {
		if f.status {
			field("status")
			out = appendInt(out, int64(e.status))
		}
		if f.err {
			field("error")
			out = append(out, '{')
			eb := len(out)
			efield := func(name string) {
				if len(out) > eb {
					out = append(out, ',')
				}
				out = append(out, '"')
				out = append(out, name...)
				out = append(out, '"', ':')
			}
			if f.errType {
				efield("type")
				out = appendJSONString(out, e.typ)
			}
			if f.errReason {
				efield("reason")
				out = appendJSONString(out, e.reason)
			}
			withIndex := e.typ == "version_conflict_engine_exception" || e.typ == "document_parsing_exception" ||
				e.typ == "invalid_index_name_exception" || e.typ == "strict_dynamic_mapping_exception"
			if withIndex {
				uuid := it.indexUUID
				if uuid == "" {
					uuid = "_na_"
				}
				if f.errUUID {
					efield("index_uuid")
					out = appendJSONString(out, uuid)
				}
				if f.errShard && e.typ == "version_conflict_engine_exception" {
					efield("shard")
					out = append(out, `"0"`...)
				}
				if f.errIndex {
					efield("index")
					out = appendJSONString(out, index)
				}
			}
			if f.errCaused && e.causedType != "" {
				efield("caused_by")
				out = append(out, `{"type":`...)
				out = appendJSONString(out, e.causedType)
				out = append(out, `,"reason":`...)
				out = appendJSONString(out, e.causedReason)
				out = append(out, '}')
			}
			if len(out) == eb {
				// empty error object: drop it with its key
				out = out[:eb-len(`"error":{`)]
				if len(out) > body && out[len(out)-1] == ',' {
					out = out[:len(out)-1]
				}
			} else {
				out = append(out, '}')
			}
		}
	} else {
		if f.version {
			field("_version")
			out = appendInt(out, it.version)
		}
		if f.result {
			field("result")
			out = appendJSONString(out, it.result)
		}
		if f.shards {
			field("_shards")
			if it.result == "noop" {
				out = append(out, `{"total":0,"successful":0,"failed":0}`...)
			} else {
				out = append(out, `{"total":2,"successful":1,"failed":0}`...)
			}
		}
		if it.result != "noop" {
			if f.seqNo {
				field("_seq_no")
				out = appendInt(out, it.seqNo)
			}
			if f.primaryTerm {
				field("_primary_term")
				out = append(out, '1')
			}
		}
		if f.status {
			field("status")
			out = appendInt(out, int64(it.status))
		}
	}
	if len(out) == body {
		return out[:start]
	}
	return append(out, '}', '}')
}
