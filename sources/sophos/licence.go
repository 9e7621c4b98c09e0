package sophos

import (
	"context"
	"fmt"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// A tenant without the XDR/MDR licence (or a credential without the role)
// answers 403 or 404 on the detections and cases routes. That is marked per
// tenant × stream — shown on the status page, logged once per tenant and run
// (WARN; later marks at DEBUG) — and the stream is skipped for the tenant
// until the mark's retry time (daily), so it is neither an error storm nor a
// failed pass.

// notLicensed marks p and returns the error the pipeline skips on.
func (s *Source) notLicensed(p pipeline.Partition, status int) error {
	e := &NotLicensedError{Tenant: p.Tenant, TenantName: p.TenantName, Stream: p.Stream.Plural(), Status: status,
		Until: s.c.cfg.Now().Add(s.opt.RetryUnlicensed)}
	s.xdrMu.Lock()
	first := !s.logged[p.Tenant] // one line per tenant: its other XDR stream is usually refused too
	s.logged[p.Tenant] = true
	s.unlicensed[p.Key()] = e
	s.xdrMu.Unlock()
	if first {
		s.c.log.Warn("sophos: " + e.Error())
	} else {
		s.c.log.Debug("sophos: still " + e.Error())
	}
	return e
}

// stillUnlicensed returns p's mark while it holds (no request is made).
func (s *Source) stillUnlicensed(p pipeline.Partition) error {
	s.xdrMu.Lock()
	defer s.xdrMu.Unlock()
	if e := s.unlicensed[p.Key()]; e != nil && s.c.cfg.Now().Before(e.Until) {
		return e
	}
	return nil
}

// licensed clears p's mark after a successful fetch.
func (s *Source) licensed(p pipeline.Partition) {
	s.xdrMu.Lock()
	defer s.xdrMu.Unlock()
	if _, ok := s.unlicensed[p.Key()]; ok {
		delete(s.unlicensed, p.Key())
		s.c.log.Info(fmt.Sprintf("sophos: %s is available for %s now", p.Stream.Plural(), p.TenantLabel()))
	}
}

// Unlicensed lists the partitions marked not licensed (for tests and status).
func (s *Source) Unlicensed() []*NotLicensedError {
	s.xdrMu.Lock()
	defer s.xdrMu.Unlock()
	var out []*NotLicensedError
	for _, e := range s.unlicensed {
		out = append(out, e)
	}
	return out
}

func (s *Source) sawCases(tenant string) {
	s.xdrMu.Lock()
	s.casesSeen[tenant] = true
	s.xdrMu.Unlock()
}

func (s *Source) pullsCases() bool {
	for _, st := range s.opt.Streams {
		if st == pipeline.Cases {
			return true
		}
	}
	return false
}

// mdrHint: on an MDR / Managed Detection tenant findings are raised as
// cases and the alert feeds stay empty, so a collector of alerts looks
// healthy while forwarding none of them. When a tenant's first alerts pass
// finds no alert, one request (a cases page of one) tells whether it has
// cases; if so, an INFO line says it is MDR-managed and which streams to
// enable. Once per tenant per run; any error just skips the hint.
func (s *Source) mdrHint(ctx context.Context, t Tenant, page *pipeline.Page) {
	s.xdrMu.Lock()
	if len(page.Records) > 0 {
		s.alertsSeen[t.ID] = true
	}
	check := !s.alertsSeen[t.ID] && !page.HasMore && !s.hintChecked[t.ID]
	if check {
		s.hintChecked[t.ID] = true
	}
	s.xdrMu.Unlock()
	if !check {
		return
	}
	res, err := s.c.casesPage(ctx, t, s.c.cfg.Now().Add(-s.opt.Cases.Window), 1, "")
	if err != nil {
		s.c.log.Debug("sophos: MDR hint: cases of " + t.Label() + " not readable: " + err.Error())
		return
	}
	if len(res.Records) == 0 {
		return
	}
	label := t.Label()
	if label != t.ID {
		label += " (" + t.ID + ")"
	}
	if s.pullsCases() {
		s.c.log.Info(fmt.Sprintf("sophos: tenant %s has no alerts but has cases: it looks MDR-managed (findings are raised as cases); the cases stream is pulled", label))
		return
	}
	s.c.log.Info(fmt.Sprintf("sophos: tenant %s has no alerts but has cases: it looks MDR-managed, so its findings arrive as cases, which are not pulled — enable them with sophos.streams: [alerts, events, detections, cases] (or -x)", label))
}

// warnOnce reports true the first time key is seen in this run.
func (s *Source) warnOnce(key string) bool {
	s.xdrMu.Lock()
	defer s.xdrMu.Unlock()
	if s.logged["warn/"+key] {
		return false
	}
	s.logged["warn/"+key] = true
	return true
}

// sweepStarted notes that this run began a cases sweep of key at its first page.
func (s *Source) sweepStarted(key string) {
	s.xdrMu.Lock()
	s.logged["sweep/"+key] = true
	s.xdrMu.Unlock()
}

// sweptHere reports whether this run began a sweep of key from its first page.
func (s *Source) sweptHere(key string) bool {
	s.xdrMu.Lock()
	defer s.xdrMu.Unlock()
	return s.logged["sweep/"+key]
}
