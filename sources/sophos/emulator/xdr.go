package emulator

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Detections and Cases APIs (reference/sophos-xdr-api.md).

const (
	detectionsMaxPageSize = 2000
	casesDefaultPageSize  = 50
)

// xdrAllowed answers 403 for a tenant without the XDR/MDR licence.
func (s *Server) xdrAllowed(w http.ResponseWriter, c *call) bool {
	if s.kindOf(c.t.idx) == KindUnlicensed {
		s.writeError(w, http.StatusForbidden, "Tenant "+c.t.id+" is not licensed for XDR or MDR (or the credential's role may not read detections)")
		return false
	}
	return true
}

// runView is the run object of the detections query.
type runView struct {
	ID         string `json:"id"`
	CreatedAt  string `json:"createdAt"`
	Result     string `json:"result"`
	Status     string `json:"status"`
	FinishedAt string `json:"finishedAt,omitempty"`
	ExpiresAt  string `json:"expiresAt"`
}

func (s *Server) runView(q *queryRun) runView {
	v := runView{ID: q.id, CreatedAt: isoMs(q.createdMs), Result: "notAvailable", Status: "pending",
		ExpiresAt: isoMs(q.createdMs + s.opts.XDR.Quirks.RunTTL.Milliseconds())}
	if q.finished {
		v.Status, v.FinishedAt, v.Result = "finished", isoMs(q.finishMs), "succeeded"
		if q.fail {
			v.Result = "failed"
		}
	}
	return v
}

// handleDetectionQuery: POST /detections/v1/queries/detections {from, to}.
func (s *Server) handleDetectionQuery(w http.ResponseWriter, r *http.Request, c *call) {
	if !s.xdrAllowed(w, c) {
		return
	}
	var body struct {
		From string `json:"from"`
		To   string `json:"to"`
	}
	if !s.readJSON(w, r, &body, false) {
		return
	}
	now := s.nowMs()
	from, ok1 := parseISO(body.From)
	to, ok2 := parseISO(body.To)
	if body.To == "" {
		to, ok2 = now, true
	}
	if !ok1 || !ok2 || to <= from {
		s.writeError(w, http.StatusBadRequest, "from and to must be ISO 8601 times with from before to")
		return
	}
	x := c.t.xdr()
	x.mu.Lock()
	x.runs++
	n := x.runs
	q := &queryRun{tenant: c.t.id, createdMs: now, fromMs: from, toMs: to,
		polls: s.opts.XDR.Quirks.PendingPolls, fail: n <= s.opts.XDR.Quirks.FailRuns}
	q.results = c.t.visibleDetections(from, to, now)
	x.mu.Unlock()
	h, l := uuidOf(hash4(c.t.key, 0x2A4, uint64(n), uint64(now)))
	q.id = uuidString(h, l)
	if q.polls == 0 {
		q.finished, q.finishMs = true, now
	}
	s.mu.Lock()
	if s.runs == nil {
		s.runs = map[string]*queryRun{}
	}
	s.runs[q.id] = q
	s.mu.Unlock()
	s.writeJSON(w, http.StatusCreated, s.runView(q))
}

// run finds a live run of the caller's tenant; it answers 404 itself.
func (s *Server) run(w http.ResponseWriter, r *http.Request, c *call) *queryRun {
	id := r.PathValue("runId")
	s.mu.Lock()
	q := s.runs[id]
	s.mu.Unlock()
	if q == nil || q.tenant != c.t.id {
		s.writeError(w, http.StatusNotFound, "No detections query run "+id)
		return nil
	}
	if s.nowMs() >= q.createdMs+s.opts.XDR.Quirks.RunTTL.Milliseconds() {
		s.writeError(w, http.StatusNotFound, "The detections query run "+id+" has expired")
		return nil
	}
	return q
}

// handleDetectionRun: GET …/queries/detections/{runId}.
func (s *Server) handleDetectionRun(w http.ResponseWriter, r *http.Request, c *call) {
	if !s.xdrAllowed(w, c) {
		return
	}
	q := s.run(w, r, c)
	if q == nil {
		return
	}
	s.mu.Lock()
	if !q.finished {
		if q.polls--; q.polls <= 0 {
			q.finished, q.finishMs = true, s.nowMs()
		}
	}
	v := s.runView(q)
	s.mu.Unlock()
	s.writeJSON(w, http.StatusOK, v)
}

// handleDetectionResults: GET …/queries/detections/{runId}/results?pageSize&page.
func (s *Server) handleDetectionResults(w http.ResponseWriter, r *http.Request, c *call) {
	if !s.xdrAllowed(w, c) {
		return
	}
	q := s.run(w, r, c)
	if q == nil {
		return
	}
	s.mu.Lock()
	finished, failed := q.finished, q.fail
	s.mu.Unlock()
	if !finished {
		s.writeError(w, http.StatusBadRequest, "The detections query run is not finished: poll it until result is no longer notAvailable")
		return
	}
	if failed {
		s.writeError(w, http.StatusBadRequest, "The detections query run failed: issue the query again")
		return
	}
	size, page := 100, 1
	qs := r.URL.Query()
	if v := qs.Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > detectionsMaxPageSize {
			s.writeError(w, http.StatusBadRequest, "pageSize must be 1 to "+strconv.Itoa(detectionsMaxPageSize))
			return
		}
		size = n
	}
	if v := qs.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.writeError(w, http.StatusBadRequest, "page must be a positive integer")
			return
		}
		page = n
	}
	x := c.t.xdr()
	x.mu.Lock()
	total := (len(q.results) + size - 1) / size
	var items []*detection
	for i := (page - 1) * size; i < len(q.results) && i < page*size; i++ {
		items = append(items, x.detections[q.results[i]])
	}
	b, err := json.Marshal(struct {
		Pages struct {
			Current int `json:"current"`
			Size    int `json:"size"`
			Total   int `json:"total"`
			MaxSize int `json:"maxSize"`
			Items   int `json:"items"`
		} `json:"pages"`
		Items []*detection `json:"items"`
	}{Pages: struct {
		Current int `json:"current"`
		Size    int `json:"size"`
		Total   int `json:"total"`
		MaxSize int `json:"maxSize"`
		Items   int `json:"items"`
	}{page, size, total, detectionsMaxPageSize, len(q.results)}, Items: nonNil(items)})
	x.mu.Unlock()
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, "Internal Server Error.")
		return
	}
	s.writeBody(w, http.StatusOK, b)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// handleDetectionCounts: GET …/queries/detections/counts?from&to&resolution=hour:
// detections per hour bucket of sensorGeneratedAt (visible now).
func (s *Server) handleDetectionCounts(w http.ResponseWriter, r *http.Request, c *call) {
	if !s.xdrAllowed(w, c) {
		return
	}
	qs := r.URL.Query()
	now := s.nowMs()
	from, to := now-dayMs, now
	if v := qs.Get("from"); v != "" {
		if ms, ok := parseISO(v); ok {
			from = ms
		}
	}
	if v := qs.Get("to"); v != "" {
		if ms, ok := parseISO(v); ok {
			to = ms
		}
	}
	if res := qs.Get("resolution"); res != "" && res != "hour" {
		s.writeError(w, http.StatusBadRequest, "resolution must be hour")
		return
	}
	type bucket struct {
		Time  string `json:"time"`
		Count int    `json:"count"`
	}
	hour := int64(time.Hour / time.Millisecond)
	counts := map[int64]int{}
	x := c.t.xdr()
	x.mu.Lock()
	for _, i := range c.t.visibleDetections(from, to, now) {
		counts[x.detections[i].genMs/hour*hour]++
	}
	x.mu.Unlock()
	out := []bucket{}
	for h := from / hour * hour; h < to; h += hour {
		out = append(out, bucket{isoMs(h), counts[h]})
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"items": out})
}

// caseKey is the opaque pageFromKey of the cases list: the offset.
func caseKey(off int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("cases:" + strconv.Itoa(off)))
}

func parseCaseKey(k string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(k)
	if err != nil || !strings.HasPrefix(string(b), "cases:") {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), "cases:"))
	return n, err == nil && n >= 0
}

// parseCreatedAfter accepts an ISO 8601 time or a negative duration like -P30D / -PT12H.
func parseCreatedAfter(v string, nowMs int64) (int64, bool) {
	if ms, ok := parseISO(v); ok {
		return ms, true
	}
	if !strings.HasPrefix(v, "-P") {
		return 0, false
	}
	rest := v[2:]
	var total int64
	inTime := false
	num := ""
	for _, ch := range rest {
		switch {
		case ch == 'T':
			inTime = true
		case ch >= '0' && ch <= '9':
			num += string(ch)
		default:
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil {
				return 0, false
			}
			num = ""
			switch {
			case ch == 'D' && !inTime:
				total += n * dayMs
			case ch == 'W' && !inTime:
				total += n * 7 * dayMs
			case ch == 'H' && inTime:
				total += n * 3600_000
			case ch == 'M' && inTime:
				total += n * 60_000
			case ch == 'S' && inTime:
				total += n * 1000
			default:
				return 0, false
			}
		}
	}
	if num != "" {
		return 0, false
	}
	return nowMs - total, true
}

// handleCases: GET /cases/v1/cases. Only status, severity and createdAfter
// filter; the rest is ignored (quirk); page= is ignored (quirk); pageSize
// above the cap is a 400; paging by pageFromKey.
func (s *Server) handleCases(w http.ResponseWriter, r *http.Request, c *call) {
	if !s.xdrAllowed(w, c) {
		return
	}
	qs := r.URL.Query()
	now := s.nowMs()
	quirks := s.opts.XDR.Quirks
	size := casesDefaultPageSize
	if v := qs.Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.writeError(w, http.StatusBadRequest, "pageSize must be a positive integer")
			return
		}
		if quirks.PageSizeCap > 0 && n > quirks.PageSizeCap {
			s.writeError(w, http.StatusBadRequest, "Invalid pageSize")
			return
		}
		size = n
	}
	createdAfter := int64(0)
	if v := qs.Get("createdAfter"); v != "" {
		ms, ok := parseCreatedAfter(v, now)
		if !ok {
			s.writeError(w, http.StatusBadRequest, "createdAfter must be an ISO 8601 time or duration (e.g. -P30D)")
			return
		}
		createdAfter = ms
	}
	updatedAfter := int64(0)
	if v := qs.Get("updatedAfter"); v != "" && quirks.StrictFilters {
		if ms, ok := parseISO(v); ok {
			updatedAfter = ms
		}
	}
	statuses := map[string]bool{}
	for _, v := range qs["status"] {
		for _, x := range csv(v) {
			statuses[x] = true
		}
	}
	sevs := map[string]bool{}
	for _, v := range qs["severity"] {
		for _, x := range csv(v) {
			sevs[x] = true
		}
	}
	off := 0
	if k := qs.Get("pageFromKey"); k != "" {
		n, ok := parseCaseKey(k)
		if !ok {
			s.writeError(w, http.StatusBadRequest, "Invalid pageFromKey")
			return
		}
		off = n
	} else if v := qs.Get("page"); v != "" && quirks.PageParamHonoured {
		if n, err := strconv.Atoi(v); err == nil && n > 1 {
			off = (n - 1) * size
		}
	}
	x := c.t.xdr()
	x.mu.Lock()
	c.t.tick(now)
	var match []*sophosCase
	// Newest first, as the console lists them.
	for i := len(x.cases) - 1; i >= 0; i-- {
		cs := x.cases[i]
		if cs.createdMs > now || cs.createdMs < createdAfter || cs.updatedMs < updatedAfter {
			continue
		}
		if len(statuses) > 0 && !statuses[cs.Status] {
			continue
		}
		if len(sevs) > 0 && !sevs[cs.Severity] {
			continue
		}
		match = append(match, cs)
	}
	page := []*sophosCase{}
	for i := off; i < len(match) && i < off+size; i++ {
		page = append(page, match[i])
	}
	type pagesView struct {
		Current int    `json:"current"`
		Size    int    `json:"size"`
		Total   int    `json:"total"`
		Items   int    `json:"items"`
		NextKey string `json:"nextKey,omitempty"`
	}
	pv := pagesView{Current: off/size + 1, Size: size, Total: (len(match) + size - 1) / size, Items: len(match)}
	if off+size < len(match) {
		pv.NextKey = caseKey(off + size)
	}
	b, err := json.Marshal(struct {
		Items []*sophosCase `json:"items"`
		Pages pagesView     `json:"pages"`
	}{page, pv})
	x.mu.Unlock()
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, "Internal Server Error.")
		return
	}
	s.writeBody(w, http.StatusOK, b)
}

// handleCaseDetections: GET /cases/v1/cases/{caseId}/detections.
func (s *Server) handleCaseDetections(w http.ResponseWriter, r *http.Request, c *call) {
	if !s.xdrAllowed(w, c) {
		return
	}
	id := r.PathValue("caseId")
	x := c.t.xdr()
	x.mu.Lock()
	var cs *sophosCase
	for _, k := range x.cases {
		if k.ID == id {
			cs = k
		}
	}
	if cs == nil {
		x.mu.Unlock()
		s.writeError(w, http.StatusNotFound, "No case "+id)
		return
	}
	items := []*detection{}
	for _, i := range cs.detections {
		items = append(items, x.detections[i])
	}
	b, err := json.Marshal(map[string]any{"items": items,
		"pages": map[string]int{"current": 1, "size": len(items), "total": 1, "items": len(items)}})
	x.mu.Unlock()
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, "Internal Server Error.")
		return
	}
	s.writeBody(w, http.StatusOK, b)
}

// --- test and demo controls -------------------------------------------------

// AddDetections adds n detections generated now to a tenant.
func (s *Server) AddDetections(tenantID string, n int) []string {
	return s.addDetections(tenantID, n, 0)
}

// AddLateDetection adds a detection generated back before now that becomes
// visible only now: inside a window a client may already have read.
func (s *Server) AddLateDetection(tenantID string, back time.Duration) string {
	ids := s.addDetections(tenantID, 1, back)
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

func (s *Server) addDetections(tenantID string, n int, back time.Duration) []string {
	t := s.tenant(tenantID)
	if t == nil {
		return nil
	}
	x := t.xdr()
	x.mu.Lock()
	defer x.mu.Unlock()
	now := s.nowMs()
	r := newRnd(hash4(t.key, 0xADD, uint64(len(x.detections)), uint64(now)))
	var ids []string
	for range n {
		d := t.newDetection(&r, now-back.Milliseconds(), now)
		x.detections = append(x.detections, d)
		ids = append(ids, d.ID)
	}
	return ids
}

// ChangeCaseStatus moves n cases of a tenant (the oldest first, round
// robin) to their next status now and returns their ids.
func (s *Server) ChangeCaseStatus(tenantID string, n int) []string {
	t := s.tenant(tenantID)
	if t == nil {
		return nil
	}
	x := t.xdr()
	x.mu.Lock()
	defer x.mu.Unlock()
	var ids []string
	now := s.nowMs()
	for i := 0; i < n && len(x.cases) > 0; i++ {
		c := x.cases[int(x.changes+int64(i))%len(x.cases)]
		c.changeStatus(now)
		ids = append(ids, c.ID)
	}
	x.changes += int64(n) // keeps the automatic changes' order apart
	return ids
}

// AddCases raises n new cases for a tenant now.
func (s *Server) AddCases(tenantID string, n int) []string {
	t := s.tenant(tenantID)
	if t == nil {
		return nil
	}
	x := t.xdr()
	x.mu.Lock()
	defer x.mu.Unlock()
	r := newRnd(hash4(t.key, 0xCA5E, uint64(len(x.cases)), 0))
	var ids []string
	for range n {
		c := t.newCase(&r, s.nowMs())
		x.cases = append(x.cases, c)
		ids = append(ids, c.ID)
	}
	return ids
}

// DetectionIDs lists a tenant's detections visible now (nil for an
// unlicensed tenant).
func (s *Server) DetectionIDs(tenantID string) []string {
	t := s.tenant(tenantID)
	if t == nil || s.kindOf(t.idx) == KindUnlicensed {
		return nil
	}
	x := t.xdr()
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []string
	now := s.nowMs()
	for _, d := range x.detections {
		if d.visibleMs <= now {
			out = append(out, d.ID)
		}
	}
	return out
}

// CaseVersions lists a tenant's cases now as "id@updatedAt" (nil for an
// unlicensed tenant).
func (s *Server) CaseVersions(tenantID string) []string {
	t := s.tenant(tenantID)
	if t == nil || s.kindOf(t.idx) == KindUnlicensed {
		return nil
	}
	x := t.xdr()
	x.mu.Lock()
	defer x.mu.Unlock()
	t.tick(s.nowMs())
	var out []string
	for _, c := range x.cases {
		if c.createdMs <= s.nowMs() {
			out = append(out, c.ID+"@"+c.UpdatedAt)
		}
	}
	return out
}

// TenantKind is a tenant's XDR kind (xdr, mdr or unlicensed).
func (s *Server) TenantKind(tenantID string) string {
	t := s.tenant(tenantID)
	if t == nil {
		return ""
	}
	return s.kindOf(t.idx)
}
