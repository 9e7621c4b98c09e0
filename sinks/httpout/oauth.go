package httpout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// ClientCredentials gets and caches an OAuth2 access token with the client
// credentials grant (RFC 6749 §4.4), as Microsoft Entra ID and most
// authorization servers serve it. The token is refreshed before it expires
// (a fifth of its lifetime, at most 5 minutes, ahead) and dropped early when
// the resource server refuses it (Invalidate).
type ClientCredentials struct {
	TokenURL     string
	ClientID     string
	ClientSecret string
	Scope        string // space-separated; optional
	Client       *http.Client

	mu      sync.Mutex
	token   string
	refresh time.Time // get a new token from then on
}

// TokenError is a refusal by the token endpoint (wrong tenant, client,
// secret or scope): retrying does not help until the config is fixed.
type TokenError struct {
	Status      int
	Code        string // OAuth2 "error", e.g. invalid_client
	Description string // "error_description" (Entra ID: AADSTS… text)
}

func (e *TokenError) Error() string {
	msg := fmt.Sprintf("token endpoint answered %d", e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Description != "" {
		d, _, _ := strings.Cut(e.Description, "\r\n") // Entra appends trace and correlation ids
		msg += ": " + d
	}
	return msg
}

// Refused reports an answer that refuses the client's credentials or scope
// (RFC 6749 §5.2: 400 or 401, and 403 from some servers), as opposed to a
// token endpoint that is down or busy.
func (e *TokenError) Refused() bool {
	return e.Status == 400 || e.Status == 401 || e.Status == 403
}

// Token returns a valid access token, fetching one when needed.
func (c *ClientCredentials) Token(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && time.Now().Before(c.refresh) {
		return c.token, nil
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}}
	if c.Scope != "" {
		form.Set("scope", c.Scope)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	client := c.Client
	if client == nil {
		client = http.DefaultClient
	}
	start := time.Now()
	res, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("token request to %s: %w", c.TokenURL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("token request to %s: reading the answer: %w", c.TokenURL, err)
	}
	var tr struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"` // a number; some servers send a string
		Error       string          `json:"error"`
		Description string          `json:"error_description"`
	}
	jerr := json.Unmarshal(body, &tr)
	if res.StatusCode != http.StatusOK {
		return "", &TokenError{Status: res.StatusCode, Code: tr.Error, Description: tr.Description}
	}
	if jerr != nil || tr.AccessToken == "" {
		// The body is not shown: whatever it is, it may hold the token.
		return "", fmt.Errorf("token endpoint %s: no access_token in its answer (%d bytes of %s%s): it must answer RFC 6749 JSON", c.TokenURL, len(body), res.Header.Get("Content-Type"), jsonKeys(body))
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") {
		return "", fmt.Errorf("token endpoint %s issued a %q token; only bearer tokens are supported", c.TokenURL, tr.TokenType)
	}
	secs := 3600.0
	if s := strings.Trim(string(tr.ExpiresIn), `"`); s != "" {
		if _, err := fmt.Sscan(s, &secs); err != nil || secs <= 0 {
			secs = 3600
		}
	}
	life := time.Duration(secs * float64(time.Second))
	c.token = tr.AccessToken
	c.refresh = start.Add(life - min(life/5, 5*time.Minute))
	return c.token, nil
}

// Invalidate drops token if it is still the cached one (the resource server
// answered 401: it expired early or was revoked).
func (c *ClientCredentials) Invalidate(token string) {
	c.mu.Lock()
	if c.token == token {
		c.token = ""
	}
	c.mu.Unlock()
}

// IsTokenError reports whether err is a refusal by the token endpoint.
func IsTokenError(err error) bool {
	var te *TokenError
	return errors.As(err, &te)
}

// jsonKeys lists the top-level keys of a JSON object (not its values), for
// a message about an answer that lacks the expected one.
func jsonKeys(body []byte) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil || len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return "; keys " + strings.Join(keys, ", ")
}
