package emulator

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// fakeClock is a settable clock for tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time            { return c.t }
func (c *fakeClock) Add(d time.Duration)       { c.t = c.t.Add(d) }
func newClock() *fakeClock                     { return &fakeClock{time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)} }
func (c *fakeClock) Unix() int64               { return c.t.Unix() }
func (c *fakeClock) Ago(d time.Duration) int64 { return c.t.Add(-d).Unix() }

// start runs an emulator for the test with a fake clock.
func start(t *testing.T, o Options) (*Server, *fakeClock) {
	t.Helper()
	clk := newClock()
	if o.Now == nil {
		o.Now = clk.Now
	}
	s, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(s.Close)
	return s, clk
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %.300s", err, r.body)
	}
	return m
}

func do(t *testing.T, c *http.Client, method, u string, hdr map[string]string, body string) resp {
	t.Helper()
	if c == nil {
		c = http.DefaultClient
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp{res.StatusCode, res.Header, b}
}

// getToken fetches an access token with the form body.
func getToken(t *testing.T, s *Server) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"token"},
		"client_id": {s.opts.ClientID}, "client_secret": {s.opts.ClientSecret}}
	r := do(t, nil, "POST", s.AuthURL(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, form.Encode())
	if r.status != 200 {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	return r.json(t)["access_token"].(string)
}

// api is a tiny test client for one tenant.
type api struct {
	t      *testing.T
	s      *Server
	token  string
	tenant string
}

func newAPI(t *testing.T, s *Server) *api {
	return &api{t: t, s: s, token: getToken(t, s), tenant: s.TenantIDs()[0]}
}

func (a *api) hdr() map[string]string {
	return map[string]string{"Authorization": "Bearer " + a.token, "X-Tenant-ID": a.tenant}
}

func (a *api) get(path string) resp {
	a.t.Helper()
	return do(a.t, nil, "GET", a.s.DataURL(a.tenant)+path, a.hdr(), "")
}

func (a *api) send(method, path, body string) resp {
	a.t.Helper()
	return do(a.t, nil, method, a.s.DataURL(a.tenant)+path, a.hdr(), body)
}

// siemPage is a decoded SIEM response.
type siemPage struct {
	HasMore    *bool            `json:"has_more"`
	Items      []map[string]any `json:"items"`
	NextCursor *string          `json:"next_cursor"`
}

func (a *api) siem(stream, query string) (siemPage, resp) {
	a.t.Helper()
	r := a.get("/siem/v1/" + stream + "?" + query)
	var p siemPage
	if r.status == 200 {
		if err := json.Unmarshal(r.body, &p); err != nil {
			a.t.Fatalf("page: %v: %.300s", err, r.body)
		}
		if p.HasMore == nil || p.NextCursor == nil || p.Items == nil {
			a.t.Fatalf("page lacks has_more/items/next_cursor: %.300s", r.body)
		}
	}
	return p, r
}

// pageAll pages a stream until has_more is false and returns the ids.
func (a *api) pageAll(stream, first string) ([]string, string) {
	a.t.Helper()
	var ids []string
	q := first
	for i := 0; i < 100000; i++ {
		p, r := a.siem(stream, q)
		if r.status != 200 {
			a.t.Fatalf("page %d: %d %s", i, r.status, r.body)
		}
		for _, it := range p.Items {
			ids = append(ids, it["id"].(string))
		}
		q = "limit=1000&cursor=" + url.QueryEscape(*p.NextCursor)
		if !*p.HasMore {
			return ids, *p.NextCursor
		}
	}
	a.t.Fatal("paging did not end")
	return nil, ""
}
