package sophos

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/sophos-connect/sophos-connect/internal/retryafter"
)

// DefaultMaxPageBytes bounds a response body (a 1000-item SIEM page is a
// few MB): sophos.max_page_bytes.
const DefaultMaxPageBytes = 32 << 20

// freeBody is what each response may read without the big-body gate: real
// pages fit, so concurrent reads cost at most workers × freeBody.
const freeBody = 1 << 20

// PageTooLargeError is a response body over max_page_bytes (counted after
// decompression, so a gzip bomb stops there too). Asking again cannot help.
type PageTooLargeError struct {
	Limit int64
	Size  int64 // the announced Content-Length, or -1 when it was read past the limit
}

func (e *PageTooLargeError) Error() string {
	if e.Size > 0 {
		return fmt.Sprintf("the response announces %d bytes, over sophos.max_page_bytes (%d MiB); raise it if the API really sends pages this large", e.Size, e.Limit>>20)
	}
	return fmt.Sprintf("the response body is larger than sophos.max_page_bytes (%d MiB, counted after decompression); raise it if the API really sends pages this large", e.Limit>>20)
}

// Retryable: the same request would bring the same body.
func (e *PageTooLargeError) Retryable() bool { return false }

// call is one logical API request; do may send it several times.
type call struct {
	method      string
	rawURL      string // full URL when set (token endpoint); else base + path + "?" + query
	base        string // host URL, no trailing slash
	path        string // escaped absolute path
	query       string // encoded query, without '?'
	tenant      string // X-Tenant-ID
	header      http.Header
	body        []byte
	contentType string // default application/json when body is set
	idempotent  bool   // safe to resend after a 500 or a network error
	noAuth      bool   // the token call itself
}

func (cl *call) url() string {
	if cl.rawURL != "" {
		return cl.rawURL
	}
	u := cl.base + cl.path
	if cl.query != "" {
		u += "?" + cl.query
	}
	return u
}

// displayPath is the path named in errors and logs (never the query).
func (cl *call) displayPath() string {
	if cl.rawURL != "" {
		if u, err := url.Parse(cl.rawURL); err == nil {
			return u.Path
		}
		return ""
	}
	return cl.path
}

// response is a complete HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
	// apiTime is the API's time of the answer (its Date header), when it had one.
	apiTime    time.Time
	hasAPITime bool
}

// retryableStatus: throttling and server faults.
func retryableStatus(s int) bool {
	switch s {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// safeToResend: statuses that mean the request was not acted on, so even a
// non-idempotent call may be sent again.
func safeToResend(s int) bool {
	return s == http.StatusTooManyRequests || s == http.StatusServiceUnavailable || s == http.StatusBadGateway || s == http.StatusGatewayTimeout
}

// maxRenewals bounds token renewals within one call (see do).
const maxRenewals = 3

// do sends cl until it succeeds (2xx), fails for good, runs out of attempts
// or ctx ends. On an *APIError the failed response is returned too.
//
// A 401 renews the token and resends once. A second 401 fails the call when
// this call fetched the rejected token itself (a brand-new token refused
// means a configuration problem); when the token came from another caller's
// renewal, it may have expired under concurrent use, so it is renewed again
// (at most maxRenewals times per call). Renewals do not count as attempts.
func (c *Client) do(ctx context.Context, cl *call) (*response, error) {
	pol := c.cfg.Retry
	var (
		stale     string // token rejected by a 401
		renewals  int
		fetched   bool // this call fetched the token in use
		lastErr   error
		lastRes   *response
		attempt   int
		callStart = time.Now()
	)
	if !cl.noAuth && cl.rawURL == "" {
		// The last guard: the bearer token never leaves for an untrusted host.
		if err := c.checkHost(cl.base, "host"); err != nil {
			return nil, err
		}
	}
	for attempt < pol.MaxAttempts {
		attempt++
		var tok string
		if !cl.noAuth {
			var err error
			if tok, fetched, err = c.token(ctx, stale); err != nil {
				return nil, err
			}
		}
		var release func(outcome, time.Duration)
		if !cl.noAuth {
			var err error
			if release, err = c.lim.acquire(ctx); err != nil {
				return nil, fmt.Errorf("sophos: %s %s: %w", cl.method, cl.displayPath(), err)
			}
		}
		sent := time.Now()
		res, err := c.roundTrip(ctx, cl, tok)
		if err == nil {
			res.apiTime, res.hasAPITime = c.clock.observeDate(res.header.Get("Date"), c.cfg.Now())
		}
		if release != nil {
			release(classify(res, err), time.Since(sent))
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("sophos: %s %s: %w", cl.method, cl.displayPath(), ctx.Err())
			}
			lastErr, lastRes = err, nil
			var tooLarge *PageTooLargeError
			if !cl.idempotent || isCertError(err) || errors.As(err, &tooLarge) {
				return nil, err
			}
			c.log.Warn("sophos: request failed, retrying", "method", cl.method, "path", cl.displayPath(),
				"attempt", attempt, "error", err.Error())
			if werr := c.wait(ctx, c.backoff(attempt), cl); werr != nil {
				return nil, werr
			}
			continue
		}
		if res.status >= 200 && res.status < 300 {
			c.log.Debug("sophos: request", "method", cl.method, "path", cl.displayPath(), "status", res.status,
				"bytes", len(res.body), "attempts", attempt, "duration", time.Since(callStart).String())
			return res, nil
		}
		if c.cfg.OnAPIError != nil {
			c.cfg.OnAPIError(res.status)
		}
		apiErr := newAPIError(res.status, cl.method, cl.displayPath(), res.body, c.redact)
		apiErr.Attempts = attempt
		lastErr, lastRes = apiErr, res
		if res.status == http.StatusUnauthorized && !cl.noAuth && renewals < maxRenewals && (renewals == 0 || !fetched) {
			renewals++
			stale = tok
			attempt--
			c.log.Info("sophos: token rejected (401), renewing it", "method", cl.method, "path", cl.displayPath())
			continue
		}
		if !retryableStatus(res.status) || !(cl.idempotent || safeToResend(res.status)) {
			return res, apiErr
		}
		if attempt >= pol.MaxAttempts {
			break
		}
		delay, fromHeader := c.retryAfter(res.header)
		if !fromHeader {
			delay = c.backoff(attempt)
		} else if !cl.noAuth {
			// Retry-After speaks for the credential: every request waits.
			c.lim.pause(delay)
		}
		c.log.Warn("sophos: request throttled or failed, retrying", "method", cl.method, "path", cl.displayPath(),
			"status", res.status, "attempt", attempt, "wait", delay.String(), "retry_after", fromHeader)
		if werr := c.wait(ctx, delay, cl); werr != nil {
			return nil, werr
		}
	}
	if lastRes != nil {
		return lastRes, lastErr
	}
	if attempt > 1 {
		return nil, fmt.Errorf("%w (gave up after %d attempts)", lastErr, attempt)
	}
	return nil, lastErr
}

// classify tells the concurrency controller what an attempt says about load.
func classify(res *response, err error) outcome {
	switch {
	case err != nil:
		return outcomeError
	case res.status == http.StatusTooManyRequests || res.status == http.StatusServiceUnavailable:
		return outcomeOverload
	}
	return outcomeOK
}

// roundTrip sends one attempt and reads the whole body within the
// per-request timeout.
func (c *Client) roundTrip(ctx context.Context, cl *call, tok string) (*response, error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(actx, cl.method, cl.url(), body)
	if err != nil {
		return nil, fmt.Errorf("sophos: %s %s: %w", cl.method, cl.displayPath(), err)
	}
	for k, v := range cl.header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	req.Header.Set("Accept", "application/json")
	if cl.body != nil {
		ct := cl.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if cl.tenant != "" {
		req.Header.Set("X-Tenant-ID", cl.tenant)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.netError(ctx, actx, cl, err)
	}
	defer resp.Body.Close()
	b, err := c.readBody(actx, resp)
	var tooLarge *PageTooLargeError
	if errors.As(err, &tooLarge) {
		return nil, fmt.Errorf("sophos: %s %s: %w", cl.method, cl.displayPath(), err)
	}
	if err != nil {
		return nil, c.netError(ctx, actx, cl, err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// isCertError reports a TLS verification failure: retrying cannot help.
func isCertError(err error) bool {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var cv *tls.CertificateVerificationError
	return errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || errors.As(err, &cv)
}

// netError names a transport failure; a per-request timeout says so.
func (c *Client) netError(ctx, actx context.Context, cl *call, err error) error {
	if ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("sophos: %s %s: no complete response within %s (timeout): %w", cl.method, cl.displayPath(), c.cfg.Timeout, context.DeadlineExceeded)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL is named already, and may carry a long query
	}
	if isCertError(err) {
		return fmt.Errorf("sophos: %s %s%s: the server's certificate is not trusted (set sophos.ca_file to its CA bundle if it is a private CA, e.g. the emulator's -tls CA): %w", cl.method, hostOf(cl.url()), cl.displayPath(), err)
	}
	return fmt.Errorf("sophos: %s %s%s: %w", cl.method, hostOf(cl.url()), cl.displayPath(), err)
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// readBody reads the body within max_page_bytes. The first freeBody bytes
// of every response are read at once; beyond that one response at a time
// holds the big-body gate, so many tenants answering huge bodies at once
// cost one max_page_bytes buffer, not one each: memory stays bounded by the
// in-flight budget plus a constant, whatever the API sends.
func (c *Client) readBody(ctx context.Context, resp *http.Response) ([]byte, error) {
	limit := c.cfg.MaxPageBytes
	if n := resp.ContentLength; n > limit {
		return nil, &PageTooLargeError{Limit: limit, Size: n}
	}
	if n := resp.ContentLength; n >= 0 && n <= freeBody {
		b := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return nil, fmt.Errorf("reading response body: %w", err)
		}
		return b, nil
	}
	// Read in pooled 256 KiB chunks, copied once into a buffer of the
	// exact size: no buffer doubling (twice the body at once), and a
	// refused body leaves no garbage behind, only chunks back in the pool.
	// Small chunks keep the probe byte past freeBody cheap: each response
	// read concurrently holds freeBody + one chunk, not twice freeBody.
	var chunks [][]byte
	defer func() {
		for _, c := range chunks {
			bodyChunks.Put(&c)
		}
	}()
	var n int64
	read := func(limit int64) (eof bool, err error) {
		for n < limit {
			if len(chunks) == 0 || len(chunks[len(chunks)-1]) == cap(chunks[len(chunks)-1]) {
				chunks = append(chunks, (*bodyChunks.Get().(*[]byte))[:0])
			}
			c := chunks[len(chunks)-1]
			m, err := resp.Body.Read(c[len(c):cap(c)])
			chunks[len(chunks)-1] = c[:len(c)+m]
			n += int64(m)
			if err == io.EOF {
				return true, nil
			}
			if err != nil {
				return false, fmt.Errorf("reading response body: %w", err)
			}
		}
		return false, nil
	}
	eof, err := read(freeBody + 1)
	if err != nil {
		return nil, err
	}
	if !eof {
		select {
		case c.bigBody <- struct{}{}:
			defer func() { <-c.bigBody }()
		case <-ctx.Done():
			return nil, fmt.Errorf("reading response body: waiting for another large body to be read: %w", ctx.Err())
		}
		if eof, err = read(limit + 1); err != nil {
			return nil, err
		}
		if !eof {
			return nil, &PageTooLargeError{Limit: limit, Size: -1}
		}
	}
	body := make([]byte, 0, n)
	for _, c := range chunks {
		body = append(body, c...)
	}
	return body, nil
}

// bodyChunks are the 256 KiB read buffers of readBody.
var bodyChunks = sync.Pool{New: func() any { b := make([]byte, 0, 256<<10); return &b }}

// backoff is the wait after the given failed attempt (1-based): a random
// duration in [d/2, d], d = min(Max, Initial·2^(attempt-1)).
func (c *Client) backoff(attempt int) time.Duration {
	pol := c.cfg.Retry
	d := pol.Initial
	for i := 1; i < attempt && d < pol.Max; i++ {
		d *= 2
	}
	d = min(d, pol.Max)
	return d/2 + rand.N(d/2+1)
}

// retryAfter reads Retry-After (seconds or an HTTP date), capped.
func (c *Client) retryAfter(h http.Header) (time.Duration, bool) {
	d, ok := retryafter.Parse(h.Get("Retry-After"), time.Now())
	if !ok {
		return 0, false
	}
	return max(0, min(d, c.cfg.Retry.MaxRetryAfter)), true
}

// wait sleeps d unless ctx ends first.
func (c *Client) wait(ctx context.Context, d time.Duration, cl *call) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sophos: %s %s: %w (while waiting to retry)", cl.method, cl.displayPath(), ctx.Err())
	}
}

// getJSON GETs a regional/global resource and decodes it into v.
func (c *Client) getJSON(ctx context.Context, cl *call, v any) error {
	cl.method, cl.idempotent = http.MethodGet, true
	res, err := c.do(ctx, cl)
	if err != nil {
		return err
	}
	return c.decode(cl, res, v)
}

// sendJSON sends in as the JSON body and decodes the answer into out (if
// not nil).
func (c *Client) sendJSON(ctx context.Context, cl *call, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	cl.body = b
	res, err := c.do(ctx, cl)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return c.decode(cl, res, out)
}

func (c *Client) decode(cl *call, res *response, v any) error {
	if err := json.Unmarshal(res.body, v); err != nil {
		return fmt.Errorf("sophos: %s %s: unexpected response body (%s): %w", cl.method, cl.displayPath(), snippet(c.redact(string(res.body)), 120), err)
	}
	return nil
}
