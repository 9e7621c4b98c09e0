package httpout

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/config"
)

// TestSecretsRedactEveryForm: a credential is hidden as sent, URL-encoded
// and JSON-escaped; a longer secret that holds a shorter one goes whole;
// values under 4 bytes are left alone; With adds a token for one answer
// without keeping it.
func TestSecretsRedactEveryForm(t *testing.T) {
	var s Secrets
	s.Add("p@ss/wörd\"1", "abc")
	s.AddHeaders(map[string]config.Secret{"X-Api-Key": config.Secret("key-123456")})
	s.AddBasic("user", "key-123456-longer")
	s.AddQuery("https://h/p?code=q-secret&x=ab")
	answer := `sent p@ss/wörd"1, p%40ss%2Fw%C3%B6rd%221, p@ss%2Fw%C3%B6rd%221, p@ss/wörd\"1; key key-123456-longer and key-123456; q-secret; abc; ab; Basic dXNlcjprZXktMTIzNDU2LWxvbmdlcg==; tok-999`
	got := string(s.With("tok-999").Redact([]byte(answer)))
	for _, leaked := range []string{"wörd", "w%C3%B6rd", "key-123456", "longer", "q-secret", "dXNlcjpr", "tok-999"} {
		if strings.Contains(got, leaked) {
			t.Errorf("%q left in %q", leaked, got)
		}
	}
	if !strings.Contains(got, "abc; ab;") {
		t.Errorf("short values were redacted: %q", got)
	}
	if strings.Contains(s.RedactString("tok-999"), "[redacted]") {
		t.Error("With kept the token in the sink's secrets")
	}
}

func TestNewRequestAndAuth(t *testing.T) {
	req, err := NewRequest(context.Background(), "PUT", "http://h/x", []byte("b"), "text/plain", true, map[string]config.Secret{"X-K": "v"})
	if err != nil {
		t.Fatal(err)
	}
	SetAuth(req, "bearer", "", "", "tk")
	if req.Method != "PUT" || req.Header.Get("Content-Type") != "text/plain" || req.Header.Get("Content-Encoding") != "gzip" ||
		req.Header.Get("X-K") != "v" || req.Header.Get("Authorization") != "Bearer tk" {
		t.Fatalf("request %s %v", req.Method, req.Header)
	}
	req, _ = NewRequest(context.Background(), "POST", "http://h/x", nil, "a/b", false, nil)
	SetAuth(req, "basic", "u", "p", "")
	if u, p, ok := req.BasicAuth(); !ok || u != "u" || p != "p" || req.Header.Get("Content-Encoding") != "" {
		t.Fatalf("basic: %v", req.Header)
	}
	cause := errors.New("connection refused")
	if got := Cause(&url.Error{Op: "Post", URL: "http://h/x?key=secret", Err: cause}); got != cause {
		t.Fatalf("Cause = %v", got)
	}
}
