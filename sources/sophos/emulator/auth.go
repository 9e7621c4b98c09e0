package emulator

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// token is an issued access token.
type token struct {
	expires time.Time
	pages   int  // SIEM pages served (401-midpage fault)
	revoked bool // ExpireTokens or the 401-midpage fault
}

// handleToken serves POST /api/v2/oauth2/token: client credentials (form
// body or HTTP Basic) and the refresh_token grant (form or JSON body).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	vals := url.Values{}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		s.tokenError(w, 400, "oauth.invalid_request", "Bad Request")
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			s.tokenError(w, 400, "oauth.invalid_request", "Bad Request")
			return
		}
		for k, v := range m {
			if str, ok := v.(string); ok {
				vals.Set(k, str)
			}
		}
	} else {
		vals, err = url.ParseQuery(string(body))
		if err != nil {
			s.tokenError(w, 400, "oauth.invalid_request", "Bad Request")
			return
		}
	}
	if s.opts.Faults.EchoToken {
		// A broken gateway: 401 with the request body in the message.
		_, tracking := s.reqIDs()
		b := append([]byte(`{"errorCode":"oauth.invalid_request","message":`), appendString(nil, "bad request: "+string(body))...)
		b = append(b, `,"trackingId":"`+tracking+`"}`...)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		_, _ = w.Write(b)
		return
	}
	id, secret := vals.Get("client_id"), vals.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok && id == "" && secret == "" {
		id, secret = u, p
	}
	grant := vals.Get("grant_type")
	if grant != "client_credentials" && grant != "refresh_token" {
		s.tokenError(w, 400, "oauth.unsupported_grant_type", "Unsupported grant type")
		return
	}
	if subtle.ConstantTimeCompare([]byte(id), []byte(s.opts.ClientID)) != 1 ||
		subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.ClientSecret)) != 1 {
		s.tokenError(w, 401, "oauth.invalid_client_secret", "Unauthorized")
		return
	}
	if grant == "refresh_token" {
		s.mu.Lock()
		ok := s.refresh[vals.Get("refresh_token")]
		s.mu.Unlock()
		if !ok {
			s.tokenError(w, 401, "oauth.invalid_refresh_token", "Unauthorized")
			return
		}
	}
	access, refresh := s.issue()
	_, tracking := s.reqIDs()
	b := make([]byte, 0, 512)
	b = append(b, `{"access_token":"`...)
	b = append(b, access...)
	b = append(b, `","errorCode":"success","expires_in":`...)
	b = strconv.AppendInt(b, int64(s.opts.TokenTTL/time.Second), 10)
	b = append(b, `,"message":"OK","refresh_token":"`...)
	b = append(b, refresh...)
	b = append(b, `","token_type":"bearer","trackingId":"`...)
	b = append(b, tracking...)
	b = append(b, `"}`...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(200)
	_, _ = w.Write(b)
}

// tokenError writes the token endpoint's own error shape.
func (s *Server) tokenError(w http.ResponseWriter, status int, code, msg string) {
	_, tracking := s.reqIDs()
	b := []byte(`{"errorCode":"` + code + `","message":"` + msg + `","trackingId":"` + tracking + `"}`)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// issue creates a JWT-shaped access token and a refresh token.
func (s *Server) issue() (access, refresh string) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.issued++
	n := s.issued
	k := hash4(uint64(s.opts.Seed), 0x70C, n, uint64(now.UnixNano()))
	enc := base64.RawURLEncoding
	payload := `{"sub":"` + s.opts.ClientID + `","iss":"https://id.sophos.com","iat":` + strconv.FormatInt(now.Unix(), 10) +
		`,"exp":` + strconv.FormatInt(now.Add(s.opts.TokenTTL).Unix(), 10) + `,"jti":"` + string(appendHexKey(nil, k, 32)) + `"}`
	sig := appendHexKey(nil, mix64(k), 64)
	access = enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(sig)
	refresh = string(appendHexKey(nil, mix64(k^0xF), 64))
	s.tokens[access] = &token{expires: now.Add(s.opts.TokenTTL)}
	s.refresh[refresh] = true
	return access, refresh
}

// authorize checks the bearer token; it returns the token or answers 401.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) (*token, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || tok == "" {
		s.writeError(w, 401, "Missing or malformed Authorization header")
		return nil, false
	}
	now := s.now()
	s.mu.Lock()
	t := s.tokens[strings.TrimSpace(tok)]
	valid := t != nil && !t.revoked && now.Before(t.expires)
	s.mu.Unlock()
	if !valid {
		s.writeError(w, 401, "Invalid or expired token")
		return nil, false
	}
	return t, true
}
