package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/sources/sophos"
)

// TestAmbiguousHostnameRefused: two endpoints share a hostname, a case the
// emulator does not produce, so a minimal Central stand-in serves the token
// and the endpoint list for this one test.
func TestAmbiguousHostnameRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v2/oauth2/token":
			w.Write([]byte(`{"access_token":"tok","errorCode":"success","expires_in":3600,"message":"OK","token_type":"bearer"}`))
		case "/endpoint/v1/endpoints":
			w.Write([]byte(`{"items":[
				{"id":"11111111-1111-4111-8111-111111111111","type":"computer","hostname":"RECEPTION-PC"},
				{"id":"22222222-2222-4222-8222-222222222222","type":"computer","hostname":"reception-pc"},
				{"id":"33333333-3333-4333-8333-333333333333","type":"computer","hostname":"RECEPTION-PC-2"}],
				"pages":{"size":3,"maxSize":500}}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	client, err := sophos.NewClient(sophos.Config{ClientID: "a", ClientSecret: "b", AuthURL: srv.URL + "/api/v2/oauth2/token", APIHost: srv.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	op := &operator{client: client}
	tenant := sophos.Tenant{ID: "t", APIHost: srv.URL}
	_, err = op.resolveEndpoint(ctxT(t), tenant, "Reception-PC")
	if err == nil || !strings.Contains(err.Error(), "ambiguous") || !strings.Contains(err.Error(), "11111111-") || !strings.Contains(err.Error(), "22222222-") {
		t.Fatalf("ambiguous hostname: %v", err)
	}
	e, err := op.resolveEndpoint(ctxT(t), tenant, "reception-pc-2")
	if err != nil || e.ID != "33333333-3333-4333-8333-333333333333" {
		t.Fatalf("exact hostname: %v %v", e, err)
	}
}
