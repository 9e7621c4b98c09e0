// Package sophos is the Sophos Central API client: OAuth client-credentials
// tokens, whoami, partner/organization tenants, the SIEM events and alerts
// streams (as a pipeline.Source), Common API alerts and actions, the Endpoint
// API and the Account Health Check.
//
// Every call takes a context, has a per-request timeout, retries throttling
// and server faults with capped exponential backoff (honouring Retry-After),
// renews the token once on a 401, and fails with a typed error (*APIError,
// *AuthError, *PageError) whose message names the cause and the fix. The
// client secret and the bearer token never appear in errors or logs.
package sophos

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/internal/useragent"
)

// Defaults for Config.
const (
	DefaultAuthURL = "https://id.sophos.com/api/v2/oauth2/token"
	DefaultAPIHost = "https://api.central.sophos.com"
	DefaultTimeout = 60 * time.Second
	DefaultLimit   = 1000 // SIEM page size: the API's maximum
	maxLimit       = 1000
)

// Config is the `sophos:` section of the configuration, plus client knobs.
type Config struct {
	ClientID     string
	ClientSecret string
	AuthURL      string   // token endpoint; default DefaultAuthURL
	APIHost      string   // global host; default DefaultAPIHost; http:// allowed (emulator); a bare host means https://
	Tenants      []string // narrows partner/organization tenants: ids or names; empty = all
	CAFile       string   // PEM bundle added to the system roots
	// TrustedHosts are more host patterns ("*.example.com", "gw.example.com")
	// the bearer token may go to when a response names them, besides
	// DefaultTrustedHosts and api_host's own host.
	TrustedHosts []string

	FromDateOffsetMinutes int           // SIEM from_date_offset_minutes (≥ 0)
	Timeout               time.Duration // per HTTP request (each attempt); default DefaultTimeout
	UserAgent             string        // default "sophos-connect/<version>"

	// Retry bounds the retries of throttled (429) and failed (5xx, network)
	// calls; zero fields take the defaults of DefaultRetry.
	Retry RetryPolicy
	// Concurrency pins the API requests in flight; 0 (the default) adapts
	// it (AIMD, see concurrency.go) between 1 and MaxConcurrency.
	Concurrency int
	// MaxConcurrency bounds adaptive concurrency; default DefaultMaxConcurrency.
	MaxConcurrency int
	// OnConcurrencyLimit is told the concurrency limit whenever it changes
	// (and once at the start), for the metrics; optional.
	OnConcurrencyLimit func(limit int)
	// OnAPIError is told the status of every error response (each attempt),
	// for the metrics; optional.
	OnAPIError func(status int)
	// Now is the clock for the SIEM 24 h window and token expiry; default
	// time.Now. Tests move it together with the emulator's clock.
	Now func() time.Time
}

// RetryPolicy bounds retries. A call is attempted at most MaxAttempts times;
// the wait before attempt n+1 is Retry-After when the server sent one (up to
// MaxRetryAfter), else a random duration in [d/2, d] with
// d = min(Max, Initial·2^(n-1)).
type RetryPolicy struct {
	MaxAttempts   int
	Initial       time.Duration
	Max           time.Duration
	MaxRetryAfter time.Duration
}

// DefaultRetry is the policy used for zero fields of Config.Retry.
var DefaultRetry = RetryPolicy{MaxAttempts: 6, Initial: 500 * time.Millisecond, Max: 30 * time.Second, MaxRetryAfter: 5 * time.Minute}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultRetry.MaxAttempts
	}
	if p.Initial <= 0 {
		p.Initial = DefaultRetry.Initial
	}
	if p.Max <= 0 {
		p.Max = DefaultRetry.Max
	}
	if p.Max < p.Initial {
		p.Max = p.Initial
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = DefaultRetry.MaxRetryAfter
	}
	return p
}

// withDefaults fills defaults and checks the values, naming the config key
// at fault.
func (c Config) withDefaults() (Config, error) {
	if strings.TrimSpace(c.ClientID) == "" {
		return c, fmt.Errorf("sophos.client_id is empty: set it (or SOPHOS_CLIENT_ID) to the API credential's client id")
	}
	if c.ClientSecret == "" {
		return c, fmt.Errorf("sophos.client_secret is empty: set it (or SOPHOS_CLIENT_SECRET) to the API credential's secret")
	}
	if c.AuthURL == "" {
		c.AuthURL = DefaultAuthURL
	}
	if c.APIHost == "" {
		c.APIHost = DefaultAPIHost
	}
	var err error
	if c.AuthURL, err = normalizeURL(c.AuthURL, "sophos.auth_url", false); err != nil {
		return c, err
	}
	if c.APIHost, err = normalizeURL(c.APIHost, "sophos.api_host", true); err != nil {
		return c, err
	}
	if c.FromDateOffsetMinutes < 0 {
		return c, fmt.Errorf("sophos.from_date_offset_minutes is %d: it must be 0 or more", c.FromDateOffsetMinutes)
	}
	if c.FromDateOffsetMinutes >= 24*60 {
		return c, fmt.Errorf("sophos.from_date_offset_minutes is %d: it must be less than 1440 (the API keeps 24 h)", c.FromDateOffsetMinutes)
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.UserAgent == "" {
		c.UserAgent = useragent.String()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Concurrency < 0 || c.MaxConcurrency < 0 {
		return c, fmt.Errorf("sophos: concurrency %d / max %d: must be 0 (adaptive / default) or more", c.Concurrency, c.MaxConcurrency)
	}
	if c.MaxConcurrency == 0 {
		c.MaxConcurrency = DefaultMaxConcurrency
	}
	c.Retry = c.Retry.withDefaults()
	return c, nil
}

// normalizeURL checks an http(s) URL. A bare host ("api.central.sophos.com",
// as the official script's api_host) becomes https://host. With host=true the
// URL must have no query and loses a trailing slash.
func normalizeURL(s, key string, host bool) (string, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%s %q is not a URL: %v", key, s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%s %q: the scheme must be https (or http for the emulator)", key, s)
	}
	if u.Host == "" {
		return "", fmt.Errorf("%s %q has no host", key, s)
	}
	if host && (u.RawQuery != "" || u.Fragment != "") {
		return "", fmt.Errorf("%s %q: give a base URL without query or fragment", key, s)
	}
	return trimHost(s), nil
}

// trimHost removes trailing slashes: Sophos returns hosts such as
// "http://api.central.sophos.com/" that are joined with absolute paths.
func trimHost(s string) string { return strings.TrimRight(strings.TrimSpace(s), "/") }
