package sophos

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

func TestConfigDefaultsAndValidation(t *testing.T) {
	c, err := NewClient(Config{ClientID: "id", ClientSecret: "s"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := c.Config()
	if got.AuthURL != DefaultAuthURL || got.APIHost != DefaultAPIHost || got.Timeout != DefaultTimeout || got.Retry != DefaultRetry {
		t.Fatalf("defaults not applied: %+v", got)
	}
	c, err = NewClient(Config{ClientID: "id", ClientSecret: "s", APIHost: "api.central.sophos.com/", AuthURL: "http://127.0.0.1:1/tok"}, nil)
	if err != nil || c.Config().APIHost != "https://api.central.sophos.com" || c.Config().AuthURL != "http://127.0.0.1:1/tok" {
		t.Fatalf("bare host / http URL: %+v %v", c.Config(), err)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{ClientSecret: "s"}, "sophos.client_id"},
		{Config{ClientID: "i"}, "sophos.client_secret"},
		{Config{ClientID: "i", ClientSecret: "s", APIHost: "ftp://x"}, "sophos.api_host"},
		{Config{ClientID: "i", ClientSecret: "s", AuthURL: "https://"}, "sophos.auth_url"},
		{Config{ClientID: "i", ClientSecret: "s", FromDateOffsetMinutes: -1}, "sophos.from_date_offset_minutes"},
		{Config{ClientID: "i", ClientSecret: "s", CAFile: "/nonexistent/ca.pem"}, "sophos.ca_file"},
	} {
		_, err := NewClient(tc.cfg, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want it to name %s", tc.cfg, err, tc.want)
		}
	}
}

func TestBackoffBoundsAndRetryAfter(t *testing.T) {
	c, _ := NewClient(Config{ClientID: "i", ClientSecret: "s", Retry: RetryPolicy{Initial: 100 * time.Millisecond, Max: time.Second, MaxRetryAfter: 10 * time.Second}}, nil)
	for attempt := 1; attempt <= 12; attempt++ {
		d := min(time.Second, 100*time.Millisecond<<(attempt-1))
		for range 50 {
			if b := c.backoff(attempt); b < d/2 || b > d {
				t.Fatalf("attempt %d: backoff %v outside [%v, %v]", attempt, b, d/2, d)
			}
		}
	}
	h := http.Header{}
	if _, ok := c.retryAfter(h); ok {
		t.Fatal("no header must mean no Retry-After")
	}
	h.Set("Retry-After", "2")
	if d, ok := c.retryAfter(h); !ok || d != 2*time.Second {
		t.Fatalf("seconds: %v %v", d, ok)
	}
	h.Set("Retry-After", "3600")
	if d, _ := c.retryAfter(h); d != 10*time.Second {
		t.Fatalf("cap: %v", d)
	}
	h.Set("Retry-After", time.Now().Add(3*time.Second).UTC().Format(http.TimeFormat))
	if d, ok := c.retryAfter(h); !ok || d <= time.Second || d > 3*time.Second {
		t.Fatalf("HTTP date: %v %v", d, ok)
	}
	h.Set("Retry-After", "soon")
	if _, ok := c.retryAfter(h); ok {
		t.Fatal("garbage must be ignored")
	}
}

func TestClampSinceAndCursorTime(t *testing.T) {
	now := time.Date(2024, 5, 14, 12, 0, 0, 0, time.UTC)
	if got := ClampSince(time.Time{}, now); !got.Equal(now.Add(-23*time.Hour - 59*time.Minute)) {
		t.Fatalf("zero since: %v", got)
	}
	if got := ClampSince(now.Add(-48*time.Hour), now); !got.Equal(now.Add(-23*time.Hour - 59*time.Minute)) {
		t.Fatalf("old since: %v", got)
	}
	if got := ClampSince(now.Add(time.Hour), now); !got.Equal(now) {
		t.Fatalf("future since: %v", got)
	}
	if got := ClampSince(now.Add(-time.Hour), now); !got.Equal(now.Add(-time.Hour)) {
		t.Fatalf("inside window: %v", got)
	}
	// The official unit tests' cursor, and the emulator's URL-safe form.
	ct, ok := CursorTime(base64.StdEncoding.EncodeToString([]byte("V2_CURSOR|2019-04-01T18:25:41.606Z")))
	if !ok || !ct.Equal(time.Date(2019, 4, 1, 18, 25, 41, 606e6, time.UTC)) {
		t.Fatalf("cursor time %v %v", ct, ok)
	}
	if _, ok := CursorTime(base64.URLEncoding.EncodeToString([]byte("V2_CURSOR|2024-05-14T08:00:00.000Z|some-id"))); !ok {
		t.Fatal("URL-safe cursor with id not read")
	}
	if _, ok := CursorTime("not a cursor"); ok {
		t.Fatal("garbage cursor read")
	}
}

func TestSIEMQuery(t *testing.T) {
	c, _ := NewClient(Config{ClientID: "i", ClientSecret: "s", FromDateOffsetMinutes: 5}, nil)
	tn := Tenant{ID: "t1", APIHost: "https://api-eu01.central.sophos.com"}
	since := time.Unix(1715630400, 0)
	cl := c.siemCall(tn, pipeline.Events, "", since, SIEMOptions{Light: true, ExcludeTypes: []string{"X::Y", "Event::Endpoint::Compliant"}})
	want := "limit=1000&from_date=1715630400&exclude_types=" +
		strings.ReplaceAll(strings.ReplaceAll(strings.Join(append(LightExcludeTypes, "X::Y"), ","), ":", "%3A"), ",", "%2C") +
		"&from_date_offset_minutes=5"
	if cl.query != want {
		t.Fatalf("query\n got %s\nwant %s", cl.query, want)
	}
	cl = c.siemCall(tn, pipeline.Alerts, "VjJf+Q1/=", since, SIEMOptions{Limit: 5000, Light: true, ExcludeTypes: []string{"X"}})
	if cl.query != "limit=1000&cursor=VjJf%2BQ1%2F%3D&from_date_offset_minutes=5" || cl.url() != "https://api-eu01.central.sophos.com/siem/v1/alerts?"+cl.query || cl.tenant != "t1" {
		t.Fatalf("alerts query: %s", cl.url())
	}
}

func TestAPIErrorMessages(t *testing.T) {
	id := func(s string) string { return s }
	e := newAPIError(403, "GET", "/siem/v1/events", []byte(`{"error":"Forbidden","correlationId":"c-1","requestId":"r-1"}`), id)
	if msg := e.Error(); !strings.Contains(msg, "403 Forbidden") || !strings.Contains(msg, "correlationId c-1") || !strings.Contains(msg, "sophos.tenants") {
		t.Fatalf("403: %s", msg)
	}
	e = newAPIError(502, "GET", "/x", []byte("<html>Bad gateway</html>"), id)
	if msg := e.Error(); !strings.Contains(msg, "unexpected response: <html>Bad gateway</html>") || !e.Temporary() {
		t.Fatalf("non-JSON: %s", msg)
	}
	e = newAPIError(400, "GET", "/siem/v1/alerts", nil, id)
	if msg := e.Error(); !strings.Contains(msg, "400 Bad Request") || !strings.Contains(msg, "24 h") {
		t.Fatalf("empty: %s", msg)
	}
	e = newAPIError(409, "PATCH", "/endpoint/v1/endpoints/x/isolation", []byte(`{"message":"Isolation or removal from isolation in progress","code":"conflict"}`), id)
	if !errors.Is(e, ErrIsolationInProgress) || errors.Is(newAPIError(400, "", "", nil, id), ErrIsolationInProgress) {
		t.Fatal("409 must match ErrIsolationInProgress, 400 must not")
	}
	e = newAPIError(500, "GET", "/x", []byte(`{"error":{"nested":true},"message":123}`), id)
	if e.Code == "" || e.Message != "123" {
		t.Fatalf("lenient scalars: %+v", e)
	}
	var retry interface{ Retryable() bool } // what the pipeline runner checks
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{newAPIError(503, "GET", "/x", nil, id), true},
		{newAPIError(429, "GET", "/x", nil, id), true},
		{newAPIError(400, "GET", "/x", nil, id), false},
		{newAPIError(403, "GET", "/x", nil, id), false},
		{authErrorFor(401, "oauth.invalid_client_secret", "", "", nil, id), false},
		{authErrorFor(503, "", "", "", nil, id), true},
		{&AuthError{Cause: "cannot reach", Err: errors.New("connection refused")}, true},
		{&PageError{Reason: "cut"}, true},
	} {
		if !errors.As(tc.err, &retry) || retry.Retryable() != tc.want {
			t.Errorf("%v: Retryable() != %v", tc.err, tc.want)
		}
	}
	a := authErrorFor(401, "oauth.invalid_client_secret", "Unauthorized", "trk", nil, id)
	if a.Error() != "auth failed: invalid client secret (401 oauth.invalid_client_secret) [trackingId trk] — check sophos.client_secret" {
		t.Fatalf("auth: %s", a.Error())
	}
	if a := authErrorFor(404, "", "", "", []byte("not found"), id); !strings.Contains(a.Error(), "sophos.auth_url") {
		t.Fatalf("auth 404: %s", a.Error())
	}
}

func TestNarrowTenants(t *testing.T) {
	all := []Tenant{{ID: "AAA-1", Name: "Alpha", ShowAs: "Alpha (EU)"}, {ID: "bbb-2", Name: "Beta"}}
	partner := &Identity{ID: "p", IDType: IDTypePartner}
	got, err := narrowTenants(all, []string{"beta", "aaa-1", "Alpha (EU)"}, partner)
	if err != nil || len(got) != 2 || got[0].ID != "bbb-2" || got[1].ID != "AAA-1" {
		t.Fatalf("got %+v %v", got, err)
	}
	_, err = narrowTenants(all, []string{"Gamma"}, partner)
	if err == nil || !strings.Contains(err.Error(), `"Gamma"`) || !strings.Contains(err.Error(), "sophos.tenants") {
		t.Fatalf("unknown tenant: %v", err)
	}
}
