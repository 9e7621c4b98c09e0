package httpsink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
	"github.com/sophos-connect/sophos-connect/sinks/httpsink/httpsinktest"
)

func testConfig(srv *httpsinktest.Server) Config {
	c := DefaultConfig()
	c.URL = srv.URL + "/ingest"
	c.Timeout = config.Duration(10 * time.Second)
	return c
}

func started(t testing.TB, c Config) *Sink {
	t.Helper()
	s, err := New("web", c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) {}, ""},
		{func(c *Config) { c.URL = "ftp://x" }, "not an http(s) URL"},
		{func(c *Config) { c.URL = "https://u:p@x/" }, "must not carry credentials"},
		{func(c *Config) { c.Method = "PATCH" }, "not POST or PUT"},
		{func(c *Config) { c.Body = "xml" }, "not ndjson, json_array or single"},
		{func(c *Config) { c.Body, c.Format = "json_array", "cef" }, "body json_array needs"},
		{func(c *Config) { c.RetryOn = []string{"6xx"} }, "retry_on"},
		{func(c *Config) { c.Auth.Type = "digest" }, "auth.type"},
		{func(c *Config) { c.Auth.Type = "bearer" }, "auth.token"},
		{func(c *Config) { c.Auth.Type = "oauth2" }, "auth.token_url"},
		{func(c *Config) { c.Headers = map[string]config.Secret{"Bad Name": "x"} }, "not a header name"},
	} {
		c := DefaultConfig()
		c.URL = "https://siem.example/ingest"
		tc.edit(&c)
		err := c.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("want %q, got %v", tc.want, err)
		}
	}
	c := DefaultConfig()
	c.Headers = map[string]config.Secret{"X-Api-Key": "k3y-value"}
	c.Auth = Auth{Type: "oauth2", ClientSecret: "s3cret-value", Password: "pa55", Token: "t0ken"}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		for _, v := range []string{"k3y-value", "s3cret-value", "pa55", "t0ken"} {
			if strings.Contains(s, v) {
				t.Fatalf("%s printed: %s", v, s)
			}
		}
	}
}

// TestPolicy: the default and a custom status policy.
func TestPolicy(t *testing.T) {
	def := DefaultConfig()
	p := policy{parseAll(def.RetryOn), parseAll(def.RejectOn), parseAll(def.SplitOn)}
	for status, want := range map[int]httpout.Kind{200: httpout.OK, 204: httpout.OK, 400: httpout.Split, 401: httpout.Reject,
		404: httpout.Reject, 408: httpout.Retry, 413: httpout.Split, 422: httpout.Split, 429: httpout.Retry, 500: httpout.Retry, 503: httpout.Retry, 302: httpout.Retry} {
		if got := p.kind(status); got != want {
			t.Errorf("default %d: %v, want %v", status, got, want)
		}
	}
	p = policy{parseAll([]string{"401", "5xx"}), parseAll([]string{"4xx", "501"}), nil}
	for status, want := range map[int]httpout.Kind{401: httpout.Retry, 400: httpout.Reject, 501: httpout.Reject, 502: httpout.Retry} {
		if got := p.kind(status); got != want {
			t.Errorf("custom %d: %v, want %v", status, got, want)
		}
	}
}

// TestBodies: each body shape arrives as the receiver decodes it, with the
// method, the headers and gzip.
func TestBodies(t *testing.T) {
	srv := httpsinktest.New(httpsinktest.Options{})
	defer srv.Close()
	recs := outtest.Records(t, "body", 25)
	for _, tc := range []struct {
		body, format, method, gz, ctype string
		requests                        int
	}{
		{"ndjson", "raw", "POST", "gzip", "application/x-ndjson", 1},
		{"json_array", "ecs", "PUT", "none", "application/json", 1},
		{"single", "cef", "POST", "gzip", "text/plain; charset=utf-8", 25},
		{"ndjson", "keyvalue", "POST", "none", "application/x-ndjson", 1},
	} {
		before := len(srv.Requests())
		c := testConfig(srv)
		c.Body, c.Format, c.Method, c.Compression = tc.body, tc.format, tc.method, tc.gz
		c.Headers = map[string]config.Secret{"X-Api-Key": "k"}
		s := started(t, c)
		if err := s.Write(context.Background(), recs); err != nil {
			t.Fatalf("%s/%s: %v", tc.body, tc.format, err)
		}
		reqs := srv.Requests()[before:]
		n := 0
		for _, rq := range reqs {
			if rq.Method != tc.method || rq.ContentType != tc.ctype || rq.Header.Get("X-Api-Key") != "k" || rq.Status != 202 {
				t.Fatalf("%s: request %+v", tc.body, rq)
			}
			n += len(rq.Records)
		}
		if len(reqs) != tc.requests || n != len(recs) {
			t.Fatalf("%s/%s: %d requests with %d records", tc.body, tc.format, len(reqs), n)
		}
	}
	got := srv.IDs()
	for _, id := range outtest.IDs(recs) {
		if got[id] != 4 {
			t.Fatalf("%s arrived %d times, want once per shape", id, got[id])
		}
	}
}

// TestAuth: basic, bearer and OAuth2 (one token for many requests; a new one
// after the receiver expires it).
func TestAuth(t *testing.T) {
	recs := outtest.Records(t, "auth", 5)
	ctx := context.Background()
	b := httpsinktest.New(httpsinktest.Options{Username: "u", Password: "p"})
	defer b.Close()
	c := testConfig(b)
	c.Auth = Auth{Type: "basic", Username: "u", Password: "p"}
	if err := started(t, c).Write(ctx, recs); err != nil {
		t.Fatal(err)
	}
	c.Auth.Password = "wrong"
	err := started(t, c).Write(ctx, recs)
	var be *pipeline.BatchError
	if !errors.As(err, &be) || len(be.Items) != 5 || !pipeline.IsPermanent(be.Items[0].Err) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong password: %v (reject_on 4xx)", err)
	}

	br := httpsinktest.New(httpsinktest.Options{Bearer: "tok"})
	defer br.Close()
	c = testConfig(br)
	c.Auth = Auth{Type: "bearer", Token: "tok"}
	if err := started(t, c).Write(ctx, recs); err != nil {
		t.Fatal(err)
	}

	o := httpsinktest.New(httpsinktest.Options{ClientID: "cid", ClientSecret: "cs"})
	defer o.Close()
	c = testConfig(o)
	c.Auth = Auth{Type: "oauth2", TokenURL: o.URL + "/oauth2/token", ClientID: "cid", ClientSecret: "cs", Scopes: []string{"ingest"}}
	s := started(t, c)
	for range 3 {
		if err := s.Write(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	o.ExpireTokens()
	if err := s.Write(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if n := o.Tokens(); n != 2 {
		t.Fatalf("%d tokens, want one cached for 3 writes and one after expiry", n)
	}
	c.Auth.ClientSecret = "bad"
	bad, _ := New("web", c, nil)
	if err := bad.Start(ctx); err == nil || !strings.Contains(err.Error(), "invalid_client") || !pipeline.IsAuthFailure(err) || strings.Contains(err.Error(), "bad") && strings.Contains(err.Error(), "secret bad") {
		t.Fatalf("start with a wrong secret: %v", err)
	}
}

// TestOneRecordRefused: the receiver refuses the request holding one bad
// record (400): the request is split until it is alone; only it is
// rejected, the rest delivered once.
func TestOneRecordRefused(t *testing.T) {
	srv := httpsinktest.New(httpsinktest.Options{})
	defer srv.Close()
	s := started(t, testConfig(srv))
	recs := outtest.Records(t, "one", 400)
	srv.SetFaults(httpsinktest.Faults{RejectIDs: []string{recs[321].ID}})
	err := s.Write(context.Background(), recs)
	var be *pipeline.BatchError
	if !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Index != 321 || !pipeline.IsPermanent(be.Items[0].Err) {
		t.Fatalf("want record 321 alone rejected, got %v", err)
	}
	if n := outtest.ExactlyOnce(t, outtest.IDs(recs), srv.IDs(), map[string]bool{recs[321].ID: true}); n != 0 {
		t.Fatalf("%d repeats", n)
	}
}

// TestWholeRequestRejected: a 404 (reject_on 4xx, not a split status)
// rejects the request's records at once, without splitting.
func TestWholeRequestRejected(t *testing.T) {
	srv := httpsinktest.New(httpsinktest.Options{})
	defer srv.Close()
	s := started(t, testConfig(srv))
	srv.SetFaults(httpsinktest.Faults{Statuses: []int{404}})
	err := s.Write(context.Background(), outtest.Records(t, "nf", 50))
	var be *pipeline.BatchError
	if !errors.As(err, &be) || len(be.Items) != 50 || !pipeline.IsPermanent(be.Items[49].Err) || len(srv.Requests()) != 1 {
		t.Fatalf("want 50 rejected by one request, got %v after %d requests", err, len(srv.Requests()))
	}
}
