package httpout

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestTokenAnswerNotEchoed: an answer the client cannot read (a token under
// another key, a form-encoded body) still holds a token: the error, which
// is logged and shown on the status page, names the problem without it.
func TestTokenAnswerNotEchoed(t *testing.T) {
	const tok = "eyJ0b2tlbiI6InNlY3JldCJ9.s3cret-access-t0ken"
	for _, body := range []string{
		`{"accessToken":"` + tok + `","expiresIn":3600}`,
		`access_token=` + tok + `&token_type=bearer`,
		`{"access_token":"` + tok + `","token_type":"mac"}`,
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(body))
		}))
		cc := &ClientCredentials{TokenURL: srv.URL, ClientID: "id", ClientSecret: "sec"}
		_, err := cc.Token(context.Background())
		srv.Close()
		if err == nil || strings.Contains(err.Error(), "s3cret-access-t0ken") {
			t.Errorf("answer %s: want an error without the token, got %v", body, err)
		}
	}
}
