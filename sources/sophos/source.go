package sophos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// SourceOptions choose what a Source pulls.
type SourceOptions struct {
	Streams      []pipeline.Stream // default: alerts and events
	Light        bool              // events: exclude the official noisy types
	ExcludeTypes []string          // events: more types to exclude
	// TenantError learns about a tenant skipped in a pass: a configured one
	// the credentials do not reach (reason "not_found"), or one whose data
	// calls answer 401 or 403 ("unauthorized", "forbidden"). The pass goes
	// on with the other tenants.
	TenantError func(tenant, reason string, err error)
	// OnTenants (optional) gets each tenant list Partitions read: partner
	// and organization credentials learn their data regions from it.
	OnTenants func([]Tenant)
	// Detections and Cases tune the XDR streams.
	Detections DetectionsOptions
	Cases      CasesOptions
	// RetryUnlicensed is how long a tenant × stream that answered 403/404
	// on the detections or cases routes is skipped (default 24h).
	RetryUnlicensed time.Duration
}

// Source is the SIEM pipeline.Source: one partition per tenant × stream.
type Source struct {
	c   *Client
	opt SourceOptions

	mu      sync.Mutex
	tenants map[string]Tenant // by id, from the last Partitions

	xdrMu       sync.Mutex
	unlicensed  map[string]*NotLicensedError // partition key -> the mark (until its retry)
	logged      map[string]bool              // tenants whose not-licensed line was logged
	casesSeen   map[string]bool              // tenants with cases forwarded
	alertsSeen  map[string]bool              // tenants with alerts pulled
	hintChecked map[string]bool              // tenants whose MDR hint was considered
}

var _ pipeline.Source = (*Source)(nil)

// NewSource builds the SIEM source over c.
func NewSource(c *Client, opt SourceOptions) (*Source, error) {
	if len(opt.Streams) == 0 {
		opt.Streams = []pipeline.Stream{pipeline.Alerts, pipeline.Events}
	}
	seen := map[pipeline.Stream]bool{}
	var streams []pipeline.Stream
	for _, s := range opt.Streams {
		if _, err := pipeline.ParseStream(string(s)); err != nil {
			return nil, fmt.Errorf("sophos: %w", err)
		}
		if !seen[s] {
			seen[s] = true
			streams = append(streams, s)
		}
	}
	opt.Streams = streams
	opt.Detections, opt.Cases = opt.Detections.withDefaults(), opt.Cases.withDefaults()
	if opt.RetryUnlicensed <= 0 {
		opt.RetryUnlicensed = 24 * time.Hour
	}
	return &Source{c: c, opt: opt, unlicensed: map[string]*NotLicensedError{}, logged: map[string]bool{},
		casesSeen: map[string]bool{}, alertsSeen: map[string]bool{}, hintChecked: map[string]bool{}}, nil
}

// Client returns the underlying API client.
func (s *Source) Client() *Client { return s.c }

// Partitions resolves the tenants (whoami, tenant listing, narrowing) and
// returns tenants × enabled streams, tenant by tenant.
func (s *Source) Partitions(ctx context.Context) ([]pipeline.Partition, error) {
	ts, err := s.c.Tenants(ctx)
	var missing *MissingTenantsError
	if errors.As(err, &missing) && len(ts) > 0 {
		if s.opt.TenantError != nil {
			for i, name := range missing.Missing {
				s.opt.TenantError(name, "not_found", errors.New(missing.msgs[i]))
			}
		}
	} else if err != nil {
		return nil, err
	}
	m := make(map[string]Tenant, len(ts))
	out := make([]pipeline.Partition, 0, len(ts)*len(s.opt.Streams))
	for _, t := range ts {
		m[t.ID] = t
		name := t.Label()
		if name == t.ID {
			name = ""
		}
		for _, st := range s.opt.Streams {
			out = append(out, pipeline.Partition{Tenant: t.ID, TenantName: name, Stream: st})
		}
	}
	s.mu.Lock()
	s.tenants = m
	s.mu.Unlock()
	if s.opt.OnTenants != nil {
		s.opt.OnTenants(ts)
	}
	return out, nil
}

// Unpullable lists what the last Partitions call had to leave out (tenants
// refused for an untrusted apiHost): the pipeline counts each as a failed
// partition, so -once does not end as if everything was pulled.
func (s *Source) Unpullable() []string { return s.c.Refused() }

// Tenants returns the tenants found by the last Partitions call.
func (s *Source) Tenants() []Tenant {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Tenant, 0, len(s.tenants))
	for _, t := range s.tenants {
		out = append(out, t)
	}
	return out
}

// TenantByID returns a tenant found by the last Partitions call.
func (s *Source) TenantByID(id string) (Tenant, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[id]
	return t, ok
}

// Fetch pulls the page at pos for p.
func (s *Source) Fetch(ctx context.Context, p pipeline.Partition, pos pipeline.Position) (*pipeline.Page, error) {
	t, err := s.tenant(ctx, p.Tenant)
	if err != nil {
		return nil, err
	}
	switch p.Stream {
	case pipeline.Detections, pipeline.Cases:
		if e := s.stillUnlicensed(p); e != nil {
			return nil, e
		}
		var page *pipeline.Page
		if p.Stream == pipeline.Detections {
			page, err = s.fetchDetections(ctx, t, p, pos)
		} else {
			page, err = s.fetchCases(ctx, t, p, pos)
		}
		if err == nil {
			s.licensed(p)
		}
		return page, err
	}
	opt := SIEMOptions{Limit: DefaultLimit}
	if p.Stream == pipeline.Events {
		opt.Light, opt.ExcludeTypes = s.opt.Light, s.opt.ExcludeTypes
	}
	page, err := s.c.SIEMPage(ctx, t, p.Stream, pos, opt)
	if err == nil && p.Stream == pipeline.Alerts {
		s.mdrHint(ctx, t, page)
	}
	var ae *APIError
	if err != nil && s.opt.TenantError != nil && errors.As(err, &ae) {
		switch ae.Status {
		case http.StatusUnauthorized:
			s.opt.TenantError(p.Tenant, "unauthorized", err)
		case http.StatusForbidden:
			s.opt.TenantError(p.Tenant, "forbidden", err)
		}
	}
	return page, err
}

// tenant finds a tenant by id, resolving the tenants once if Fetch runs
// before Partitions (e.g. a checkpoint replayed at start-up).
func (s *Source) tenant(ctx context.Context, id string) (Tenant, error) {
	s.mu.Lock()
	t, ok := s.tenants[id]
	loaded := s.tenants != nil
	s.mu.Unlock()
	if ok {
		return t, nil
	}
	if !loaded {
		if _, err := s.Partitions(ctx); err != nil {
			return Tenant{}, err
		}
		s.mu.Lock()
		t, ok = s.tenants[id]
		s.mu.Unlock()
		if ok {
			return t, nil
		}
	}
	return Tenant{}, fmt.Errorf("sophos: tenant %s is not among the tenants these credentials reach (check sophos.tenants, or clear its checkpoint with `state reset %s`)", id, id)
}
