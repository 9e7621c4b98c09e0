package httpout

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/internal/useragent"
)

// NewClient is an HTTP client with the sink's TLS settings; timeout bounds
// each request (connection, upload and answer).
func NewClient(t config.TLS, timeout time.Duration) (*http.Client, error) {
	return NewLimitedClient(t, timeout, nil)
}

// NewLimitedClient is NewClient whose requests all pass lim (nil: none),
// which keeps at most its limit in flight and learns from their answers.
func NewLimitedClient(t config.TLS, timeout time.Duration, lim *Limiter) (*http.Client, error) {
	tc, err := t.Config()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.MaxIdleConnsPerHost = 4
	var rt http.RoundTripper = tr
	if lim != nil {
		// A connection per request in flight, kept between batches, over
		// HTTP/1.1: HTTP/2 would put every request on one connection, its
		// flow control and one read loop (on loopback it cost Sentinel a
		// third of its throughput), and a load balancer in front of several
		// receivers (HEC indexers) would see one connection, not several.
		tr.MaxIdleConnsPerHost = MaxConcurrency
		tr.ForceAttemptHTTP2 = false
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		rt = lim.Transport(tr)
	}
	// Do not ask for gzip answers: transparent decompression is fine, but
	// the bodies that matter here are tiny JSON.
	return &http.Client{Transport: useragent.Transport(rt), Timeout: timeout, CheckRedirect: sameMethodRedirect}, nil
}

// sameMethodRedirect follows only redirects that resend the request as it
// was (307, 308). After a 301, 302 or 303 Go's client would send a GET
// without the body, and that GET's 200 would count the records as
// delivered: stop with an error naming the new address instead.
//
// A redirect is followed only to the same scheme, host and port: the
// request carries the sink's credentials (Authorization, custom headers
// such as an API key, which Go's client would re-send to any host), so a
// redirect elsewhere stops with an error naming it.
func sameMethodRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if from := via[0].URL; req.URL.Scheme != from.Scheme || !strings.EqualFold(req.URL.Host, from.Host) {
		status := 0
		if req.Response != nil {
			status = req.Response.StatusCode
		}
		to := *req.URL
		to.User, to.RawQuery, to.Fragment = nil, "", ""
		return fmt.Errorf("the receiver redirects (%d) to %s, another scheme, host or port: redirects are followed only within %s://%s so the credentials never go elsewhere; set the url to the new address if it is right", status, to.String(), from.Scheme, from.Host)
	}
	if req.Method != via[0].Method {
		status := 0
		if req.Response != nil {
			status = req.Response.StatusCode
		}
		to := *req.URL
		to.User, to.RawQuery, to.Fragment = nil, "", ""
		return fmt.Errorf("the receiver redirects (%d) to %s, which would turn the %s into a %s without the records: set the url to that address", status, to.String(), via[0].Method, req.Method)
	}
	return nil
}

// ReadBody reads at most 1 MiB of an answer (error bodies are small; a huge
// one is not worth holding) and closes it.
func ReadBody(res *http.Response) []byte {
	defer res.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(io.LimitReader(res.Body, 1<<20))
	io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20)) // let the connection be reused
	return b.Bytes()
}

// NewUUID returns a random (version 4) UUID, e.g. for a Splunk channel.
func NewUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Snippet is a short, single-line excerpt of a body for messages.
func Snippet(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 200 {
		b = append(b[:200:200], "…"...)
	}
	return string(bytes.ReplaceAll(b, []byte("\n"), []byte(" ")))
}

// RedactURL drops user:password@ and the query (it may hold a key) from a
// URL for messages, also from one that does not parse (config errors echo
// what was written).
func RedactURL(a string) string {
	if u, err := url.Parse(a); err == nil {
		if u.User == nil && u.RawQuery == "" {
			return a
		}
		u.User = nil
		if u.RawQuery != "" {
			u.RawQuery = "…"
		}
		return u.String()
	}
	if i := strings.IndexByte(a, '?'); i >= 0 {
		a = a[:i] + "?…"
	}
	if i := strings.LastIndex(a, "@"); i >= 0 {
		scheme, _, ok := strings.Cut(a, "://")
		if ok && !strings.Contains(scheme, "@") {
			return scheme + "://…@" + a[i+1:]
		}
		return "…@" + a[i+1:]
	}
	return a
}

// ValidateClient checks the client keys every HTTP sink has: tls and
// timeout.
func ValidateClient(t config.TLS, timeout config.Duration) config.Errors {
	var errs config.Errors
	if fe := t.Problem(); fe != nil {
		errs = append(errs, &config.FieldError{Key: "tls." + fe.Key, Msg: fe.Msg})
	}
	if timeout <= 0 {
		errs = append(errs, &config.FieldError{Key: "timeout", Msg: "must be positive, e.g. 30s"})
	}
	return errs
}
