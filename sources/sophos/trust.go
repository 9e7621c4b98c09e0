package sophos

import (
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/sophos-connect/sophos-connect/internal/redact"
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

// Redact removes every form of each secret (len ≥ 4), and of every secret
// registered with internal/redact, from s.
func Redact(s string, secrets ...string) string { return redact.With(s, secrets...) }
