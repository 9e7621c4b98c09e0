package sophos

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

const tokenRoute = "POST /api/v2/oauth2/token 200"

// TestTokenCachedAndRenewedOn401: one token serves many calls; a revoked
// token costs one 401, one renewal and one resend.
func TestTokenCachedAndRenewedOn401(t *testing.T) {
	emu := newEmu(t, emulator.Options{})
	c, _ := newTestClient(t, emu, nil)
	for range 5 {
		if _, err := c.WhoAmI(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	if n := emu.Requests()[tokenRoute]; n != 1 {
		t.Fatalf("%d token requests for 5 calls, want 1", n)
	}
	emu.ExpireTokens()
	if _, err := c.WhoAmI(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	req := emu.Requests()
	if req[tokenRoute] != 2 || req["GET /whoami/v1 401"] != 1 || req["GET /whoami/v1 200"] != 6 {
		t.Fatalf("after revocation: %v", req)
	}
	// A 401 that a fresh token does not cure (here: no X-Tenant-ID) costs
	// exactly one renewal and one resend, then a clear error.
	tn := oneTenant(t, c)
	_, err := c.SIEMPage(testCtx(t), Tenant{APIHost: tn.APIHost}, pipeline.Events, pipeline.Position{}, SIEMOptions{})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 401 || !strings.Contains(err.Error(), "X-Tenant-ID") || !strings.Contains(err.Error(), "even after renewing") {
		t.Fatalf("persistent 401: %v", err)
	}
	req = emu.Requests()
	if req[tokenRoute] != 3 || req["GET /siem/v1/events 401"] != 2 {
		t.Fatalf("want one renewal and one resend: %v", req)
	}
}

// TestTokenRenewedBeforeExpiry: the token is renewed expires_in − 120 s
// after issue, before the server would reject it.
func TestTokenRenewedBeforeExpiry(t *testing.T) {
	var clk clock
	emu := newEmu(t, emulator.Options{Now: clk.Now, TokenTTL: time.Hour})
	c, _ := newTestClient(t, emu, nil)
	tn := oneTenant(t, c)
	clk.Advance(57 * time.Minute) // inside the margin: still cached
	if _, err := c.SIEMPage(testCtx(t), tn, pipeline.Alerts, pipeline.Position{}, SIEMOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := emu.Requests()[tokenRoute]; n != 1 {
		t.Fatalf("%d token requests at 57 min, want 1", n)
	}
	clk.Advance(2 * time.Minute) // 59 min: past expires_in − 120 s
	if _, err := c.SIEMPage(testCtx(t), tn, pipeline.Alerts, pipeline.Position{}, SIEMOptions{}); err != nil {
		t.Fatal(err)
	}
	req := emu.Requests()
	if req[tokenRoute] != 2 || req["GET /siem/v1/alerts 401"] != 0 {
		t.Fatalf("want a proactive renewal without a 401: %v", req)
	}
}

// TestTokenExpiryMidPaging: tokens that die after 3 pages (the emulator's
// 401-midpage fault) cost one renewal each; the drain completes exactly.
func TestTokenExpiryMidPaging(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 2000, Alerts: 10, Faults: emulator.Faults{Midpage401: 3}})
	c, _ := newTestClient(t, emu, nil)
	tn := oneTenant(t, c)
	ids, pages, _, _ := drain(t, c, tn, pipeline.Events, pipeline.Position{}, SIEMOptions{Limit: 200})
	if !slices.Equal(ids, emu.AllIDs(tn.ID, "event")) || pages != 10 {
		t.Fatalf("%d ids in %d pages, want %d in 10", len(ids), pages, len(emu.AllIDs(tn.ID, "event")))
	}
	req := emu.Requests()
	n401 := req["GET /siem/v1/events 401"]
	if n401 < 3 || req[tokenRoute] != n401+1 {
		t.Fatalf("want one renewal per mid-paging 401: %v", req)
	}
}

// TestTokenConcurrentRenewal: concurrent callers share one token fetch, and
// after a revocation one renewal.
func TestTokenConcurrentRenewal(t *testing.T) {
	emu := newEmu(t, emulator.Options{})
	c, _ := newTestClient(t, emu, nil)
	run := func() {
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for range 16 {
			wg.Go(func() {
				if _, err := c.WhoAmI(testCtx(t)); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	run()
	if n := emu.Requests()[tokenRoute]; n != 1 {
		t.Fatalf("%d token requests from 16 concurrent callers, want 1", n)
	}
	emu.ExpireTokens()
	run()
	if n := emu.Requests()[tokenRoute]; n != 2 {
		t.Fatalf("%d token requests after revocation, want 2", n)
	}
}

// TestWrongSecret: a clear, typed error that names the cause and the fix,
// without the secret.
func TestWrongSecret(t *testing.T) {
	emu := newEmu(t, emulator.Options{})
	bad := "wrong-" + testSecret
	c, logs := newTestClient(t, emu, func(cfg *Config) { cfg.ClientSecret = bad })
	_, err := c.WhoAmI(testCtx(t))
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Code != "oauth.invalid_client_secret" {
		t.Fatalf("want an AuthError: %#v", err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "auth failed: invalid client secret (401 oauth.invalid_client_secret)") || !strings.HasSuffix(msg, "— check sophos.client_secret") {
		t.Fatalf("message: %s", msg)
	}
	if strings.Contains(msg, bad) || strings.Contains(logs.String(), bad) {
		t.Fatal("the secret leaked")
	}
	if n := emu.Requests()["POST /api/v2/oauth2/token 401"]; n != 1 {
		t.Fatalf("a 401 from the token endpoint must not be retried: %d requests", n)
	}
	// An auth_url that is not a token endpoint says so.
	c2, _ := newTestClient(t, emu, func(cfg *Config) { cfg.AuthURL = emu.URL() + "/nope" })
	if _, err := c2.WhoAmI(testCtx(t)); err == nil || !strings.Contains(err.Error(), "check sophos.auth_url") {
		t.Fatalf("bad auth_url: %v", err)
	}
	// Nothing listening: a clear network error naming auth_url.
	c3, _ := newTestClient(t, emu, func(cfg *Config) {
		cfg.AuthURL = "http://127.0.0.1:1/api/v2/oauth2/token"
		cfg.Retry.MaxAttempts = 2
	})
	if _, err := c3.WhoAmI(testCtx(t)); err == nil || !strings.Contains(err.Error(), "cannot reach the token endpoint") || !strings.Contains(err.Error(), "sophos.auth_url") {
		t.Fatalf("unreachable auth_url: %v", err)
	}
}

// TestWhoAmIAndTenantCredentials: tenant credentials give one tenant at
// whoami's dataRegion.
func TestWhoAmIAndTenantCredentials(t *testing.T) {
	emu := newEmu(t, emulator.Options{})
	c, _ := newTestClient(t, emu, nil)
	id, err := c.WhoAmI(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if id.IDType != IDTypeTenant || id.ID != emu.TenantIDs()[0] || id.GlobalHost != emu.URL() || !strings.HasPrefix(id.DataRegion, emu.URL()+"/region/") {
		t.Fatalf("identity %+v", id)
	}
	tn := oneTenant(t, c)
	if tn.ID != id.ID || tn.APIHost != id.DataRegion {
		t.Fatalf("tenant %+v", tn)
	}
	// Tenant credentials cannot be narrowed to another tenant.
	c2, _ := newTestClient(t, emu, func(cfg *Config) { cfg.Tenants = []string{"11111111-2222-3333-4444-555555555555"} })
	if _, err := c2.Tenants(testCtx(t)); err == nil || !strings.Contains(err.Error(), "11111111-2222-3333-4444-555555555555") || !strings.Contains(err.Error(), "tenant credentials") {
		t.Fatalf("narrowing tenant credentials: %v", err)
	}
	c3, _ := newTestClient(t, emu, func(cfg *Config) { cfg.Tenants = []string{strings.ToUpper(id.ID)} })
	if ts, err := c3.Tenants(testCtx(t)); err != nil || len(ts) != 1 {
		t.Fatalf("own id (upper case): %v %v", ts, err)
	}
}

// TestPartnerFanOutTwoRegions: 120 tenants over 3 pages of the tenant list,
// spread over two regions; every tenant is pulled at its own apiHost (the
// emulator answers 403 at a wrong region).
func TestPartnerFanOutTwoRegions(t *testing.T) {
	emu := newEmu(t, emulator.Options{Partner: true, Tenants: 120, Events: 30, Alerts: 3})
	c, _ := newTestClient(t, emu, nil)
	ts, err := c.Tenants(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	hosts := map[string][]Tenant{}
	for _, tn := range ts {
		got = append(got, tn.ID)
		hosts[tn.APIHost] = append(hosts[tn.APIHost], tn)
		if tn.Name == "" || tn.DataRegion == "" {
			t.Fatalf("tenant %+v", tn)
		}
	}
	if !slices.Equal(got, emu.TenantIDs()) {
		t.Fatalf("%d tenants, want the emulator's %d", len(got), len(emu.TenantIDs()))
	}
	if n := emu.Requests()["GET /partner/v1/tenants 200"]; n != 3 {
		t.Fatalf("%d tenant pages, want 3 (50 per page)", n)
	}
	if len(hosts) != 2 {
		t.Fatalf("%d data hosts, want 2 regions", len(hosts))
	}
	src, err := NewSource(c, SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	parts, err := src.Partitions(testCtx(t))
	if err != nil || len(parts) != 240 || len(src.Tenants()) != 120 {
		t.Fatalf("%d partitions, want 120 × 2: %v", len(parts), err)
	}
	for host, tns := range hosts {
		for _, tn := range tns[:2] {
			p, err := src.Fetch(testCtx(t), pipeline.Partition{Tenant: tn.ID, Stream: pipeline.Events}, pipeline.Position{})
			if err != nil {
				t.Fatalf("tenant %s at %s: %v", tn.ID, host, err)
			}
			if !slices.Equal(ids(p.Records), emu.AllIDs(tn.ID, "event")) {
				t.Fatalf("tenant %s: wrong items", tn.ID)
			}
			for _, r := range p.Records {
				if r.Tenant != tn.ID {
					t.Fatalf("record tenant %s, want %s", r.Tenant, tn.ID)
				}
			}
		}
	}
	if n := emu.Requests()["GET /siem/v1/events 403"]; n != 0 {
		t.Fatalf("%d requests went to the wrong region", n)
	}
	// A tenant sent to the other region's host is refused with a clear 403.
	var a, b Tenant
	for _, tns := range hosts {
		if a.ID == "" {
			a = tns[0]
		} else {
			b = tns[0]
		}
	}
	a.APIHost = b.APIHost
	_, err = c.SIEMPage(testCtx(t), a, pipeline.Events, pipeline.Position{}, SIEMOptions{})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 403 || !strings.Contains(err.Error(), "sophos.tenants") {
		t.Fatalf("wrong region: %v", err)
	}
}

func ids(rs []pipeline.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// TestOrganizationCredentialsAndNarrowing: organization tenants are listed
// with X-Organization-ID; sophos.tenants narrows by id (any case) or name;
// an unknown entry is an error naming it.
func TestOrganizationCredentialsAndNarrowing(t *testing.T) {
	emu := newEmu(t, emulator.Options{Organization: true, Tenants: 5, Events: 20, Alerts: 2})
	c, _ := newTestClient(t, emu, nil)
	id, err := c.WhoAmI(testCtx(t))
	if err != nil || id.IDType != IDTypeOrganization || id.ID != emu.WhoamiID() {
		t.Fatalf("identity %+v %v", id, err)
	}
	all, err := c.Tenants(testCtx(t))
	if err != nil || len(all) != 5 {
		t.Fatalf("%d tenants: %v", len(all), err)
	}
	if emu.Requests()["GET /organization/v1/tenants 200"] != 1 || emu.Requests()["GET /partner/v1/tenants 200"] != 0 {
		t.Fatalf("requests %v", emu.Requests())
	}
	want := []string{strings.ToUpper(all[3].ID), all[1].Name}
	c2, _ := newTestClient(t, emu, func(cfg *Config) { cfg.Tenants = want })
	ts, err := c2.Tenants(testCtx(t))
	if err != nil || len(ts) != 2 || ts[0].ID != all[3].ID || ts[1].ID != all[1].ID {
		t.Fatalf("narrowed: %+v %v", ts, err)
	}
	src, _ := NewSource(c2, SourceOptions{Streams: []pipeline.Stream{pipeline.Alerts}})
	parts, err := src.Partitions(testCtx(t))
	if err != nil || len(parts) != 2 || parts[0].Stream != pipeline.Alerts || parts[0].Tenant != all[3].ID || parts[0].TenantName == "" {
		t.Fatalf("partitions %+v %v", parts, err)
	}
	if _, err := src.Fetch(testCtx(t), pipeline.Partition{Tenant: all[0].ID, Stream: pipeline.Alerts}, pipeline.Position{}); err == nil || !strings.Contains(err.Error(), all[0].ID) {
		t.Fatalf("fetch of a tenant outside the narrowed set: %v", err)
	}
	c3, _ := newTestClient(t, emu, func(cfg *Config) { cfg.Tenants = []string{all[0].ID, "No Such Tenant"} })
	_, err = c3.Tenants(testCtx(t))
	if err == nil || !strings.Contains(err.Error(), `"No Such Tenant"`) || !strings.Contains(err.Error(), "sophos.tenants") {
		t.Fatalf("unknown tenant: %v", err)
	}
}

// TestSourceConcurrentFetch drains every partition of a partner at once
// through 503 bursts and tokens dying mid-paging: one shared client, one
// renewal at a time, exact results (run with -race). A token lives for 10
// pages here: with 8 pagers sharing it, a token that dies after fewer pages
// than there are concurrent requests can be refused to the very caller who
// just fetched it, which no real Sophos token does.
func TestSourceConcurrentFetch(t *testing.T) {
	emu := newEmu(t, emulator.Options{Partner: true, Tenants: 4, Events: 3000, Alerts: 40,
		Faults: emulator.Faults{Rate503: 0.05, Burst503: 2, Midpage401: 10}})
	c, _ := newTestClient(t, emu, nil)
	src, err := NewSource(c, SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	parts, err := src.Partitions(testCtx(t))
	if err != nil || len(parts) != 8 {
		t.Fatalf("%d partitions: %v", len(parts), err)
	}
	got := make([][]string, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Go(func() {
			pos := pipeline.Position{}
			for range 100 {
				page, err := src.Fetch(testCtx(t), p, pos)
				if err != nil {
					errs[i] = err
					return
				}
				got[i] = append(got[i], ids(page.Records)...)
				if !page.HasMore {
					return
				}
				pos = pipeline.Position{Cursor: page.Cursor}
			}
		})
	}
	wg.Wait()
	for i, p := range parts {
		if errs[i] != nil {
			t.Fatalf("%s: %v", p, errs[i])
		}
		if want := emu.AllIDs(p.Tenant, string(p.Stream)); !slices.Equal(got[i], want) {
			t.Fatalf("%s: %d ids, want %d", p, len(got[i]), len(want))
		}
	}
	req := emu.Requests()
	if req["GET /siem/v1/events 401"]+req["GET /siem/v1/alerts 401"] == 0 || req["GET /siem/v1/events 503"]+req["GET /siem/v1/alerts 503"] == 0 {
		t.Fatalf("faults not exercised: %v", req)
	}
}
