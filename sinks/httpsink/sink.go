// Package httpsink is the generic HTTP sink, for receivers that take
// records over HTTP(S): NDJSON or JSON-array batches, or one request per
// record, with basic, bearer or OAuth2 client-credentials auth and optional
// gzip. The answer's status decides each record's fate through retry_on,
// reject_on and split_on (defaults: 408/429/5xx retry, after Retry-After;
// 400/413/422 split until the refused record is alone, which alone is
// dead-lettered; other 4xx dead-letter the request's records).
package httpsink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/sophos-connect/sophos-connect/internal/redact"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
)

// Sink writes records to an HTTP endpoint. Write may be called for several
// batches at once (pipeline.ConcurrentSink, through Requests); the requests
// of all of them share request.concurrency.
type Sink struct {
	name   string
	cfg    Config
	log    *slog.Logger
	client *http.Client
	enc    encoding.Encoder
	ctype  string
	policy policy
	oauth  *httpout.ClientCredentials
	where  string // URL for messages: its query (it may hold a key) hidden
	// secrets are the credentials the requests carry, in every form a
	// receiver may echo them in its error body (see redact)
	secrets httpout.Secrets

	lim              *httpout.Limiter
	gate             httpout.Gate
	batches          httpout.Batches
	httpout.Requests // the limiter's metrics
	// lastBytes is the request body bytes of the last Write (benchmarks)
	lastBytes atomic.Int64
}

// policy maps statuses to outcomes.
type policy struct{ retry, reject, split []statusMatch }

func parseAll(ss []string) []statusMatch {
	var out []statusMatch
	for _, s := range ss {
		if m, err := parseStatus(s); err == nil {
			out = append(out, m)
		}
	}
	return out
}

// kind: 2xx delivered; then exact statuses (retry_on, reject_on, split_on),
// then classes in the same order; anything else is retried.
func (p policy) kind(status int) httpout.Kind {
	if status >= 200 && status < 300 {
		return httpout.OK
	}
	lists := []struct {
		m []statusMatch
		k httpout.Kind
	}{{p.retry, httpout.Retry}, {p.reject, httpout.Reject}, {p.split, httpout.Split}}
	for _, l := range lists {
		if slices.ContainsFunc(l.m, func(m statusMatch) bool { return m.exact == status }) {
			return l.k
		}
	}
	for _, l := range lists {
		if slices.ContainsFunc(l.m, func(m statusMatch) bool { return m.exact == 0 && m.class == status/100 }) {
			return l.k
		}
	}
	return httpout.Retry
}

// New builds the sink; it does not contact the receiver.
func New(name string, c Config, log *slog.Logger) (*Sink, error) {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("sink", name)
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("http sink %q: %w", name, err)
	}
	enc, err := encoding.New(c.Format, encoding.Options{CEFStrict: c.CEFStrict, KeepDhost: c.KeepDhost, OCSF: c.OCSF, LEEF: c.LEEF, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("http sink %q: %w", name, err)
	}
	lim := httpout.NewLimiter(c.Request.Concurrency)
	client, err := httpout.NewLimitedClient(c.TLS, c.Timeout.D(), lim)
	if err != nil {
		return nil, fmt.Errorf("http sink %q: %w", name, err)
	}
	s := &Sink{name: name, cfg: c, log: log, client: client, enc: enc, where: httpout.RedactURL(c.URL),
		lim: lim, Requests: httpout.Requests{Limiter: lim, Sink: name},
		policy: policy{parseAll(c.RetryOn), parseAll(c.RejectOn), parseAll(c.SplitOn)}}
	switch {
	case c.Body == "ndjson":
		s.ctype = "application/x-ndjson"
	case slices.Contains(objectFormats, c.Format):
		s.ctype = "application/json"
	default:
		s.ctype = "text/plain; charset=utf-8"
	}
	s.secrets.AddHeaders(c.Headers)
	s.secrets.Add(c.Auth.Password.Value(), c.Auth.Token.Value(), c.Auth.ClientSecret.Value())
	if c.Auth.Type == "basic" {
		s.secrets.AddBasic(c.Auth.Username, c.Auth.Password.Value())
	}
	s.secrets.AddQuery(c.URL)
	if c.Auth.Type == "oauth2" {
		s.oauth = &httpout.ClientCredentials{TokenURL: c.Auth.TokenURL, ClientID: c.Auth.ClientID,
			ClientSecret: c.Auth.ClientSecret.Value(), Scope: strings.Join(c.Auth.Scopes, " "), Client: client}
	}
	return s, nil
}

// Start gets a token with auth type oauth2 (checking the credentials);
// otherwise it sends nothing: a generic receiver has no side-effect-free
// check.
func (s *Sink) Start(ctx context.Context) error {
	if s.oauth == nil {
		return nil
	}
	if _, err := s.oauth.Token(ctx); err != nil {
		err = fmt.Errorf("http sink %s: auth.token_url %s: %w: check auth.client_id, auth.client_secret and auth.scopes", s.name, s.cfg.Auth.TokenURL, err)
		if te := (*httpout.TokenError)(nil); errors.As(err, &te) && te.Refused() {
			return pipeline.AuthFailure(err)
		}
		return err
	}
	return nil
}

// Close releases idle connections.
func (s *Sink) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// Write sends the batch; see the package comment for the outcomes.
func (s *Sink) Write(ctx context.Context, batch []*pipeline.Record) error {
	if len(batch) == 0 {
		return nil
	}
	// past the limiter's room the batch waits here, before it is encoded
	if err := s.lim.AdmitBatch(ctx); err != nil {
		return err
	}
	defer s.lim.DoneBatch()
	e, be := s.batches.Encode(batch, "http: encoding "+s.cfg.Format, s.encode)
	defer s.batches.Release(e)
	s.lastBytes.Store(0)
	parts := s.lim.Parts()
	var spans []httpout.Span
	switch s.cfg.Body {
	case "single":
		spans = e.Cut(int(s.cfg.MaxBytes), 0, 1)
	case "json_array":
		spans = e.CutParts(int(s.cfg.MaxBytes)-2, 1, 0, parts)
	default:
		spans = e.CutParts(int(s.cfg.MaxBytes), 1, 0, parts)
	}
	s.lim.NoteParts(min(parts, len(spans)))
	send := func(ctx context.Context, sp httpout.Span) httpout.Result { return s.send(ctx, e, sp) }
	return httpout.BatchError(e, httpout.SettleConcurrently(ctx, e, spans, parts, send), be)
}

// encode appends one record in the configured format.
func (s *Sink) encode(dst []byte, r *pipeline.Record) ([]byte, error) {
	start := len(dst)
	dst, err := s.enc.Append(dst, r)
	if err == nil && s.cfg.Body == "ndjson" && bytes.IndexByte(dst[start:], '\n') >= 0 {
		err = errors.New("the encoded record spans lines; NDJSON needs one line per record (cef_strict escapes newlines)")
	}
	return dst, err
}

// assemble builds the body of sp in the configured shape into b.
func (s *Sink) assemble(b *bytes.Buffer, e *httpout.Encoded, sp httpout.Span) []byte {
	arr := s.cfg.Body == "json_array"
	if arr {
		b.WriteByte('[')
	}
	for i := sp.Lo; i < sp.Hi; i++ {
		if arr && i > sp.Lo {
			b.WriteByte(',')
		}
		b.Write(e.Record(i))
		if s.cfg.Body == "ndjson" {
			b.WriteByte('\n')
		}
	}
	if arr {
		b.WriteByte(']')
	}
	return b.Bytes()
}

// send posts the records of sp (of e) (concurrently with the other requests
// of the batch and of other batches).
func (s *Sink) send(ctx context.Context, e *httpout.Encoded, sp httpout.Span) httpout.Result {
	// a slot first: a request waiting for one holds no body
	ctx, done, err := s.lim.Reserve(ctx)
	if err != nil {
		return httpout.Fail(httpout.Retry, err)
	}
	defer done()
	buf, zbuf := httpout.GetBuffer(), httpout.GetBuffer()
	defer httpout.PutBuffer(buf)
	defer httpout.PutBuffer(zbuf)
	body := s.assemble(buf, e, sp)
	s.lastBytes.Add(int64(len(body)))
	gz := s.cfg.Compression == "gzip"
	level := 0
	if gz {
		level = s.cfg.CompressionLevel
	}
	body = httpout.CompressLevel(zbuf, body, level)
	var res *http.Response
	var token string // the OAuth2 access token sent
	for attempt := 0; attempt < 2; attempt++ {
		if err := s.gate.Wait(ctx); err != nil {
			return httpout.Fail(httpout.Retry, err)
		}
		req, err := httpout.NewRequest(ctx, s.cfg.Method, s.cfg.URL, body, s.ctype, gz, s.cfg.Headers)
		if err != nil {
			return httpout.Fail(httpout.Retry, err)
		}
		httpout.SetAuth(req, s.cfg.Auth.Type, s.cfg.Auth.Username, s.cfg.Auth.Password.Value(), s.cfg.Auth.Token.Value())
		if s.cfg.Auth.Type == "oauth2" {
			if token, err = s.oauth.Token(ctx); err != nil {
				return httpout.Fail(httpout.Retry, fmt.Errorf("http sink %s: getting a token from %s: %w", s.name, s.cfg.Auth.TokenURL, err))
			}
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if res, err = s.client.Do(req); err != nil {
			return httpout.Fail(httpout.Retry, fmt.Errorf("http %s %s: %w", s.cfg.Method, s.where, httpout.Cause(err)))
		}
		if res.StatusCode != http.StatusUnauthorized || s.oauth == nil || attempt > 0 {
			break
		}
		httpout.ReadBody(res)
		s.oauth.Invalidate(token) // expired or revoked: a new token, once
	}
	raw := httpout.ReadBody(res)
	k := s.policy.kind(res.StatusCode)
	if k == httpout.OK {
		return httpout.Ok()
	}
	err = fmt.Errorf("http %s %s: %d %s: %s", s.cfg.Method, s.where, res.StatusCode, http.StatusText(res.StatusCode), httpout.Snippet(s.redact(raw, token)))
	if k == httpout.Retry && (res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable) {
		s.gate.HoldFor(res.Header)
	}
	return httpout.Fail(k, err)
}

// redact replaces the credentials (and the OAuth2 access token in use) in
// a receiver's answer, which some echo, before it goes into an error.
func (s *Sink) redact(body []byte, token string) []byte {
	return redact.Bytes(s.secrets.With(token).Redact(body))
}

var _ pipeline.Sink = (*Sink)(nil)
