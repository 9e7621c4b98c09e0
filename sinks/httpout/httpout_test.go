package httpout

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

func encoded(sizes ...int) *Encoded {
	var e Encoded
	for i, n := range sizes {
		e.Body = append(e.Body, strings.Repeat("x", n)...)
		e.Add(i)
	}
	return &e
}

func TestCut(t *testing.T) {
	e := encoded(40, 40, 40, 200, 10, 10)
	got := e.Cut(100, 1, 0)
	want := []Span{{0, 2}, {2, 3}, {3, 4}, {4, 6}}
	if len(got) != len(want) {
		t.Fatalf("%v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%v, want %v", got, want)
		}
	}
	if got := e.Cut(1000, 0, 2); len(got) != 3 || got[2] != (Span{4, 6}) {
		t.Fatalf("max events: %v", got)
	}
	if string(e.Record(3)) != strings.Repeat("x", 200) {
		t.Fatal("Record")
	}
}

// receiver refuses any request holding one of bad; it counts requests.
func receiver(bad map[int]bool, hint bool, calls *int) func(context.Context, Span) Result {
	return func(_ context.Context, sp Span) Result {
		*calls++
		for i := sp.Lo; i < sp.Hi; i++ {
			if bad[i] {
				r := Fail(Split, errors.New("bad record"))
				if hint {
					r.Bad = i - sp.Lo
				}
				return r
			}
		}
		return Ok()
	}
}

func TestSettleFindsBadRecords(t *testing.T) {
	for _, hint := range []bool{false, true} {
		bad := map[int]bool{3: true, 517: true, 518: true}
		out := make([]error, 1000)
		calls := 0
		Settle(context.Background(), Span{0, 1000}, receiver(bad, hint, &calls), out)
		for i, err := range out {
			if bad[i] != (err != nil) || (err != nil && !pipeline.IsPermanent(err)) {
				t.Fatalf("hint=%v record %d: %v", hint, i, err)
			}
		}
		if hint && calls > 10 || !hint && calls > 60 {
			t.Fatalf("hint=%v: %d requests to find 3 bad records in 1000", hint, calls)
		}
		t.Logf("hint=%v: %d requests", hint, calls)
	}
}

func TestSettleRetryAndReject(t *testing.T) {
	out := make([]error, 4)
	Settle(context.Background(), Span{0, 4}, func(context.Context, Span) Result { return Fail(Retry, errors.New("busy")) }, out)
	for _, err := range out {
		if err == nil || pipeline.IsPermanent(err) {
			t.Fatalf("retry: %v", out)
		}
	}
	Settle(context.Background(), Span{0, 4}, func(context.Context, Span) Result { return Fail(Reject, errors.New("no")) }, out)
	for _, err := range out {
		if !pipeline.IsPermanent(err) {
			t.Fatalf("reject: %v", out)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	Settle(ctx, Span{0, 4}, func(context.Context, Span) Result { t.Fatal("sent after cancel"); return Ok() }, out)
	if !errors.Is(out[0], context.Canceled) {
		t.Fatalf("cancelled: %v", out)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"3": 3 * time.Second, "0": 0, "1.5": 1500 * time.Millisecond, "86400": MaxRetryAfter,
		"Tue, 01 Dec 2026 10:00:30 GMT": 30 * time.Second, "Tue, 01 Dec 2026 09:00:00 GMT": 0,
	} {
		d, ok := RetryAfter(http.Header{"Retry-After": {v}}, now)
		if !ok || d != want {
			t.Errorf("%q: %s %v, want %s", v, d, ok, want)
		}
	}
	if _, ok := RetryAfter(http.Header{"Retry-After": {"soon"}}, now); ok {
		t.Error("garbage accepted")
	}
	var g Gate
	g.Hold(150 * time.Millisecond)
	start := time.Now()
	if err := g.Wait(context.Background()); err != nil || time.Since(start) < 140*time.Millisecond {
		t.Fatalf("gate: %v after %s", err, time.Since(start))
	}
}

// TestClientCredentials: the token is cached, refreshed ahead of expiry,
// dropped on Invalidate, and a refusal is a *TokenError carrying the
// server's error but never the secret.
func TestClientCredentials(t *testing.T) {
	var issued atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("scope") != "a b" {
			w.WriteHeader(400)
			return
		}
		if r.PostForm.Get("client_secret") != "right" {
			w.WriteHeader(401)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"})
			return
		}
		n := issued.Add(1)
		json.NewEncoder(w).Encode(map[string]any{"access_token": "tok" + string(rune('0'+n)), "token_type": "Bearer", "expires_in": 1})
	}))
	defer srv.Close()
	cc := &ClientCredentials{TokenURL: srv.URL, ClientID: "id", ClientSecret: "right", Scope: "a b"}
	ctx := context.Background()
	t1, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if t2, _ := cc.Token(ctx); t2 != t1 {
		t.Fatal("not cached")
	}
	time.Sleep(850 * time.Millisecond) // past 4/5 of a 1 s lifetime
	t3, _ := cc.Token(ctx)
	if t3 == t1 {
		t.Fatal("not refreshed ahead of expiry")
	}
	cc.Invalidate(t3)
	if t4, _ := cc.Token(ctx); t4 == t3 || issued.Load() != 3 {
		t.Fatalf("not dropped on Invalidate (%d issued)", issued.Load())
	}
	cc = &ClientCredentials{TokenURL: srv.URL, ClientID: "id", ClientSecret: "wrong-s3cret", Scope: "a b"}
	_, err = cc.Token(ctx)
	if !IsTokenError(err) || err.Error() != "token endpoint answered 401 invalid_client: AADSTS7000215: Invalid client secret provided." {
		t.Fatalf("refusal: %v", err)
	}
}

// TestClientUserAgent: the HTTP sinks' client (splunk_hec, sentinel, http)
// names the collector, not Go-http-client.
func TestClientUserAgent(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.UserAgent() }))
	defer srv.Close()
	c, err := NewClient(config.TLS{}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if ua := <-got; !strings.HasPrefix(ua, "sophos-connect/") {
		t.Fatalf("User-Agent %q, want sophos-connect/<version>", ua)
	}
}
