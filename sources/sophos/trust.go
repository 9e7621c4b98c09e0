package sophos

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"strings"
)

// DefaultTrustedHosts are the hosts the bearer token may go to when a
// response names them (whoami's apiHosts, a tenant's apiHost).
var DefaultTrustedHosts = []string{"*.sophos.com"}

// UntrustedHostError refuses to send the bearer token to a host that a
// response named but that is not trusted.
type UntrustedHostError struct {
	Host   string // the URL as received
	From   string // where it came from, e.g. "tenant 1234 apiHost"
	Reason string
}

func (e *UntrustedHostError) Error() string {
	return fmt.Sprintf("sophos: refusing %s %q: %s — the bearer token is sent only over https to *.sophos.com, sophos.api_host's own host, or a sophos.trusted_hosts pattern", e.From, e.Host, e.Reason)
}

// checkHost says whether the token may be sent to raw, a base URL learned
// from a response: https under a trusted pattern, or api_host's own host
// (with api_host's scheme: http for the emulator).
func (c *Client) checkHost(raw, from string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return &UntrustedHostError{Host: raw, From: from, Reason: "not a URL"}
	}
	if api, err := url.Parse(c.cfg.APIHost); err == nil && strings.EqualFold(u.Host, api.Host) {
		if u.Scheme == "https" || u.Scheme == api.Scheme {
			return nil
		}
	}
	host := strings.ToLower(u.Hostname())
	for _, p := range append(append([]string(nil), DefaultTrustedHosts...), c.cfg.TrustedHosts...) {
		p = strings.ToLower(strings.TrimSpace(p))
		if rest, ok := strings.CutPrefix(p, "http://"); ok {
			// An explicit plain-http host[:port] (a test rig or a local gateway).
			if u.Scheme == "http" && (rest == strings.ToLower(u.Host) || rest == host) {
				return nil
			}
			continue
		}
		if u.Scheme == "https" && hostMatches(strings.TrimPrefix(p, "https://"), host) {
			return nil
		}
	}
	if u.Scheme != "https" {
		return &UntrustedHostError{Host: raw, From: from, Reason: "not https"}
	}
	return &UntrustedHostError{Host: raw, From: from, Reason: "host " + host + " is not trusted"}
}

// hostMatches matches a host against "name" or "*.domain" (any depth of
// sub-domain, and the domain itself).
func hostMatches(pattern, host string) bool {
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		return host == rest || strings.HasSuffix(host, "."+rest)
	}
	ok, _ := path.Match(pattern, host)
	return ok
}

// secretForms are the ways a secret can appear in text that echoes a
// request: as is, URL-encoded (form bodies, queries; either hex case) and
// JSON-escaped (with and without HTML escaping).
func secretForms(secret string) []string {
	forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret)}
	for _, f := range forms[1:] {
		forms = append(forms, lowerHex(f))
	}
	j, _ := json.Marshal(secret)
	forms = append(forms, string(j[1:len(j)-1]))
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	enc.Encode(secret)
	s := strings.TrimSpace(sb.String())
	forms = append(forms, s[1:len(s)-1])
	// Longest first, so a form containing another is replaced whole.
	out := forms[:0]
	seen := map[string]bool{}
	for _, f := range forms {
		if f != "" && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && len(out[j]) > len(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func lowerHex(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1] = lower(b[i+1])
			b[i+2] = lower(b[i+2])
		}
	}
	return string(b)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}

// Redact removes every form of each secret (len ≥ 4) from s.
func Redact(s string, secrets ...string) string {
	for _, secret := range secrets {
		if len(secret) < 4 {
			continue
		}
		for _, f := range secretForms(secret) {
			if strings.Contains(s, f) {
				s = strings.ReplaceAll(s, f, "[redacted]")
			}
		}
	}
	return s
}
