// Package emulator is a local Sophos Central: one listener plays the token
// host, the global host (whoami, partner/organization tenants) and the
// regional data hosts (SIEM, Common alerts, Endpoint, Account Health Check),
// with the shapes and rules of reference/sophos-central-api.md. Data is
// generated deterministically from a seed when served, so a backlog of
// millions of events costs no memory.
package emulator

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	opts    Options
	ln      net.Listener
	http    *http.Server
	url     string
	caPEM   []byte
	startMs int64

	tenants []*tenant
	byID    map[string]*tenant // lower-case id
	idType  string             // tenant | partner | organization
	ownerID string             // whoami id

	mu       sync.Mutex
	requests map[string]int
	tokens   map[string]*token
	refresh  map[string]bool
	issued   uint64
	reqSeq   uint64
	rng      rnd             // fault draws
	burst    int             // 503s left in the current burst
	deny     map[string]int  // tenant id -> status its data calls answer (DenyTenant)
	hidden   map[string]bool // tenant ids left out of the tenant listing (HideTenant)
	lim      *limiter
	closed   chan struct{}
	wg       sync.WaitGroup

	runs       map[string]*queryRun // detections query runs by id
	clockShift atomic.Int64         // AdvanceClock's total, in nanoseconds

	foreign     *http.Server // the foreign-host fault's listener
	foreignURL  string
	foreignReqs int // requests that reached it with a bearer token
}

// New starts an emulator listening on Options.Addr.
func New(opts Options) (*Server, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{
		opts:     opts,
		byID:     map[string]*tenant{},
		requests: map[string]int{},
		tokens:   map[string]*token{},
		refresh:  map[string]bool{},
		rng:      newRnd(hash4(uint64(opts.Seed), 0xFA17, 0, 0)),
		closed:   make(chan struct{}),
	}
	s.startMs = opts.Now().UnixMilli()
	if opts.Limits.Enabled() {
		s.lim = newLimiter(opts.Limits, hash4(uint64(opts.Seed), 0x11A7, 0, 0))
	}
	for i := range opts.Tenants {
		t := newTenant(s, i, s.startMs)
		s.tenants = append(s.tenants, t)
		s.byID[t.id] = t
		if n := opts.Faults.WithholdAlerts; n > 0 && opts.Faults.hits(t, i) {
			t.withhold(n, s.startMs)
		}
	}
	switch {
	case opts.Partner:
		s.idType = "partner"
		h, l := uuidOf(hash4(uint64(opts.Seed), 0x9A27, 0, 0))
		s.ownerID = uuidString(h, l)
	case opts.Organization:
		s.idType = "organization"
		h, l := uuidOf(hash4(uint64(opts.Seed), 0x0265, 0, 0))
		s.ownerID = strings.ToUpper(uuidString(h, l)) // organization ids arrive in upper case
	default:
		s.idType = "tenant"
		s.ownerID = s.tenants[0].id
	}

	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("emulator: listen %s: %w", opts.Addr, err)
	}
	s.ln = ln
	scheme := "http"
	if opts.TLS {
		cfg, caPEM, err := selfSigned(opts.CAFile)
		if err != nil {
			ln.Close()
			return nil, err
		}
		s.caPEM = caPEM
		s.ln = tls.NewListener(ln, cfg)
		scheme = "https"
	}
	s.url = scheme + "://" + ln.Addr().String()
	if opts.Faults.ForeignHost {
		if err := s.startForeign(); err != nil {
			ln.Close()
			return nil, err
		}
	}
	s.http = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.http.Serve(s.ln)
	}()
	return s, nil
}

// URL is the base URL (token host, global host, and the root of the data
// hosts), e.g. http://127.0.0.1:PORT.
func (s *Server) URL() string { return s.url }

// AuthURL is the token endpoint: URL() + "/api/v2/oauth2/token".
func (s *Server) AuthURL() string { return s.url + "/api/v2/oauth2/token" }

// CAPEM returns the CA certificate (PEM) of a TLS emulator, nil otherwise.
func (s *Server) CAPEM() []byte { return s.caPEM }

// Options returns the effective options (defaults applied).
func (s *Server) Options() Options { return s.opts }

// Close stops the listener and waits for in-flight requests (bounded).
func (s *Server) Close() {
	select {
	case <-s.closed:
		return
	default:
		close(s.closed)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		_ = s.http.Close()
	}
	if s.foreign != nil {
		_ = s.foreign.Close()
	}
	s.wg.Wait()
}

// startForeign serves the foreign-host fault's host: a different host name
// (localhost, while the emulator is named by its IP) over plain http that
// answers 403 and counts every request that carried a bearer token.
func (s *Server) startForeign() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("emulator: foreign-host listener: %w", err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	s.foreignURL = "http://localhost:" + port
	s.foreign = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			s.mu.Lock()
			s.foreignReqs++
			s.mu.Unlock()
		}
		http.Error(w, "foreign host: this request should never have been sent", http.StatusForbidden)
	})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.foreign.Serve(ln)
	}()
	return nil
}

// ForeignRequests counts requests with a bearer token that reached the
// foreign-host fault's host: a client that leaks its token makes it > 0.
func (s *Server) ForeignRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.foreignReqs
}

// apiHost is the apiHost announced for tenant i (the foreign-host fault
// may replace it).
func (s *Server) apiHost(i int) string {
	t := s.tenants[i]
	if s.opts.Faults.ForeignHost && s.opts.Faults.hits(t, i) {
		return s.foreignURL
	}
	return s.regionURL(t.region.id)
}

// TenantIDs lists the tenant ids in order (one for tenant credentials).
func (s *Server) TenantIDs() []string {
	out := make([]string, len(s.tenants))
	for i, t := range s.tenants {
		out[i] = t.id
	}
	return out
}

// WhoamiID is the id whoami returns (tenant, partner or organization id).
func (s *Server) WhoamiID() string { return s.ownerID }

// DataURL is the data host (apiHost) of a tenant: URL() + "/region/<id>".
func (s *Server) DataURL(tenantID string) string {
	t := s.tenant(tenantID)
	if t == nil {
		return ""
	}
	return s.regionURL(t.region.id)
}

func (s *Server) regionURL(r string) string { return s.url + "/region/" + r }

func (s *Server) tenant(id string) *tenant { return s.byID[strings.ToLower(id)] }

// now is the emulator's clock: Options.Now moved by AdvanceClock. Every
// answer's Date header, the 24 h window and new arrivals follow it.
func (s *Server) now() time.Time { return s.opts.Now().Add(time.Duration(s.clockShift.Load())) }
func (s *Server) nowMs() int64   { return s.now().UnixMilli() }

// AdvanceClock moves the emulator's clock by d (negative: back), as if the
// API's time had passed while a client was stopped: its Date headers, its
// 24 h window and its cursor restarts follow. The host's clock is untouched.
func (s *Server) AdvanceClock(d time.Duration) { s.clockShift.Add(int64(d)) }

// WithholdAlerts makes the SIEM alerts stream never serve n of the tenant's
// alerts now in the window (spread over it), while the Common API still
// lists them: the fault reconciliation exists for. It returns their ids.
func (s *Server) WithholdAlerts(tenantID string, n int) []string {
	t := s.tenant(tenantID)
	if t == nil || n <= 0 {
		return nil
	}
	return t.withhold(n, s.nowMs())
}

// AllIDs is the ground truth for end-to-end tests: every item id of a
// tenant's stream ("alert" or "event") that a client could fetch now (created
// within the last 24 h, late arrivals included), in served order.
func (s *Server) AllIDs(tenantID, stream string) []string {
	t := s.tenant(tenantID)
	st, ok := parseStreamName(stream)
	if t == nil || !ok {
		return nil
	}
	now := s.nowMs()
	t.advance(now)
	return t.ids(st, now)
}

// ServedIDs is an alias of AllIDs.
func (s *Server) ServedIDs(tenantID, stream string) []string { return s.AllIDs(tenantID, stream) }

// AddItems makes n new items of a stream arrive now. New alerts also add
// their event twin (same id) to the events stream.
func (s *Server) AddItems(tenantID, stream string, n int) {
	t := s.tenant(tenantID)
	st, ok := parseStreamName(stream)
	if t == nil || !ok || n <= 0 {
		return
	}
	now := s.nowMs()
	t.advance(now)
	t.addNow(st, n, now)
}

// Requests returns a copy of the request counters, keyed "<route> <status>",
// e.g. "GET /siem/v1/events 200" (region prefixes are left out).
func (s *Server) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.requests))
	for k, v := range s.requests {
		out[k] = v
	}
	return out
}

// RequestCount sums the counters of a route over all statuses (route like
// "GET /siem/v1/events").
func (s *Server) RequestCount(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, v := range s.requests {
		if strings.HasPrefix(k, route+" ") {
			n += v
		}
	}
	return n
}

// ExpireTokens invalidates every issued access token now.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tk := range s.tokens {
		tk.revoked = true
	}
}

// Acknowledged reports whether an alert was acknowledged through the Common API.
func (s *Server) Acknowledged(alertID string) bool {
	hi, lo, ok := parseUUID(alertID)
	if !ok {
		return false
	}
	for _, t := range s.tenants {
		t.mu.RLock()
		a := t.acks[[2]uint64{hi, lo}]
		t.mu.RUnlock()
		if a {
			return true
		}
	}
	return false
}

// SetGlobalTamperProtection changes a tenant's global tamper protection
// setting (on by default, off on every third partner tenant).
func (s *Server) SetGlobalTamperProtection(tenantID string, enabled bool) {
	if t := s.tenant(tenantID); t != nil {
		t.mu.Lock()
		t.globalTamper = enabled
		t.mu.Unlock()
	}
}

// EndpointIDs lists a tenant's endpoint ids.
func (s *Server) EndpointIDs(tenantID string) []string {
	t := s.tenant(tenantID)
	if t == nil {
		return nil
	}
	out := make([]string, len(t.hosts))
	for i, h := range t.hosts {
		out[i] = h.id
	}
	return out
}

// DenyTenant makes every data call for the tenant answer status (401 or
// 403, a tenant whose access was revoked); 0 restores it.
func (s *Server) DenyTenant(tenantID string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deny == nil {
		s.deny = map[string]int{}
	}
	s.deny[strings.ToLower(tenantID)] = status
}

// HideTenant leaves the tenant out of the partner/organization tenant
// listing and denies its data calls (403), as for a tenant that left the
// partner account; false brings it back.
func (s *Server) HideTenant(tenantID string, hidden bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hidden == nil {
		s.hidden = map[string]bool{}
	}
	s.hidden[strings.ToLower(tenantID)] = hidden
}

func (s *Server) denied(tenantID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hidden[tenantID] {
		return http.StatusForbidden
	}
	return s.deny[tenantID]
}

// listedTenants are the tenants the tenant listing shows.
func (s *Server) listedTenants() []*tenant {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*tenant, 0, len(s.tenants))
	for _, t := range s.tenants {
		if !s.hidden[t.id] {
			out = append(out, t)
		}
	}
	return out
}

func (s *Server) count(route string, status int) {
	s.mu.Lock()
	s.requests[fmt.Sprintf("%s %d", route, status)]++
	s.mu.Unlock()
}
