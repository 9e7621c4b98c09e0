package emulator

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Endpoint API (reference §6).

const (
	endpointDefaultSize = 50
	endpointMaxSize     = 500
)

// settle applies an isolation change whose delay has passed (caller holds t.mu).
func (e *endpoint) settle(now time.Time) {
	if !e.pendingUntil.IsZero() && !now.Before(e.pendingUntil) {
		e.isolated, e.adminIsolated = e.pendingTarget, e.pendingTarget
		e.pendingUntil = time.Time{}
	}
}

func (e *endpoint) inProgress(now time.Time) bool {
	return !e.pendingUntil.IsZero() && now.Before(e.pendingUntil)
}

func (t *tenant) endpointByID(id string) *endpoint {
	for _, e := range t.hosts {
		if strings.EqualFold(e.id, id) {
			return e
		}
	}
	return nil
}

func parseBool(v string) (bool, bool) {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	return b, err == nil
}

func (s *Server) handleEndpointList(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	t := c.t
	view := q.Get("view")
	if view == "" {
		view = "summary"
	}
	if view != "basic" && view != "summary" && view != "full" {
		s.writeError(w, 400, "view must be basic, summary or full")
		return
	}
	size, ok := intParam(q.Get("pageSize"), endpointDefaultSize)
	if !ok || size < 1 || size > endpointMaxSize {
		s.writeError(w, 400, "pageSize must be between 1 and 500")
		return
	}
	set := func(name string, allowed ...string) (map[string]bool, bool) {
		v := csv(q.Get(name))
		if len(v) == 0 {
			return nil, true
		}
		m := map[string]bool{}
		for _, x := range v {
			if len(allowed) > 0 && !contains(allowed, x) {
				s.writeError(w, 400, name+": unknown value "+strconv.Quote(x)+" (allowed: "+strings.Join(allowed, ", ")+")")
				return nil, false
			}
			m[strings.ToLower(x)] = true
		}
		return m, true
	}
	ids, ok1 := set("ids")
	health, ok2 := set("healthStatus", "bad", "good", "suspicious", "unknown")
	types, ok3 := set("type", "computer", "server", "securityVm")
	if !ok1 || !ok2 || !ok3 {
		return
	}
	iso := q.Get("isolationStatus")
	if iso != "" && iso != "isolated" && iso != "notIsolated" {
		s.writeError(w, 400, "isolationStatus must be isolated or notIsolated")
		return
	}
	boolFilter := func(name string) (*bool, bool) {
		v := q.Get(name)
		if v == "" {
			return nil, true
		}
		b, ok := parseBool(v)
		if !ok {
			s.writeError(w, 400, name+" must be true or false")
			return nil, false
		}
		return &b, true
	}
	online, ok4 := boolFilter("online")
	tamper, ok5 := boolFilter("tamperProtectionEnabled")
	if !ok4 || !ok5 {
		return
	}
	hostSub := strings.ToLower(q.Get("hostnameContains"))
	now := s.now()

	t.mu.Lock()
	var match []*endpoint
	for _, e := range t.hosts {
		e.settle(now)
		if ids != nil && !ids[e.id] || health != nil && !health[e.health] || types != nil && !types[strings.ToLower(e.kind)] ||
			iso == "isolated" && !e.isolated || iso == "notIsolated" && e.isolated ||
			online != nil && *online != e.online || tamper != nil && *tamper != e.tamperEnabled ||
			hostSub != "" && !strings.Contains(strings.ToLower(e.hostname), hostSub) {
			continue
		}
		match = append(match, e)
	}
	startAt := 0
	from := q.Get("pageFromKey")
	if from != "" {
		startAt = -1
		for i, e := range match {
			if e.id == from {
				startAt = i + 1
			}
		}
		if startAt < 0 {
			t.mu.Unlock()
			s.writeError(w, 400, "Invalid pageFromKey")
			return
		}
	}
	end := min(startAt+size, len(match))
	fields := csv(q.Get("fields"))
	items := make([]json.RawMessage, 0, end-startAt)
	for _, e := range match[startAt:end] {
		items = append(items, project(e.view(t.id, view), fields))
	}
	t.mu.Unlock()
	pages := obj{}
	if from != "" {
		pages = append(pages, kv{"fromKey", from})
	}
	if end < len(match) {
		pages = append(pages, kv{"nextKey", match[end-1].id})
	}
	pages = append(pages, kv{"size", size})
	if strings.EqualFold(q.Get("pageTotal"), "true") {
		pages = append(pages, kv{"total", (len(match) + size - 1) / size}, kv{"items", len(match)})
	}
	pages = append(pages, kv{"maxSize", endpointMaxSize})
	s.writeJSON(w, 200, obj{{"items", items}, {"pages", pages}})
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// project keeps only the requested top-level fields (plus id).
func project(v endpointJSON, fields []string) json.RawMessage {
	b, _ := json.Marshal(v)
	if len(fields) == 0 {
		return b
	}
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	o := obj{{"id", v.ID}}
	for _, f := range fields {
		if x, ok := m[f]; ok && f != "id" {
			o = append(o, kv{f, x})
		}
	}
	out, _ := json.Marshal(o)
	return out
}

func (s *Server) handleEndpointGet(w http.ResponseWriter, r *http.Request, c *call) {
	t := c.t
	view := r.URL.Query().Get("view")
	if view == "" {
		view = "full"
	}
	if view != "basic" && view != "summary" && view != "full" {
		s.writeError(w, 400, "view must be basic, summary or full")
		return
	}
	t.mu.Lock()
	e := t.endpointByID(r.PathValue("id"))
	var body json.RawMessage
	if e != nil {
		e.settle(s.now())
		body = project(e.view(t.id, view), csv(r.URL.Query().Get("fields")))
	}
	t.mu.Unlock()
	if e == nil {
		s.writeError(w, http.StatusNotFound, "Endpoint not found")
		return
	}
	s.writeBody(w, 200, body)
}

// --- isolation -----------------------------------------------------------------

// toggle starts an isolation change (caller holds t.mu and checked progress).
func (s *Server) toggle(t *tenant, e *endpoint, enabled bool, comment string, now time.Time) {
	if e.iso.Enabled == enabled && e.pendingUntil.IsZero() && e.isolated == enabled {
		if comment != "" {
			e.iso.Comment = comment
		}
		return // nothing to change
	}
	e.iso.Enabled = enabled
	if enabled {
		e.iso.LastEnabledAt, e.iso.LastEnabledBy = isoString(now.UnixMilli()), t.admin()
	} else {
		e.iso.LastDisabledAt, e.iso.LastDisabledBy = isoString(now.UnixMilli()), t.admin()
	}
	e.iso.Comment = comment
	e.pendingTarget = enabled
	e.pendingUntil = now.Add(s.opts.IsolationDelay)
	e.settle(now) // a zero delay applies at once
}

func (s *Server) handleIsolationBulk(w http.ResponseWriter, r *http.Request, c *call) {
	t := c.t
	var body struct {
		Enabled *bool    `json:"enabled"`
		Comment string   `json:"comment"`
		IDs     []string `json:"ids"`
	}
	if !s.readJSON(w, r, &body, false) {
		return
	}
	if body.Enabled == nil || len(body.IDs) == 0 || len(body.IDs) > 1000 {
		s.writeError(w, 400, "enabled and ids (1 to 1000 endpoint ids) are required")
		return
	}
	now := s.now()
	t.mu.Lock()
	var found []*endpoint
	for _, id := range body.IDs {
		if e := t.endpointByID(id); e != nil {
			found = append(found, e)
		}
	}
	if len(found) == 0 {
		t.mu.Unlock()
		s.writeError(w, http.StatusNotFound, "No endpoints found")
		return
	}
	for _, e := range found {
		e.settle(now)
		if e.inProgress(now) {
			t.mu.Unlock()
			s.writeError(w, http.StatusConflict, "Isolation or removal from isolation in progress")
			return
		}
	}
	items := make([]obj, 0, len(found))
	for _, e := range found {
		s.toggle(t, e, *body.Enabled, body.Comment, now)
		items = append(items, obj{{"id", e.id}, {"isolation", e.iso}})
	}
	t.mu.Unlock()
	s.writeJSON(w, http.StatusAccepted, obj{{"items", items}})
}

func (s *Server) handleIsolationGet(w http.ResponseWriter, r *http.Request, c *call) {
	t := c.t
	t.mu.Lock()
	e := t.endpointByID(r.PathValue("id"))
	var iso isolationSettings
	if e != nil {
		e.settle(s.now())
		iso = e.iso
	}
	t.mu.Unlock()
	if e == nil {
		s.writeError(w, http.StatusNotFound, "Endpoint not found")
		return
	}
	s.writeJSON(w, 200, iso)
}

func (s *Server) handleIsolationPatch(w http.ResponseWriter, r *http.Request, c *call) {
	t := c.t
	var body struct {
		Enabled *bool  `json:"enabled"`
		Comment string `json:"comment"`
	}
	if !s.readJSON(w, r, &body, false) {
		return
	}
	if body.Enabled == nil {
		s.writeError(w, 400, "enabled is required")
		return
	}
	now := s.now()
	t.mu.Lock()
	e := t.endpointByID(r.PathValue("id"))
	if e == nil {
		t.mu.Unlock()
		s.writeError(w, http.StatusNotFound, "Endpoint not found")
		return
	}
	e.settle(now)
	if e.inProgress(now) {
		t.mu.Unlock()
		s.writeError(w, http.StatusConflict, "Isolation or removal from isolation in progress")
		return
	}
	s.toggle(t, e, *body.Enabled, body.Comment, now)
	iso := e.iso
	t.mu.Unlock()
	s.writeJSON(w, 200, iso)
}

// --- tamper protection ------------------------------------------------------------

func tamperBody(e *endpoint) obj {
	prev := e.prevPasswords
	if prev == nil {
		prev = []previousPassword{}
	}
	return obj{{"enabled", e.tamperEnabled}, {"password", e.tamperPassword}, {"previousPasswords", prev}}
}

func (s *Server) handleTamperGet(w http.ResponseWriter, r *http.Request, c *call) {
	t := c.t
	t.mu.RLock()
	e := t.endpointByID(r.PathValue("id"))
	var body obj
	if e != nil {
		body = tamperBody(e)
	}
	t.mu.RUnlock()
	if e == nil {
		s.writeError(w, http.StatusNotFound, "Endpoint not found")
		return
	}
	s.writeJSON(w, 200, body)
}

func (s *Server) handleTamperPost(w http.ResponseWriter, r *http.Request, c *call) {
	t := c.t
	var body struct {
		Enabled            *bool `json:"enabled"`
		RegeneratePassword *bool `json:"regeneratePassword"`
	}
	if !s.readJSON(w, r, &body, false) {
		return
	}
	if body.Enabled == nil && body.RegeneratePassword == nil {
		s.writeError(w, 400, "enabled or regeneratePassword is required")
		return
	}
	t.mu.Lock()
	e := t.endpointByID(r.PathValue("id"))
	if e == nil {
		t.mu.Unlock()
		s.writeError(w, http.StatusNotFound, "Endpoint not found")
		return
	}
	if body.Enabled != nil && *body.Enabled && !t.globalTamper {
		t.mu.Unlock()
		s.writeError(w, http.StatusBadRequest, "Tamper protection cannot be enabled on an endpoint while it is turned off globally")
		return
	}
	if body.Enabled != nil {
		e.tamperEnabled = *body.Enabled
	}
	if body.RegeneratePassword != nil && *body.RegeneratePassword {
		e.prevPasswords = append(e.prevPasswords, previousPassword{e.tamperPassword, isoString(s.nowMs())})
		e.tamperPassword = string(appendHexKey(nil, hash4(t.key, 0x7A3, e.hi, uint64(len(e.prevPasswords))), 16))
	}
	out := tamperBody(e)
	t.mu.Unlock()
	s.writeJSON(w, http.StatusCreated, out)
}

func (s *Server) handleTamperGlobal(w http.ResponseWriter, _ *http.Request, c *call) {
	c.t.mu.RLock()
	on := c.t.globalTamper
	c.t.mu.RUnlock()
	s.writeJSON(w, 200, obj{{"enabled", on}})
}

// handleTask serves POST …/{id}/scans and …/{id}/update-checks: 201.
func (s *Server) handleTask(kind string) func(http.ResponseWriter, *http.Request, *call) {
	return func(w http.ResponseWriter, r *http.Request, c *call) {
		var body map[string]any
		if !s.readJSON(w, r, &body, true) {
			return
		}
		if c.t.endpointByID(r.PathValue("id")) == nil {
			s.writeError(w, http.StatusNotFound, "Endpoint not found")
			return
		}
		_, id := s.reqIDs()
		s.writeJSON(w, http.StatusCreated, obj{{"id", id}, {"status", "requested"}, {"requestedAt", isoString(s.nowMs())}})
	}
}
