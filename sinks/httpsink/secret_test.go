package httpsink

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
)

// TestURLQueryKeyNotInErrors: a key in the URL's query string (many
// receivers take one there) is hidden by validate, so it must not reach the
// errors either: they are logged, shown on the status page and written to
// the dead-letter file.
func TestURLQueryKeyNotInErrors(t *testing.T) {
	const key = "k3y/Secr+t=9"
	forms := []string{key, url.QueryEscape(key), url.PathEscape(key)}
	check := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", what)
		}
		for _, f := range forms {
			if strings.Contains(err.Error(), f) {
				t.Errorf("%s: the key (%q) is in the error: %v", what, f, err)
			}
		}
	}
	status := http.StatusServiceUnavailable
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
	}))
	defer srv.Close()
	c := DefaultConfig()
	c.URL = srv.URL + "/ingest?api_key=" + url.QueryEscape(key)
	s := started(t, c)
	recs := outtest.Records(t, "q", 2)
	check("503", s.Write(context.Background(), recs))
	status = http.StatusNotFound // rejected: the reason goes to the dead-letter file
	check("404", s.Write(context.Background(), recs))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody listens there now
	c.URL = "http://" + addr + "/ingest?api_key=" + url.QueryEscape(key)
	s = started(t, c)
	check("connection refused", s.Write(context.Background(), recs))
}

// TestURLCredentialsNotEchoed: a url or auth.token_url with user:password@
// that is wrong in another way must not print the password in validate.
func TestURLCredentialsNotEchoed(t *testing.T) {
	for _, u := range []string{"htps://admin:pw5ecret@siem/ingest", "https://admin:pw5ecret@si em/ingest", "https://admin:pw5ecret@siem/ingest"} {
		c := DefaultConfig()
		c.URL = u
		err := c.Validate()
		if err == nil || strings.Contains(err.Error(), "pw5ecret") {
			t.Errorf("url %s: want an error without the password, got %v", u, err)
		}
		c = DefaultConfig()
		c.URL = "https://siem/ingest"
		c.Auth = Auth{Type: "oauth2", TokenURL: u, ClientID: "id", ClientSecret: "s"}
		err = c.Validate()
		if err == nil || strings.Contains(err.Error(), "pw5ecret") {
			t.Errorf("auth.token_url %s: want an error without the password, got %v", u, err)
		}
	}
}

// TestRedirectToGETNotDelivered: a receiver answering 301/302/303 (an
// http→https redirect in front of it, a moved path) makes Go's client
// repeat the request as a GET without the body; the 200 of that GET must
// not count the records as delivered.
func TestRedirectToGETNotDelivered(t *testing.T) {
	var posts int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/ingest":
			http.Redirect(w, r, "/moved", http.StatusMovedPermanently)
		case r.Method == http.MethodPost:
			posts++
			w.WriteHeader(http.StatusOK)
		default:
			w.Write([]byte("<html>a landing page</html>"))
		}
	}))
	defer srv.Close()
	c := DefaultConfig()
	c.URL = srv.URL + "/ingest"
	s := started(t, c)
	err := s.Write(context.Background(), outtest.Records(t, "redir", 3))
	if err == nil && posts == 0 {
		t.Fatal("records counted as delivered, but the receiver only got a GET without them")
	}
	if err != nil && !strings.Contains(err.Error(), "/moved") {
		t.Errorf("the error does not say where the receiver redirects: %v", err)
	}
}

// TestEchoedSecretsRedacted: a receiver that echoes the request's
// credentials in its error body (literally, URL-encoded, JSON-escaped or as
// the Authorization header) must not get them into the error, which is
// logged, shown on the status page and kept as the dead-letter reason.
func TestEchoedSecretsRedacted(t *testing.T) {
	const hdr, pass, tok, key = `h3ader/"val+ue`, `pa55/w"rd+x`, `t0ken/"b+c`, `qu3ry/k+y`
	const access, csecret = `acc3ss/"t+k`, `cl1ent/"s+c`
	for _, auth := range []Auth{{Type: "basic", Username: "siem", Password: pass}, {Type: "bearer", Token: tok},
		{Type: "oauth2", ClientID: "app", ClientSecret: csecret}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/token" {
				b, _ := json.Marshal(map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 3600})
				w.Write(b)
				return
			}
			r.ParseForm()
			w.WriteHeader(http.StatusForbidden)
			b, _ := json.Marshal(map[string]any{"error": "refused", "headers": r.Header, "query": r.URL.RawQuery,
				"decoded": r.URL.Query().Get("api_key") + " " + r.Header.Get("X-Api-Key")})
			w.Write(b)
		}))
		c := DefaultConfig()
		c.URL = srv.URL + "/ingest?api_key=" + url.QueryEscape(key)
		c.Headers = map[string]config.Secret{"X-Api-Key": hdr}
		c.Auth = auth
		if auth.Type == "oauth2" {
			c.Auth.TokenURL = srv.URL + "/token"
		}
		s := started(t, c)
		err := s.Write(context.Background(), outtest.Records(t, "echo", 1))
		srv.Close()
		if err == nil {
			t.Fatal("no error")
		}
		for _, v := range []string{hdr, pass, tok, key, "siem:" + pass, access, csecret} {
			jb, _ := json.Marshal(v)
			forms := []string{v, url.QueryEscape(v), string(jb[1 : len(jb)-1]), base64.StdEncoding.EncodeToString([]byte(v))}
			for _, f := range forms {
				if strings.Contains(err.Error(), f) {
					t.Errorf("auth %s: %q (a form of %q) is in the error: %v", auth.Type, f, v, err)
				}
			}
		}
	}
}

// TestRedirectToAnotherHostNotFollowed: a 307/308 to another host (or port)
// would re-send the request with its custom secret header there; it is not
// followed, the error names the target, and the other host sees nothing.
// A 307 within the same origin is still followed.
func TestRedirectToAnotherHostNotFollowed(t *testing.T) {
	var leaked atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "" || r.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer other.Close()
	for _, code := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		var posts atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/away":
				http.Redirect(w, r, other.URL+"/steal", code)
			case "/here":
				http.Redirect(w, r, "/ingest", code)
			default:
				posts.Add(1)
				w.WriteHeader(http.StatusOK)
			}
		}))
		c := DefaultConfig()
		c.URL = srv.URL + "/away"
		c.Headers = map[string]config.Secret{"X-Api-Key": "k3y-that-must-stay-home"}
		s := started(t, c)
		err := s.Write(context.Background(), outtest.Records(t, "redir", 2))
		if err == nil || !strings.Contains(err.Error(), other.URL) {
			t.Errorf("%d to another host: err %v, want one naming %s", code, err, other.URL)
		}
		if leaked.Load() > 0 {
			t.Fatalf("%d: the secret header was sent to the other host", code)
		}
		c.URL = srv.URL + "/here"
		s = started(t, c)
		if err := s.Write(context.Background(), outtest.Records(t, "redir", 2)); err != nil || posts.Load() == 0 {
			t.Errorf("%d within the same origin: err %v, posts %d", code, err, posts.Load())
		}
		srv.Close()
	}
}
