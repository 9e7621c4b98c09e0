package sophos

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// A tenant whose apiHost is not a trusted https host is refused with an
// ERROR naming the host; the others are pulled; no token reaches it.
func TestForeignTenantHostIsRefused(t *testing.T) {
	emu := newEmu(t, emulator.Options{Tenants: 3, Partner: true, Faults: emulator.Faults{ForeignHost: true, Tenant: "2"}})
	c, logs := newTestClient(t, emu, nil)
	ts, err := c.Tenants(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 {
		t.Fatalf("%d tenants, want the 2 trusted ones", len(ts))
	}
	bad := emu.TenantIDs()[1]
	for _, tn := range ts {
		if tn.ID == bad {
			t.Fatal("the foreign tenant was kept")
		}
	}
	if l := logs.String(); !strings.Contains(l, "tenant "+bad) || !strings.Contains(l, "http://localhost:") || !strings.Contains(l, "not https") {
		t.Fatalf("no ERROR naming the tenant and host:\n%s", l)
	}
	// Even asked directly, the client does not send its token there.
	_, err = c.SIEMPage(testCtx(t), Tenant{ID: bad, APIHost: "http://localhost:1"}, pipeline.Events, pipeline.Position{}, SIEMOptions{})
	var uh *UntrustedHostError
	if !errors.As(err, &uh) {
		t.Fatalf("SIEMPage to a foreign host: %v", err)
	}
	if n := emu.ForeignRequests(); n != 0 {
		t.Fatalf("%d request(s) with the bearer token reached the foreign host", n)
	}
	// Tenant credentials: whoami's dataRegion is checked the same way.
	emu2 := newEmu(t, emulator.Options{Faults: emulator.Faults{ForeignHost: true}})
	c2, _ := newTestClient(t, emu2, nil)
	if _, err := c2.Tenants(testCtx(t)); !errors.As(err, &uh) || !strings.Contains(err.Error(), "dataRegion") {
		t.Fatalf("tenant credentials with a foreign dataRegion: %v", err)
	}
	if emu2.ForeignRequests() != 0 {
		t.Fatal("token sent to the foreign dataRegion")
	}
}

func TestCheckHost(t *testing.T) {
	c, err := NewClient(Config{ClientID: "i", ClientSecret: "secret", APIHost: "http://127.0.0.1:8080", TrustedHosts: []string{"gw.example.net", "*.corp.example"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for raw, ok := range map[string]bool{
		"https://api-eu01.central.sophos.com": true,
		"https://sophos.com":                  true,
		"http://api-eu01.central.sophos.com":  false, // plain http
		"https://api.central.sophos.com.evil": false,
		"https://evilsophos.com":              false,
		"http://127.0.0.1:8080":               true, // api_host's own host (the emulator)
		"http://127.0.0.1:9090":               false,
		"https://gw.example.net":              true,
		"https://a.b.corp.example":            true,
		"https://corp.example.org":            false,
	} {
		if got := c.checkHost(raw, "test") == nil; got != ok {
			t.Errorf("%s: trusted = %v, want %v", raw, got, ok)
		}
	}
}

// A token endpoint that echoes the request body puts the secret, URL-encoded,
// in its message: no form of it reaches the error or the log.
func TestEchoedSecretIsRedactedInEveryForm(t *testing.T) {
	secret := `p@ss w+rd/&="<x>é`
	emu := newEmu(t, emulator.Options{ClientSecret: secret, Faults: emulator.Faults{EchoToken: true}})
	c, logs := newTestClient(t, emu, nil)
	_, err := c.WhoAmI(testCtx(t))
	if err == nil {
		t.Fatal("echo-token: authentication succeeded")
	}
	j, _ := json.Marshal(secret)
	forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret), strings.ToLower(url.QueryEscape(secret)), string(j[1 : len(j)-1])}
	for _, text := range []string{err.Error(), logs.String()} {
		for _, f := range forms {
			if strings.Contains(text, f) {
				t.Fatalf("the secret (as %q) leaked: %s", f, text)
			}
		}
	}
	if !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("the echoed body was not redacted but dropped or changed: %v", err)
	}
	for _, f := range forms {
		if got := Redact("x"+f+"y", secret); got != "x[redacted]y" {
			t.Fatalf("Redact(%q) = %q", f, got)
		}
	}
}

// A tenant listing that ignores page and has no pages.total ends at the
// first page that brings no new tenant, with each tenant once.
func TestTenantsLoopStops(t *testing.T) {
	emu := newEmu(t, emulator.Options{Tenants: 3, Partner: true, Faults: emulator.Faults{TenantsLoop: true}})
	c, _ := newTestClient(t, emu, nil)
	ts, err := c.Tenants(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 3 {
		t.Fatalf("%d tenants, want 3 (deduplicated)", len(ts))
	}
	if n := emu.Requests()["GET /partner/v1/tenants 200"]; n != 2 {
		t.Fatalf("%d tenant pages fetched, want 2 (the second brings nothing new)", n)
	}
}
