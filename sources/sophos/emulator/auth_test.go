package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTokenEndpoint(t *testing.T) {
	s, _ := start(t, Options{ClientID: "id-1", ClientSecret: "sec-1", TokenTTL: 30 * time.Minute})
	form := func(id, secret string) string {
		return url.Values{"grant_type": {"client_credentials"}, "scope": {"token"}, "client_id": {id}, "client_secret": {secret}}.Encode()
	}
	formHdr := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}

	r := do(t, nil, "POST", s.AuthURL(), formHdr, form("id-1", "sec-1"))
	if r.status != 200 {
		t.Fatalf("form: %d %s", r.status, r.body)
	}
	m := r.json(t)
	for _, k := range []string{"access_token", "errorCode", "expires_in", "message", "refresh_token", "token_type", "trackingId"} {
		if _, ok := m[k]; !ok {
			t.Errorf("token response lacks %s: %s", k, r.body)
		}
	}
	if m["token_type"] != "bearer" || m["errorCode"] != "success" || m["expires_in"] != float64(1800) {
		t.Errorf("token response: %s", r.body)
	}
	if parts := strings.Split(m["access_token"].(string), "."); len(parts) != 3 {
		t.Errorf("access token is not JWT-shaped")
	}
	if len(m["refresh_token"].(string)) != 64 {
		t.Errorf("refresh token: %q", m["refresh_token"])
	}

	// HTTP Basic credentials.
	req, _ := http.NewRequest("POST", s.AuthURL(), strings.NewReader("grant_type=client_credentials&scope=token"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("id-1", "sec-1")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("basic auth: %v %v", err, res.StatusCode)
	}
	res.Body.Close()

	// Refresh grant with the Postman JSON body.
	rb, _ := json.Marshal(map[string]string{"client_id": "id-1", "client_secret": "sec-1", "grant_type": "refresh_token", "refresh_token": m["refresh_token"].(string)})
	if r := do(t, nil, "POST", s.AuthURL(), nil, string(rb)); r.status != 200 || r.json(t)["access_token"] == "" {
		t.Fatalf("refresh grant: %d %s", r.status, r.body)
	}
	rb, _ = json.Marshal(map[string]string{"client_id": "id-1", "client_secret": "sec-1", "grant_type": "refresh_token", "refresh_token": "nope"})
	if r := do(t, nil, "POST", s.AuthURL(), nil, string(rb)); r.status != 401 {
		t.Fatalf("bad refresh token: %d", r.status)
	}

	for _, c := range [][2]string{{"id-1", "wrong"}, {"other", "sec-1"}, {"", ""}} {
		r := do(t, nil, "POST", s.AuthURL(), formHdr, form(c[0], c[1]))
		if r.status != 401 {
			t.Fatalf("bad credentials %v: %d", c, r.status)
		}
		m := r.json(t)
		if m["errorCode"] != "oauth.invalid_client_secret" || m["message"] != "Unauthorized" || m["trackingId"] == nil {
			t.Fatalf("bad credentials body: %s", r.body)
		}
		if strings.Contains(string(r.body), "wrong") {
			t.Fatal("error body echoes the secret")
		}
	}
	if r := do(t, nil, "POST", s.AuthURL(), formHdr, "grant_type=password&client_id=id-1&client_secret=sec-1"); r.status != 400 {
		t.Fatalf("unsupported grant: %d", r.status)
	}
}

func TestBearerRequiredAndExpiring(t *testing.T) {
	s, clk := start(t, Options{TokenTTL: 10 * time.Minute})
	a := newAPI(t, s)
	u := s.DataURL(a.tenant) + "/siem/v1/events"
	check := func(name string, hdr map[string]string, want int) {
		t.Helper()
		r := do(t, nil, "GET", u, hdr, "")
		if r.status != want {
			t.Fatalf("%s: %d, want %d: %s", name, r.status, want, r.body)
		}
		if want == 401 && r.json(t)["error"] != "Unauthorized" {
			t.Fatalf("%s: body %s", name, r.body)
		}
	}
	check("valid", a.hdr(), 200)
	check("no bearer", map[string]string{"X-Tenant-ID": a.tenant}, 401)
	check("bad bearer", map[string]string{"X-Tenant-ID": a.tenant, "Authorization": "Bearer nope"}, 401)
	check("no tenant", map[string]string{"Authorization": "Bearer " + a.token}, 401)
	check("foreign tenant", map[string]string{"Authorization": "Bearer " + a.token, "X-Tenant-ID": "11111111-2222-4333-8444-555555555555"}, 403)
	clk.Add(9 * time.Minute)
	check("before expiry", a.hdr(), 200)
	clk.Add(time.Minute)
	check("expired", a.hdr(), 401)
	if r := do(t, nil, "GET", s.URL()+"/whoami/v1", a.hdr(), ""); r.status != 401 {
		t.Fatalf("whoami with expired token: %d", r.status)
	}
	a.token = getToken(t, s)
	check("new token", a.hdr(), 200)
	s.ExpireTokens()
	check("ExpireTokens", a.hdr(), 401)
}

func TestWhoamiTenant(t *testing.T) {
	s, _ := start(t, Options{})
	a := newAPI(t, s)
	r := do(t, nil, "GET", s.URL()+"/whoami/v1", map[string]string{"Authorization": "Bearer " + a.token}, "")
	if r.status != 200 {
		t.Fatal(r.status)
	}
	var w struct {
		ID       string
		IDType   string
		APIHosts map[string]string
	}
	json.Unmarshal(r.body, &w)
	if w.ID != s.TenantIDs()[0] || w.IDType != "tenant" || w.APIHosts["global"] != s.URL() || w.APIHosts["dataRegion"] != s.URL()+"/region/eu01" {
		t.Fatalf("whoami: %s", r.body)
	}
	// Data APIs answer only under the data region.
	if r := do(t, nil, "GET", s.URL()+"/siem/v1/events", a.hdr(), ""); r.status != 404 {
		t.Fatalf("data API on the global host: %d", r.status)
	}
	if r := do(t, nil, "GET", s.URL()+"/region/us03/siem/v1/events", a.hdr(), ""); r.status != 403 {
		t.Fatalf("data API in the wrong region: %d", r.status)
	}
	// Partner APIs are not for tenant credentials.
	if r := do(t, nil, "GET", s.URL()+"/partner/v1/tenants", map[string]string{"Authorization": "Bearer " + a.token, "X-Partner-ID": w.ID}, ""); r.status != 403 {
		t.Fatalf("partner tenants with tenant credentials: %d", r.status)
	}
}

func TestPartnerTenantsAcrossRegions(t *testing.T) {
	for _, kind := range []string{"partner", "organization"} {
		t.Run(kind, func(t *testing.T) {
			o := Options{Tenants: 7, Events: 300, Alerts: 30}
			header := "X-Partner-ID"
			if kind == "partner" {
				o.Partner = true
			} else {
				o.Organization = true
				header = "X-Organization-ID"
			}
			s, _ := start(t, o)
			tok := getToken(t, s)
			auth := map[string]string{"Authorization": "Bearer " + tok}
			r := do(t, nil, "GET", s.URL()+"/whoami/v1", auth, "")
			w := r.json(t)
			if w["idType"] != kind || w["id"] != s.WhoamiID() {
				t.Fatalf("whoami: %s", r.body)
			}
			if _, ok := w["apiHosts"].(map[string]any)["dataRegion"]; ok {
				t.Fatalf("%s whoami has a dataRegion", kind)
			}
			id := w["id"].(string)
			if kind == "organization" && id != strings.ToUpper(id) {
				t.Fatalf("organization id not upper case: %s", id)
			}
			hdr := map[string]string{"Authorization": "Bearer " + tok, header: id}
			base := s.URL() + "/" + kind + "/v1/tenants"

			// Page through with pageSize 3 and pageTotal.
			var tenants []map[string]any
			for page := 1; page <= 10; page++ {
				r := do(t, nil, "GET", fmt.Sprintf("%s?page=%d&pageSize=3&pageTotal=true", base, page), hdr, "")
				if r.status != 200 {
					t.Fatalf("page %d: %d %s", page, r.status, r.body)
				}
				var p struct {
					Items []map[string]any
					Pages map[string]float64
				}
				json.Unmarshal(r.body, &p)
				if p.Pages["total"] != 3 || p.Pages["items"] != 7 || p.Pages["current"] != float64(page) || p.Pages["maxSize"] != 100 {
					t.Fatalf("pages: %v", p.Pages)
				}
				if len(p.Items) == 0 {
					if page != 4 {
						t.Fatalf("empty page %d", page)
					}
					break
				}
				tenants = append(tenants, p.Items...)
			}
			if len(tenants) != 7 {
				t.Fatalf("%d tenants", len(tenants))
			}
			// Without pageTotal there is no total.
			r = do(t, nil, "GET", base, hdr, "")
			if strings.Contains(string(r.body), `"total"`) {
				t.Fatalf("total without pageTotal: %s", r.body)
			}
			hosts := map[string]bool{}
			for _, tn := range tenants {
				api := tn["apiHost"].(string)
				hosts[api] = true
				tid := tn["id"].(string)
				if api != s.DataURL(tid) || tn[kind].(map[string]any)["id"] != id {
					t.Fatalf("tenant: %v", tn)
				}
				th := map[string]string{"Authorization": "Bearer " + tok, "X-Tenant-ID": tid}
				// apiHost verbatim works, the global host does not.
				if r := do(t, nil, "GET", api+"/siem/v1/events?limit=10", th, ""); r.status != 200 || !strings.Contains(string(r.body), tid) {
					t.Fatalf("tenant %s via apiHost: %d", tid, r.status)
				}
				if r := do(t, nil, "GET", s.URL()+"/siem/v1/events?limit=10", th, ""); r.status != 404 {
					t.Fatalf("tenant %s via the global host: %d", tid, r.status)
				}
				// Single tenant.
				if r := do(t, nil, "GET", base+"/"+tid, hdr, ""); r.status != 200 || r.json(t)["id"] != tid {
					t.Fatalf("single tenant: %d", r.status)
				}
			}
			if len(hosts) != 2 {
				t.Fatalf("tenants over %d regions, want 2", len(hosts))
			}
			// Cross-region: tenant 0 and 1 are in different regions.
			ids := s.TenantIDs()
			th := map[string]string{"Authorization": "Bearer " + tok, "X-Tenant-ID": ids[0]}
			if r := do(t, nil, "GET", s.DataURL(ids[1])+"/siem/v1/events", th, ""); r.status != 403 {
				t.Fatalf("tenant in the wrong region: %d", r.status)
			}
			checks := []struct {
				name string
				hdr  map[string]string
				path string
				want int
			}{
				{"missing scope header", auth, base, 401},
				{"wrong scope id", map[string]string{"Authorization": "Bearer " + tok, header: "00000000-0000-4000-8000-000000000000"}, base, 403},
				{"foreign tenant", hdr, base + "/00000000-0000-4000-8000-000000000000", 403},
				{"page size too big", hdr, base + "?pageSize=101", 400},
				{"page zero", hdr, base + "?page=0", 400},
			}
			for _, c := range checks {
				if r := do(t, nil, "GET", s.URL()+strings.TrimPrefix(c.path, s.URL()), c.hdr, ""); r.status != c.want {
					t.Errorf("%s: %d, want %d", c.name, r.status, c.want)
				}
			}
		})
	}
}

func TestOptionsValidation(t *testing.T) {
	bad := []Options{
		{Tenants: 3},
		{Partner: true, Organization: true},
		{Events: 10, Alerts: 20},
		{Rate: -1},
	}
	for _, o := range bad {
		if s, err := New(o); err == nil {
			s.Close()
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

func TestEveryDataRouteEnforcesTokenAndTenant(t *testing.T) {
	s, _ := start(t, Options{})
	a := newAPI(t, s)
	ep := s.EndpointIDs(a.tenant)[0]
	al := s.AllIDs(a.tenant, "alert")[0]
	routes := [][2]string{
		{"GET", "/siem/v1/events"}, {"GET", "/siem/v1/alerts"},
		{"GET", "/common/v1/alerts"}, {"POST", "/common/v1/alerts/search"}, {"GET", "/common/v1/alerts/" + al},
		{"POST", "/common/v1/alerts/" + al + "/actions"},
		{"GET", "/endpoint/v1/endpoints"}, {"GET", "/endpoint/v1/endpoints/" + ep},
		{"POST", "/endpoint/v1/endpoints/isolation"}, {"GET", "/endpoint/v1/endpoints/" + ep + "/isolation"},
		{"PATCH", "/endpoint/v1/endpoints/" + ep + "/isolation"},
		{"GET", "/endpoint/v1/endpoints/" + ep + "/tamper-protection"}, {"POST", "/endpoint/v1/endpoints/" + ep + "/tamper-protection"},
		{"GET", "/endpoint/v1/settings/tamper-protection"},
		{"POST", "/endpoint/v1/endpoints/" + ep + "/scans"}, {"POST", "/endpoint/v1/endpoints/" + ep + "/update-checks"},
		{"GET", "/account-health-check/v1/health-check"},
	}
	base := s.DataURL(a.tenant)
	for _, rt := range routes {
		for _, c := range []struct {
			name string
			hdr  map[string]string
			want int
		}{
			{"no token", map[string]string{"X-Tenant-ID": a.tenant}, 401},
			{"no tenant", map[string]string{"Authorization": "Bearer " + a.token}, 401},
			{"foreign tenant", map[string]string{"Authorization": "Bearer " + a.token, "X-Tenant-ID": "9b1d4e62-0a7c-4f35-b2e8-41c6d7a90f24"}, 403},
		} {
			r := do(t, nil, rt[0], base+rt[1], c.hdr, "")
			if r.status != c.want {
				t.Errorf("%s %s %s: %d, want %d", rt[0], rt[1], c.name, r.status, c.want)
				continue
			}
			m := r.json(t)
			if m["error"] == nil || m["correlationId"] == nil || m["requestId"] == nil || r.header.Get("Content-Type") != "application/json" {
				t.Errorf("%s %s %s: not the standard error body: %s", rt[0], rt[1], c.name, r.body)
			}
		}
	}
	if n := s.Requests()["GET /siem/v1/events 401"]; n != 2 {
		t.Errorf("request counter: %d", n)
	}
}
