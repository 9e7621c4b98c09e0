package sophos

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/sophos-connect/sophos-connect/internal/useragent"
)

// Client talks to Sophos Central (or the emulator). It is safe for
// concurrent use.
type Client struct {
	cfg  Config
	log  *slog.Logger
	http *http.Client

	lim    *limiter      // requests in flight for the credential (adaptive by default)
	tokSem chan struct{} // one token fetch at a time
	tokMu  sync.RWMutex
	tok    string
	tokExp time.Time
	tokOld string // the previous token, redacted too

	refusedMu sync.Mutex
	refused   []string // tenants the last listing refused (untrusted apiHost)

	clock apiClock // the API's clock, from its answers
}

// Refused lists the tenants the last tenant listing refused because their
// apiHost is not trusted, as "tenant ID (name): reason".
func (c *Client) Refused() []string {
	c.refusedMu.Lock()
	defer c.refusedMu.Unlock()
	return append([]string(nil), c.refused...)
}

// NewClient checks cfg and builds a client. It makes no request: the first
// call fetches the token.
func NewClient(cfg Config, log *slog.Logger) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr, err := newTransport(cfg.CAFile, max(cfg.Concurrency, cfg.MaxConcurrency))
	if err != nil {
		return nil, err
	}
	return &Client{
		cfg:    cfg,
		log:    log,
		http:   &http.Client{Transport: useragent.Transport(tr), CheckRedirect: noAuthRedirect},
		tokSem: make(chan struct{}, 1),
		lim:    newLimiter(cfg.Concurrency, cfg.MaxConcurrency, cfg.OnConcurrencyLimit),
	}, nil
}

// ConcurrencyLimit is the current bound on requests in flight (the
// adaptive controller's value, or the fixed Concurrency).
func (c *Client) ConcurrencyLimit() int { return c.lim.Limit() }

// Config returns the effective configuration (defaults filled in). The
// secret is included: do not print it.
func (c *Client) Config() Config { return c.cfg }

// Close releases idle connections. The client stays usable (new
// connections are opened on demand).
func (c *Client) Close() { c.http.CloseIdleConnections() }

// newTransport is http.DefaultTransport's setup plus the CA file (added to
// the system roots) and the standard proxy variables.
func newTransport(caFile string, conns int) (*http.Transport, error) {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   max(16, conns), // one per request in flight on a shared regional host
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("sophos.ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("sophos.ca_file %s: no PEM certificate found in it", caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return tr, nil
}

// noAuthRedirect follows redirects only within the same host, so the bearer
// token is never sent elsewhere (Go drops it across hosts anyway; this also
// bounds the chain).
func noAuthRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return fmt.Errorf("stopped after %d redirects", len(via))
	}
	if req.URL.Host != via[0].URL.Host {
		return http.ErrUseLastResponse
	}
	return nil
}

// redact removes the secret and tokens from text that came from outside
// (response bodies) before it goes into an error or a log line.
func (c *Client) redact(s string) string {
	if s == "" {
		return s
	}
	c.tokMu.RLock()
	tok, old := c.tok, c.tokOld
	c.tokMu.RUnlock()
	return Redact(s, c.cfg.ClientSecret, tok, old)
}
