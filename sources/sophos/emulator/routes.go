package emulator

import (
	"net/http"
	"strings"
	"time"
)

// call is what the middleware hands a handler.
type call struct {
	tok *token
	t   *tenant
}

type access int

const (
	open   access = iota // token endpoint: no bearer, no faults
	global               // global host: bearer, faults
	data                 // data host: bearer, X-Tenant-ID, region, faults
)

const regionPrefix = "/region/{region}"

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	add := func(pattern string, a access, h func(http.ResponseWriter, *http.Request, *call)) {
		method, path, _ := strings.Cut(pattern, " ")
		route := method + " " + path
		if a == data {
			pattern = method + " " + regionPrefix + path
		}
		mux.Handle(pattern, s.wrap(route, a, h))
	}
	add("POST /api/v2/oauth2/token", open, func(w http.ResponseWriter, r *http.Request, _ *call) { s.handleToken(w, r) })
	add("GET /whoami/v1", global, s.handleWhoami)
	add("GET /partner/v1/tenants", global, s.handleTenants)
	add("GET /partner/v1/tenants/{id}", global, s.handleTenant)
	add("GET /organization/v1/tenants", global, s.handleTenants)
	add("GET /organization/v1/tenants/{id}", global, s.handleTenant)

	add("GET /siem/v1/events", data, s.handleSIEM(sEvents))
	add("GET /siem/v1/alerts", data, s.handleSIEM(sAlerts))

	add("GET /common/v1/alerts", data, s.handleCommonList)
	add("POST /common/v1/alerts/search", data, s.handleCommonSearch)
	add("GET /common/v1/alerts/{id}", data, s.handleCommonGet)
	add("POST /common/v1/alerts/{id}/actions", data, s.handleCommonAction)

	add("GET /endpoint/v1/endpoints", data, s.handleEndpointList)
	add("GET /endpoint/v1/endpoints/{id}", data, s.handleEndpointGet)
	add("POST /endpoint/v1/endpoints/isolation", data, s.handleIsolationBulk)
	add("GET /endpoint/v1/endpoints/{id}/isolation", data, s.handleIsolationGet)
	add("PATCH /endpoint/v1/endpoints/{id}/isolation", data, s.handleIsolationPatch)
	add("GET /endpoint/v1/endpoints/{id}/tamper-protection", data, s.handleTamperGet)
	add("POST /endpoint/v1/endpoints/{id}/tamper-protection", data, s.handleTamperPost)
	add("GET /endpoint/v1/settings/tamper-protection", data, s.handleTamperGlobal)
	add("POST /endpoint/v1/endpoints/{id}/scans", data, s.handleTask("scan"))
	add("POST /endpoint/v1/endpoints/{id}/update-checks", data, s.handleTask("update-check"))

	add("GET /account-health-check/v1/health-check", data, s.handleHealthCheck)

	add("POST /detections/v1/queries/detections", data, s.handleDetectionQuery)
	add("GET /detections/v1/queries/detections/counts", data, s.handleDetectionCounts)
	add("GET /detections/v1/queries/detections/{runId}", data, s.handleDetectionRun)
	add("GET /detections/v1/queries/detections/{runId}/results", data, s.handleDetectionResults)
	add("GET /cases/v1/cases", data, s.handleCases)
	add("GET /cases/v1/cases/{caseId}/detections", data, s.handleCaseDetections)

	mux.Handle("/", s.wrap("unknown", open, func(w http.ResponseWriter, r *http.Request, _ *call) {
		msg := "No such route: " + r.Method + " " + r.URL.Path
		if !strings.HasPrefix(r.URL.Path, "/region/") && isDataPath(r.URL.Path) {
			msg += " (data APIs live under the tenant's apiHost / whoami dataRegion, e.g. " + s.url + "/region/" + regions[0].id + ")"
		}
		s.writeError(w, http.StatusNotFound, msg)
	}))
	return mux
}

func isDataPath(p string) bool {
	for _, pre := range []string{"/siem/", "/common/", "/endpoint/", "/account-health-check/", "/detections/", "/cases/"} {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

// wrap counts the request, logs it, injects faults and enforces the bearer
// token, X-Tenant-ID and the tenant's region.
func (s *Server) wrap(route string, a access, h func(http.ResponseWriter, *http.Request, *call)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// The Date header tells the emulator's clock (AdvanceClock), as a
		// real API's tells its own, not the host's.
		w.Header().Set("Date", s.now().UTC().Format(http.TimeFormat))
		rec := &recorder{ResponseWriter: w}
		// Counted, and the concurrency slot freed, as the answer starts:
		// a client that acts on the answer sees the counters include it,
		// and its next request is not refused because this handler has
		// not returned yet.
		var slot func()
		rec.onAnswer = func() {
			s.count(route, rec.status)
			if slot != nil {
				slot()
			}
		}
		defer func() {
			if rec.status == 0 {
				rec.status = 200
			}
			rec.answer()
			s.opts.Log.Debug("emulator request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", time.Since(start))
		}()
		var c call
		if a != open {
			if s.lim != nil {
				if !s.lim.admit(s, rec) {
					return
				}
				slot = s.lim.done
			}
			if s.injectFault(rec, r) {
				return
			}
			tok, ok := s.authorize(rec, r)
			if !ok {
				return
			}
			c.tok = tok
		}
		if a == data {
			id := r.Header.Get("X-Tenant-ID")
			if id == "" {
				s.writeError(rec, http.StatusUnauthorized, "Missing X-Tenant-ID header")
				return
			}
			t := s.tenant(strings.TrimSpace(id))
			if t == nil {
				s.writeError(rec, http.StatusForbidden, "The credentials do not cover tenant "+id)
				return
			}
			if st := s.denied(t.id); st != 0 {
				s.writeError(rec, st, "Access to tenant "+t.id+" is denied")
				return
			}
			if t.region.id != r.PathValue("region") {
				s.writeError(rec, http.StatusForbidden, "Tenant "+t.id+" is not served by this data region; use the tenant's apiHost")
				return
			}
			c.t = t
			t.advance(s.nowMs())
		}
		h(rec, r, &c)
	})
}

// --- whoami and tenants ---------------------------------------------------------

func (s *Server) handleWhoami(w http.ResponseWriter, _ *http.Request, _ *call) {
	b := make([]byte, 0, 256)
	b = append(b, `{"id":"`...)
	b = append(b, s.ownerID...)
	b = append(b, `","idType":"`...)
	b = append(b, s.idType...)
	b = append(b, `","apiHosts":{"global":"`...)
	b = append(b, s.url...)
	b = append(b, '"')
	if s.idType == "tenant" {
		b = append(b, `,"dataRegion":"`...)
		b = append(b, s.apiHost(0)...)
		b = append(b, '"')
	}
	b = append(b, `}}`...)
	s.writeBody(w, 200, b)
}

// scope checks the partner/organization path against the credentials and
// the X-Partner-ID / X-Organization-ID header.
func (s *Server) scope(w http.ResponseWriter, r *http.Request) bool {
	kind, header := "partner", "X-Partner-ID"
	if strings.HasPrefix(r.URL.Path, "/organization/") {
		kind, header = "organization", "X-Organization-ID"
	}
	v := strings.TrimSpace(r.Header.Get(header))
	if v == "" {
		s.writeError(w, http.StatusUnauthorized, "Missing "+header+" header")
		return false
	}
	if s.idType != kind || !strings.EqualFold(v, s.ownerID) {
		s.writeError(w, http.StatusForbidden, "The credentials do not cover "+kind+" "+v)
		return false
	}
	return true
}

func (s *Server) appendTenant(b []byte, t *tenant) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, t.id...)
	b = append(b, `","name":`...)
	b = appendString(b, t.name)
	b = append(b, `,"showAs":`...)
	b = appendString(b, t.showAs)
	b = append(b, `,"dataGeography":"`...)
	b = append(b, t.region.geography...)
	b = append(b, `","dataRegion":"`...)
	b = append(b, t.region.id...)
	b = append(b, `","billingType":"`...)
	b = append(b, t.billing...)
	b = append(b, '"')
	if s.idType == "partner" {
		b = append(b, `,"partner":{"id":"`...)
		b = append(b, s.ownerID...)
		b = append(b, `"}`...)
	} else {
		b = append(b, `,"organization":{"id":"`...)
		b = append(b, s.ownerID...)
		b = append(b, `"}`...)
	}
	b = append(b, `,"apiHost":"`...)
	b = append(b, s.apiHost(t.idx)...)
	b = append(b, `","status":"active"}`...)
	return b
}

const tenantsMaxSize = 100

func (s *Server) handleTenants(w http.ResponseWriter, r *http.Request, _ *call) {
	if !s.scope(w, r) {
		return
	}
	q := r.URL.Query()
	page, ok := intParam(q.Get("page"), 1)
	if !ok || page < 1 {
		s.writeError(w, 400, "page must be an integer >= 1")
		return
	}
	size, ok := intParam(q.Get("pageSize"), 50)
	if !ok || size < 1 || size > tenantsMaxSize {
		s.writeError(w, 400, "pageSize must be an integer between 1 and 100")
		return
	}
	total := strings.EqualFold(q.Get("pageTotal"), "true")
	if s.opts.Faults.TenantsLoop {
		page, total = 1, false // the same page forever, and no total to stop at
	}
	tenants := s.listedTenants()
	b := make([]byte, 0, 512*size)
	b = append(b, `{"items":[`...)
	from := (page - 1) * size
	for i := from; i < from+size && i < len(tenants); i++ {
		if i > from {
			b = append(b, ',')
		}
		b = s.appendTenant(b, tenants[i])
	}
	b = append(b, `],"pages":{"current":`...)
	b = appendInt(b, int64(page))
	b = append(b, `,"size":`...)
	b = appendInt(b, int64(size))
	if total {
		b = append(b, `,"total":`...)
		b = appendInt(b, int64((len(tenants)+size-1)/size))
		b = append(b, `,"items":`...)
		b = appendInt(b, int64(len(tenants)))
	}
	b = append(b, `,"maxSize":100}}`...)
	s.writeBody(w, 200, b)
}

func (s *Server) handleTenant(w http.ResponseWriter, r *http.Request, _ *call) {
	if !s.scope(w, r) {
		return
	}
	t := s.tenant(r.PathValue("id"))
	if t == nil {
		s.writeError(w, http.StatusForbidden, "The credentials do not cover tenant "+r.PathValue("id"))
		return
	}
	s.writeBody(w, 200, s.appendTenant(nil, t))
}
