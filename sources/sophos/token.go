package sophos

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/internal/redact"
)

// tokenMargin is how long before expires_in a token is renewed, as the
// official script does.
const tokenMargin = 120 * time.Second

// token returns a valid bearer token, fetching one when none is cached, the
// cached one is near expiry, or it equals stale (the token a 401 rejected).
// Only one fetch runs at a time; callers waiting for it honour ctx. fetched
// says whether this caller fetched the token itself.
func (c *Client) token(ctx context.Context, stale string) (tok string, fetched bool, err error) {
	if t := c.cachedToken(stale); t != "" {
		return t, false, nil
	}
	select {
	case c.tokSem <- struct{}{}:
	case <-ctx.Done():
		return "", false, ctx.Err()
	}
	defer func() { <-c.tokSem }()
	if t := c.cachedToken(stale); t != "" { // another caller renewed it meanwhile
		return t, false, nil
	}
	tok, err = c.fetchToken(ctx)
	return tok, err == nil, err
}

func (c *Client) cachedToken(stale string) string {
	c.tokMu.RLock()
	defer c.tokMu.RUnlock()
	if c.tok == "" || c.tok == stale || !c.cfg.Now().Before(c.tokExp) {
		return ""
	}
	return c.tok
}

// tokenResponse is the token endpoint's body, success or failure.
type tokenResponse struct {
	AccessToken string  `json:"access_token"`
	ExpiresIn   float64 `json:"expires_in"`
	TokenType   string  `json:"token_type"`
	ErrorCode   string  `json:"errorCode"`
	Message     string  `json:"message"`
	TrackingID  string  `json:"trackingId"`
}

// fetchToken runs the client-credentials grant, retrying throttling, server
// faults and network errors like any call.
func (c *Client) fetchToken(ctx context.Context) (string, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"scope":         {"token"},
		"client_id":     {c.cfg.ClientID},
		"client_secret": {c.cfg.ClientSecret},
	}
	cl := &call{
		method:      http.MethodPost,
		rawURL:      c.cfg.AuthURL,
		body:        []byte(form.Encode()),
		contentType: "application/x-www-form-urlencoded",
		idempotent:  true,
		noAuth:      true,
	}
	issued := c.cfg.Now()
	res, err := c.do(ctx, cl)
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) {
			return "", c.authError(ae.Status, res)
		}
		var au *AuthError
		if errors.As(err, &au) || ctx.Err() != nil {
			return "", err
		}
		fix := "check sophos.auth_url, the network and the proxy settings (HTTPS_PROXY)"
		if isCertError(err) {
			fix = "check sophos.ca_file (the token endpoint's certificate is not trusted)"
		}
		return "", &AuthError{Cause: "cannot reach the token endpoint: " + c.redact(err.Error()), Fix: fix, Err: err}
	}
	var tr tokenResponse
	if err := json.Unmarshal(res.body, &tr); err != nil || tr.AccessToken == "" ||
		(tr.ErrorCode != "" && !strings.EqualFold(tr.ErrorCode, "success")) {
		return "", c.authError(res.status, res)
	}
	ttl := time.Duration(tr.ExpiresIn * float64(time.Second))
	if ttl <= 0 {
		ttl = time.Hour // the documented lifetime
	}
	margin := tokenMargin
	if ttl < 2*tokenMargin { // short-lived tokens (tests): renew at half-life
		margin = ttl / 2
	}
	c.tokMu.Lock()
	if c.tok != "" {
		c.tokOld = c.tok
	}
	c.tok, c.tokExp = tr.AccessToken, issued.Add(ttl-margin)
	redact.Add(tr.AccessToken) // an echo of it in any output is removed too
	c.tokMu.Unlock()
	c.log.Debug("sophos: token obtained", "expires_in", ttl.String())
	return tr.AccessToken, nil
}

// authError builds an AuthError from a token endpoint answer (res may be nil).
func (c *Client) authError(status int, res *response) *AuthError {
	var tr tokenResponse
	var body []byte
	if res != nil {
		body = res.body
		_ = json.Unmarshal(body, &tr)
		if status == 0 {
			status = res.status
		}
	}
	if tr.AccessToken == "" && status == http.StatusOK {
		if tr.ErrorCode == "" {
			return &AuthError{Status: status, Cause: "the token endpoint answered without an access_token",
				Fix: "check that sophos.auth_url is the Sophos token endpoint (default " + DefaultAuthURL + ")"}
		}
	}
	return authErrorFor(status, tr.ErrorCode, tr.Message, tr.TrackingID, body, c.redact)
}
