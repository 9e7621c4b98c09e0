package sophos

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// TestCAFile: an HTTPS emulator with a private CA works with ca_file and
// fails clearly (once, not retried) without it.
func TestCAFile(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	emu := newEmu(t, emulator.Options{TLS: true, CAFile: ca})
	if !strings.HasPrefix(emu.URL(), "https://") {
		t.Fatalf("emulator URL %s", emu.URL())
	}
	c, _ := newTestClient(t, emu, func(cfg *Config) { cfg.CAFile = ca })
	tn := oneTenant(t, c)
	if _, err := c.SIEMPage(testCtx(t), tn, pipeline.Alerts, pipeline.Position{}, SIEMOptions{}); err != nil {
		t.Fatal(err)
	}
	c2, _ := newTestClient(t, emu, nil)
	_, err := c2.WhoAmI(testCtx(t))
	var ae *AuthError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "sophos.ca_file") || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without ca_file: %v", err)
	}
	if n := emu.Requests()[tokenRoute]; n != 1 {
		t.Fatalf("token requests %d: the failed TLS handshake must not reach the handler", n)
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	_ = os.WriteFile(bad, []byte("not a certificate"), 0o600)
	if _, err := NewClient(Config{ClientID: "i", ClientSecret: "s", CAFile: bad}, nil); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("bad ca_file: %v", err)
	}
}

// TestProxyFromEnvironment runs a child process (http.ProxyFromEnvironment
// reads the environment once per process) with HTTP_PROXY pointing at a
// forwarding proxy in front of the emulator, and host names that are not
// loopback (loopback is never proxied).
func TestProxyFromEnvironment(t *testing.T) {
	if base := os.Getenv("SOPHOS_TEST_PROXY_CHILD"); base != "" {
		c, err := NewClient(Config{ClientID: "emulator-client", ClientSecret: testSecret,
			AuthURL: "http://sophos-id.test/api/v2/oauth2/token", APIHost: "http://sophos-api.test", Timeout: 5 * time.Second,
			TrustedHosts: []string{base}}, nil) // whoami names the emulator's own address as the global host
		if err != nil {
			t.Fatal(err)
		}
		id, err := c.WhoAmI(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if id.ID == "" {
			t.Fatal("no identity")
		}
		return
	}
	emu := newEmu(t, emulator.Options{})
	target, _ := url.Parse(emu.URL())
	var hits atomic.Int32
	var hosts atomic.Value
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		hosts.Store(r.Host)
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestProxyFromEnvironment$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SOPHOS_TEST_PROXY_CHILD="+emu.URL(), "HTTP_PROXY="+proxy.URL, "http_proxy="+proxy.URL,
		"NO_PROXY=", "no_proxy=", "REQUEST_METHOD=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if hits.Load() != 2 || emu.Requests()["GET /whoami/v1 200"] != 1 {
		t.Fatalf("proxy saw %d requests (want token + whoami), emulator %v", hits.Load(), emu.Requests())
	}
	if h, _ := hosts.Load().(string); !strings.HasSuffix(h, ".test") {
		t.Fatalf("proxy got host %q", h)
	}
}

// TestSecretsNeverInErrorsOrLogs provokes every error the client can give
// and checks neither the secret nor a token appears in any message or log
// line. A server echoing them back (httptest: the emulator never does) is
// redacted too.
func TestSecretsNeverInErrorsOrLogs(t *testing.T) {
	emu := newEmu(t, emulator.Options{Partner: true, Tenants: 2, Events: 100, Alerts: 5})
	c, logs := newTestClient(t, emu, func(cfg *Config) { cfg.Retry.MaxAttempts = 2 })
	ctx := testCtx(t)
	ts, err := c.Tenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok := c.cachedToken("")
	if len(tok) < 20 {
		t.Fatalf("token %q", tok)
	}
	var errs []error
	add := func(_ any, err error) {
		if err == nil {
			t.Fatal("expected an error")
		}
		errs = append(errs, err)
	}
	add(c.SIEMPage(ctx, ts[0], pipeline.Events, pipeline.Position{Cursor: "garbage"}, SIEMOptions{}))                             // 400
	add(c.SIEMPage(ctx, Tenant{ID: ts[0].ID, APIHost: ts[1].APIHost + "x"}, pipeline.Events, pipeline.Position{}, SIEMOptions{})) // 403 / 404
	add(c.SIEMPage(ctx, Tenant{ID: "not-a-tenant", APIHost: ts[0].APIHost}, pipeline.Alerts, pipeline.Position{}, SIEMOptions{})) // 403
	emu.ExpireTokens()
	add(c.GetEndpoint(ctx, ts[0], "no-such-endpoint", ViewFull)) // renewal, then 404
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	add(c.WhoAmI(cctx))
	wrong, _ := newTestClient(t, emu, func(cfg *Config) { cfg.ClientSecret = testSecret + "x" })
	add(wrong.WhoAmI(ctx))
	slowEmu := newEmu(t, emulator.Options{Faults: emulator.Faults{Slow: 300 * time.Millisecond}})
	slow, slowLogs := newTestClient(t, slowEmu, func(cfg *Config) { cfg.Timeout = 50 * time.Millisecond; cfg.Retry.MaxAttempts = 1 })
	add(slow.WhoAmI(ctx))
	malEmu := newEmu(t, emulator.Options{Faults: emulator.Faults{Malformed: 0.5}})
	mal, malLogs := newTestClient(t, malEmu, nil)
	malformed := 0
	for i := 0; i < 40 && malformed < 2; i++ {
		var ts []Tenant
		var err error
		if ts, err = mal.Tenants(ctx); err == nil {
			_, err = mal.SIEMPage(ctx, ts[0], pipeline.Events, pipeline.Position{}, SIEMOptions{})
		}
		if err != nil {
			malformed++
			errs = append(errs, err)
		}
	}
	// A server that echoes credentials in its errors.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			_ = r.ParseForm()
			w.WriteHeader(401)
			_, _ = w.Write([]byte(`{"errorCode":"oauth.invalid_client_secret","message":"bad secret ` + r.PostForm.Get("client_secret") + `"}`))
			return
		}
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"error":"badRequest","message":"rejected ` + r.Header.Get("Authorization") + `"}`))
	}))
	defer echo.Close()
	e1, _ := NewClient(Config{ClientID: "i", ClientSecret: testSecret, AuthURL: echo.URL + "/token", APIHost: echo.URL}, nil)
	add(e1.WhoAmI(ctx))
	e2, _ := NewClient(Config{ClientID: emu.Options().ClientID, ClientSecret: testSecret, AuthURL: emu.AuthURL(), APIHost: echo.URL}, nil)
	add(e2.WhoAmI(ctx))
	tok2 := e2.cachedToken("")
	if tok2 == "" || tok2 == tok {
		t.Fatal("no second token")
	}

	for _, err := range errs {
		msg := err.Error()
		t.Log(msg)
		for _, secret := range []string{testSecret, tok, tok2} {
			if strings.Contains(msg, secret) {
				t.Fatalf("secret or token in error: %s", msg)
			}
		}
	}
	if !strings.Contains(errs[len(errs)-1].Error(), "rejected Bearer [redacted]") || !strings.Contains(errs[len(errs)-2].Error(), "[redacted]") {
		t.Fatalf("echoed credentials not redacted: %v / %v", errs[len(errs)-2], errs[len(errs)-1])
	}
	for _, l := range []string{logs.String(), slowLogs.String(), malLogs.String()} {
		if strings.Contains(l, testSecret) || strings.Contains(l, tok) || strings.Contains(l, "Bearer") {
			t.Fatalf("secret or token in the log:\n%s", l)
		}
	}
	if len(errs) < 10 {
		t.Fatalf("only %d errors provoked", len(errs))
	}
}

// TestRetryPolicyPerMethod (httptest: the emulator's faults do not target
// POST task routes): a 500 on a scan request is not resent (it may have
// started a scan), a 503 is; a GET is resent after a 500.
func TestRetryPolicyPerMethod(t *testing.T) {
	var posts, gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/token":
			_, _ = w.Write([]byte(`{"access_token":"tok-123456","expires_in":3600,"errorCode":"success"}`))
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/scans"):
			if n := posts.Add(1); n == 1 {
				w.WriteHeader(503) // not acted on: safe to resend
			} else if n == 2 {
				w.WriteHeader(201)
				_, _ = w.Write([]byte(`{"id":"s1","status":"requested","requestedAt":"2024-05-14T09:30:00.000Z"}`))
			} else {
				w.WriteHeader(500)
			}
		default:
			if gets.Add(1) == 1 {
				w.WriteHeader(500)
				return
			}
			_, _ = w.Write([]byte(`{"enabled":true}`))
		}
	}))
	defer srv.Close()
	c, err := NewClient(Config{ClientID: "i", ClientSecret: "s", AuthURL: srv.URL + "/token", APIHost: srv.URL,
		Retry: RetryPolicy{Initial: time.Millisecond, Max: 5 * time.Millisecond}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tn := Tenant{ID: "t", APIHost: srv.URL}
	ctx := testCtx(t)
	if task, err := c.Scan(ctx, tn, "e1"); err != nil || task.Status != "requested" || posts.Load() != 2 {
		t.Fatalf("scan after a 503: %+v %v (%d posts)", task, err, posts.Load())
	}
	_, err = c.Scan(ctx, tn, "e1")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 500 || posts.Load() != 3 {
		t.Fatalf("scan 500 must fail at once: %v (%d posts)", err, posts.Load())
	}
	if on, err := c.GlobalTamperProtection(ctx, tn); err != nil || !on || gets.Load() != 2 {
		t.Fatalf("GET after a 500: %v %v (%d gets)", on, err, gets.Load())
	}
}
