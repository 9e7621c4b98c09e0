// Package googlesecops is the Google SecOps (Chronicle) sink: it sends each
// record as one raw log entry of a log type (SOPHOS_CENTRAL by default,
// which SecOps parses with its maintained default parser) through
//
//   - v1alpha (default): the Chronicle API's logs.import,
//     POST <base>/v1alpha/projects/{project}/locations/{location}/instances/
//     {customer_id}/logTypes/{log_type}/logs:import with
//     {"inlineSource":{"logs":[{"data":<base64>,"logEntryTime":…,"collectionTime":…}]}};
//   - v2: the Ingestion API's POST <base>/v2/unstructuredlogentries:batchCreate with
//     {"customer_id":…,"log_type":…,"entries":[{"log_text":…,"ts_epoch_microseconds":…}]}.
//
// It signs in as a service account (golang.org/x/oauth2/google: a JWT
// signed with the key, exchanged at token_url for an access token, cached
// until shortly before it expires).
//
// Answers: 2xx delivered; 400 and 413 split the request until the refused
// entry is alone, and only that record is dead-lettered with Google's
// reason; 429 and 5xx retry after Retry-After; 401 drops the token and
// tries once more with a new one; 403 and 404 retry with the fix in the
// message (and fail the start-up check); other 4xx dead-letter.
package googlesecops

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"golang.org/x/oauth2/jwt"

	"github.com/sophos-connect/sophos-connect/internal/redact"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
)

// Sink writes records to a SecOps instance. Write may be called for several
// batches at once (pipeline.ConcurrentSink, through Requests); the requests
// of all of them share request.concurrency.
type Sink struct {
	name   string
	cfg    Config
	log    *slog.Logger
	client *http.Client // every request passes lim, token requests included
	url    string
	email  string // the service account, for messages
	jwt    *jwt.Config

	mu     sync.Mutex
	tokens oauth2.TokenSource
	last   string // the access token tokens gave last

	lim              *httpout.Limiter
	httpout.Requests // the limiter's metrics
	enc              encoding.Encoder
	gate             httpout.Gate
	batches          httpout.Batches
	prefix, suffix   []byte
	tmp              []byte // entry's, under batches' encoding lock
	// lastBytes is the request body bytes of the last Write (benchmarks)
	lastBytes atomic.Int64
}

// New builds the sink; it does not contact Google (Start does).
func New(name string, c Config, log *slog.Logger) (*Sink, error) {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("sink", name)
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("google_secops sink %q: %w", name, err)
	}
	lim := httpout.NewLimiter(c.Request.Concurrency)
	client, err := httpout.NewLimitedClient(c.TLS, c.Timeout.D(), lim)
	if err != nil {
		return nil, fmt.Errorf("google_secops sink %q: %w", name, err)
	}
	key := []byte(c.Credentials.Value())
	sa, _ := parseKey(key) // checked by Validate
	conf, err := google.JWTConfigFromJSON(key, c.Scope())
	if err != nil {
		return nil, fmt.Errorf("google_secops sink %q: credentials: %v", name, err)
	}
	// The assertion goes to the configured token endpoint only, never to
	// a token_uri the key file may name.
	conf.TokenURL = c.TokenURL
	s := &Sink{name: name, cfg: c, log: log, client: client, url: c.URL(), email: sa.ClientEmail, jwt: conf,
		lim: lim, Requests: httpout.Requests{Limiter: lim, Sink: name}}
	s.tokens = s.newTokenSource()
	if s.enc, err = encoding.New(c.Format, encoding.Options{Logger: log, CEFStrict: c.CEFStrict, KeepDhost: c.KeepDhost, ECSExtras: c.ECSExtras}); err != nil {
		return nil, fmt.Errorf("google_secops sink %q: %w", name, err)
	}
	if c.API == "v2" {
		s.prefix = append(s.prefix, `{"customer_id":`...)
		s.prefix = strconv.AppendQuote(s.prefix, c.CustomerID)
		s.prefix = append(s.prefix, `,"log_type":`...)
		s.prefix = strconv.AppendQuote(s.prefix, c.LogType)
		s.prefix = append(s.prefix, `,"entries":[`...)
		s.suffix = []byte(`]}`)
	} else {
		s.prefix = []byte(`{"inlineSource":{"logs":[`)
		s.suffix = []byte(`]}}`)
	}
	return s, nil
}

func (s *Sink) newTokenSource() oauth2.TokenSource {
	return s.jwt.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, s.client))
}

// token returns a valid access token (cached by the token source).
func (s *Sink) token() (string, error) {
	s.mu.Lock()
	ts := s.tokens
	s.mu.Unlock()
	t, err := ts.Token()
	if err != nil {
		return "", err
	}
	redact.Add(t.AccessToken) // an echo of it in any output is removed too
	s.mu.Lock()
	if ts == s.tokens {
		s.last = t.AccessToken
	}
	s.mu.Unlock()
	return t.AccessToken, nil
}

// invalidate drops the cached token tok (Google answered 401: it expired
// early or was revoked) unless another request already replaced it: the
// requests in flight that carried it get one new token between them.
func (s *Sink) invalidate(tok string) {
	s.mu.Lock()
	if s.last == tok {
		s.tokens, s.last = s.newTokenSource(), ""
	}
	s.mu.Unlock()
}

// Close releases idle connections.
func (s *Sink) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// entry appends one record as a log entry of the request; nowText is now
// as collectionTime (RFC 3339), formatted once per batch.
func (s *Sink) entry(dst []byte, r *pipeline.Record, now time.Time, nowText []byte) ([]byte, error) {
	var err error
	s.tmp, err = s.enc.Append(s.tmp[:0], r)
	if err != nil {
		return dst, err
	}
	when := r.WhenTime()
	if when.IsZero() || when.After(now) {
		when = now // collectionTime must not be before logEntryTime
	}
	if s.cfg.API == "v2" {
		dst = append(dst, `{"log_text":`...)
		dst = encoding.AppendQuotedBytes(dst, s.tmp)
		dst = append(dst, `,"ts_epoch_microseconds":`...)
		dst = strconv.AppendInt(dst, when.UnixMicro(), 10)
		return append(dst, '}'), nil
	}
	dst = append(dst, `{"data":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, s.tmp)
	dst = append(dst, `","logEntryTime":"`...)
	dst = when.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","collectionTime":"`...)
	dst = append(dst, nowText...)
	return append(dst, `"}`...), nil
}

// encode encodes the batch's entries into an Encoded of s.batches (the
// caller releases it); collectionTime is formatted once per batch, into a
// local because Writes run at once.
func (s *Sink) encode(batch []*pipeline.Record) (*httpout.Encoded, *pipeline.BatchError) {
	now := time.Now().UTC()
	nowText := now.AppendFormat(make([]byte, 0, 40), time.RFC3339Nano)
	return s.batches.Encode(batch, "google_secops: encoding "+s.cfg.Format, func(dst []byte, r *pipeline.Record) ([]byte, error) {
		return s.entry(dst, r, now, nowText)
	})
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
	e, be := s.encode(batch)
	defer s.batches.Release(e)
	s.lastBytes.Store(0)
	parts := s.lim.Parts()
	// each entry costs a comma; the request its envelope
	room := int(s.cfg.MaxBytes) - len(s.prefix) - len(s.suffix)
	spans := e.CutParts(room, 1, 0, parts)
	s.lim.NoteParts(min(parts, len(spans)))
	outcomes := httpout.SettleConcurrently(ctx, e, spans, parts,
		func(ctx context.Context, sp httpout.Span) httpout.Result { return s.send(ctx, e, sp) })
	return httpout.BatchError(e, outcomes, be)
}

// send posts the entries of sp (of e) as one request (concurrently with the
// other requests of the batch and of other batches: it writes only its own
// buffer).
func (s *Sink) send(ctx context.Context, e *httpout.Encoded, sp httpout.Span) httpout.Result {
	// a slot first: a request waiting for one holds no body
	ctx, done, err := s.lim.Reserve(ctx)
	if err != nil {
		return httpout.Fail(httpout.Retry, err)
	}
	defer done()
	buf := httpout.GetBuffer()
	defer httpout.PutBuffer(buf)
	buf.Write(s.prefix)
	for i := sp.Lo; i < sp.Hi; i++ {
		if i > sp.Lo {
			buf.WriteByte(',')
		}
		buf.Write(e.Record(i))
	}
	buf.Write(s.suffix)
	body := buf.Bytes()
	s.lastBytes.Add(int64(len(body)))
	var status int
	var hdr http.Header
	var raw []byte
	for attempt := 0; attempt < 2; attempt++ {
		if err := s.gate.Wait(ctx); err != nil {
			return httpout.Fail(httpout.Retry, err)
		}
		tok, err := s.token()
		if err != nil {
			return httpout.Fail(httpout.Retry, s.tokenError(err))
		}
		status, hdr, raw, err = s.do(ctx, http.MethodPost, s.url, tok, body)
		if err != nil {
			return httpout.Fail(httpout.Retry, err)
		}
		if status != http.StatusUnauthorized {
			break
		}
		s.invalidate(tok)
	}
	err = s.answerError(status, raw)
	switch {
	case status >= 200 && status < 300:
		return httpout.Ok()
	case status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge:
		return httpout.Fail(httpout.Split, err)
	case status == http.StatusTooManyRequests || status >= 500:
		s.gate.HoldFor(hdr)
		return httpout.Fail(httpout.Retry, err)
	case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusNotFound || status == http.StatusRequestTimeout:
		return httpout.Fail(httpout.Retry, err)
	case status >= 400:
		return httpout.Fail(httpout.Reject, err)
	}
	return httpout.Fail(httpout.Retry, err)
}

func (s *Sink) do(ctx context.Context, method, url, token string, body []byte) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := s.client.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("google_secops %s: %w", s.cfg.BaseURL(), err)
	}
	return res.StatusCode, res.Header, httpout.ReadBody(res), nil
}

// answerError explains an answer (Google's {"error":{code,message,status}}),
// with the fix where there is one.
func (s *Sink) answerError(status int, raw []byte) error {
	var a struct {
		Error struct {
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &a)
	detail := strings.TrimSpace(a.Error.Status + ": " + a.Error.Message)
	if a.Error.Status == "" && a.Error.Message == "" {
		detail = httpout.Snippet(raw)
	}
	base := fmt.Sprintf("google_secops %s log type %s: %d %s", s.cfg.BaseURL(), s.cfg.LogType, status, detail)
	switch status {
	case http.StatusUnauthorized:
		return pipeline.AuthFailure(fmt.Errorf("%s: the token was refused twice (a fresh one included): check that the key in credentials is not disabled or deleted", base))
	case http.StatusForbidden:
		if s.cfg.API == "v2" {
			return pipeline.AuthFailure(fmt.Errorf("%s: the service account %s may not ingest for customer_id %s: use the ingestion service account key Google issued for this instance", base, s.email, s.cfg.CustomerID))
		}
		return pipeline.AuthFailure(fmt.Errorf("%s: grant the service account %s the permission chronicle.logs.import (role Chronicle API Editor, roles/chronicle.editor) on project %s", base, s.email, s.cfg.Project))
	case http.StatusNotFound:
		return fmt.Errorf("%s: check project, region, customer_id and log_type (the instance is projects/%s/locations/%s/instances/%s)", base, s.cfg.Project, s.cfg.location(), s.cfg.CustomerID)
	case http.StatusRequestEntityTooLarge:
		return fmt.Errorf("%s: lower max_bytes", base)
	}
	return errors.New(base)
}

// tokenError explains a refusal by Google's token endpoint.
func (s *Sink) tokenError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		return fmt.Errorf("google_secops sink %s: getting a token from %s: %v", s.name, s.cfg.TokenURL, err)
	}
	// the jwt flow leaves the OAuth error in the body: read it (the body
	// of a refusal holds no token)
	code, desc := re.ErrorCode, re.ErrorDescription
	if code == "" {
		var b struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(re.Body, &b)
		code, desc = b.Error, b.Description
	}
	msg := fmt.Sprintf("google_secops sink %s: the token endpoint %s refused the service account %s: %d %s: %s: check credentials (a current key of an enabled service account)",
		s.name, s.cfg.TokenURL, s.email, re.Response.StatusCode, code, desc)
	if st := re.Response.StatusCode; st == 400 || st == 401 || st == 403 {
		return pipeline.AuthFailure(errors.New(msg))
	}
	return errors.New(msg)
}

// Start gets a token (the service account's key) and, for v1alpha, reads
// the log type resource, which checks the address, the instance
// (project, region, customer_id), the log type and the permission without
// ingesting anything. The v2 API has no such read: its check is the token.
func (s *Sink) Start(ctx context.Context) error {
	tok, err := s.token()
	if err != nil {
		return s.tokenError(err)
	}
	if s.cfg.API == "v1alpha" {
		status, _, raw, err := s.do(ctx, http.MethodGet, s.cfg.BaseURL()+"/v1alpha/"+s.cfg.LogTypePath(), tok, nil)
		if err != nil {
			return err
		}
		switch {
		case status >= 200 && status < 300:
		case status == http.StatusTooManyRequests || status >= 500:
			s.log.Warn("google_secops: the API is busy at start-up; records will be retried", "status", status)
		default:
			return s.answerError(status, raw)
		}
	}
	s.log.Info("google_secops: connected", "url", s.url, "log_type", s.cfg.LogType, "service_account", s.email)
	return nil
}

var _ pipeline.Sink = (*Sink)(nil)
