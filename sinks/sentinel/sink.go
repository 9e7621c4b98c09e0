// Package sentinel is the Microsoft Sentinel sink: it sends records to the
// Azure Monitor Logs Ingestion API (POST <endpoint>/dataCollectionRules/
// <dcr>/streams/<stream>?api-version=2023-01-01) as JSON arrays, gzip'd,
// each call under 1 MB, with an OAuth2 client-credentials token from
// Microsoft Entra ID (scope https://monitor.azure.com//.default), cached and
// refreshed before it expires.
//
// Answers: 204 delivered; 400 and 413 split the call until the refused row
// is alone, and only that record is dead-lettered; 429 and 5xx retry after
// Retry-After; 401 drops the token and tries once more with a new one
// (expired or revoked mid-run); 403 and 404 retry with the fix in the
// message (and fail the start-up check).
package sentinel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
)

// Sink writes records to a DCR stream. Write may be called for several
// batches at once (pipeline.ConcurrentSink, through Requests); the calls of
// all of them share request.concurrency.
type Sink struct {
	name   string
	cfg    Config
	log    *slog.Logger
	client *http.Client
	url    string
	tokens *httpout.ClientCredentials

	enc              encoding.Encoder // nil for format sentinel
	lim              *httpout.Limiter
	gate             httpout.Gate
	batches          httpout.Batches
	httpout.Requests // the limiter's metrics
	// lastBytes is the request body bytes of the last Write (benchmarks)
	lastBytes atomic.Int64
}

// New builds the sink; it does not contact Azure (Start does).
func New(name string, c Config, log *slog.Logger) (*Sink, error) {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("sink", name)
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("sentinel sink %q: %w", name, err)
	}
	lim := httpout.NewLimiter(c.Request.Concurrency)
	client, err := httpout.NewLimitedClient(c.TLS, c.Timeout.D(), lim)
	if err != nil {
		return nil, fmt.Errorf("sentinel sink %q: %w", name, err)
	}
	s := &Sink{name: name, cfg: c, log: log, client: client, lim: lim, Requests: httpout.Requests{Limiter: lim, Sink: name},
		url: strings.TrimRight(c.Endpoint, "/") + "/dataCollectionRules/" + url.PathEscape(c.DCRImmutableID) +
			"/streams/" + url.PathEscape(c.Stream) + "?api-version=" + APIVersion,
		tokens: &httpout.ClientCredentials{
			TokenURL: strings.TrimRight(c.AuthorityHost, "/") + "/" + url.PathEscape(c.TenantID) + "/oauth2/v2.0/token",
			ClientID: c.ClientID, ClientSecret: c.ClientSecret.Value(), Scope: c.Scope, Client: client,
		},
	}
	if c.Format != "sentinel" {
		if s.enc, err = encoding.New(c.Format, encoding.Options{Logger: log}); err != nil {
			return nil, fmt.Errorf("sentinel sink %q: %w", name, err)
		}
	}
	return s, nil
}

// Close releases idle connections.
func (s *Sink) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// row appends the record as one row of the default shape: the columns of
// examples/sentinel-dcr.json.
func row(dst []byte, r *pipeline.Record) ([]byte, error) {
	if !r.RawChecked && !rawjson.Valid(r.Raw) {
		return dst, errors.New("the API item is not valid JSON")
	}
	t := r.WhenTime()
	if t.IsZero() {
		t = time.Now()
	}
	dst = append(dst, `{"TimeGenerated":"`...)
	dst = appendMillisUTC(dst, t)
	dst = append(dst, '"')
	str := func(col, v string) {
		dst = append(dst, ',', '"')
		dst = append(dst, col...)
		dst = append(dst, '"', ':')
		dst = encoding.AppendQuoted(dst, v)
	}
	str("SophosId", r.ID)
	str("Datastream", string(r.Stream))
	str("SophosTenantId", r.Tenant)
	str("EventType", r.Type)
	str("Severity", r.Severity)
	str("Name", r.Name)
	str("EventGroup", r.Group)
	str("Location", r.Host)
	str("SourceUser", r.User)
	str("EndpointId", r.EndpointID)
	str("EndpointType", r.EndpointType)
	if c := r.CreatedTime(); !c.IsZero() {
		dst = append(dst, `,"CreatedAt":"`...)
		dst = appendMillisUTC(dst, c)
		dst = append(dst, '"')
	}
	if !r.Stream.SIEM() {
		// Detections and cases: the rule and MITRE columns of the DCR
		// (absent on alert and event rows).
		x, err := encoding.SummarizeXDR(r)
		if err != nil {
			return dst, err
		}
		str("RuleName", x.Rule)
		str("RuleDescription", x.RuleDescription)
		list := func(col string, ids []string) {
			dst = append(dst, ',', '"')
			dst = append(dst, col...)
			dst = append(dst, `":[`...)
			for i, id := range ids {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = encoding.AppendQuoted(dst, id)
			}
			dst = append(dst, ']')
		}
		list("MitreTactics", x.Tactics)
		list("MitreTechniques", x.Techniques)
		if r.Stream == pipeline.Cases {
			str("CaseStatus", x.Status)
			dst = append(dst, `,"Escalated":`...)
			dst = strconv.AppendBool(dst, x.Escalated)
		}
	}
	dst = append(dst, `,"Item":`...)
	dst = append(dst, bytes.TrimSpace(r.Raw)...)
	return append(dst, '}'), nil
}

// appendMillisUTC appends t in UTC as 2006-01-02T15:04:05.000Z, digit by
// digit: time's AppendFormat was a third of a row's cost.
func appendMillisUTC(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	ms := t.Nanosecond() / 1e6
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, "2006-01-02T15:04:05.000Z")
	}
	d2 := func(v int) { dst = append(dst, byte('0'+v/10), byte('0'+v%10)) }
	d2(year / 100)
	d2(year % 100)
	dst = append(dst, '-')
	d2(int(month))
	dst = append(dst, '-')
	d2(day)
	dst = append(dst, 'T')
	d2(hour)
	dst = append(dst, ':')
	d2(minute)
	dst = append(dst, ':')
	d2(sec)
	return append(dst, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

// Write sends the batch; see the package comment for the outcomes.
func (s *Sink) Write(ctx context.Context, batch []*pipeline.Record) error {
	if len(batch) == 0 {
		return nil
	}
	enc := row
	if s.enc != nil {
		enc = s.enc.Append
	}
	// past the limiter's room the batch waits here, before it is encoded
	if err := s.lim.AdmitBatch(ctx); err != nil {
		return err
	}
	defer s.lim.DoneBatch()
	e, be := s.batches.Encode(batch, "sentinel: encoding "+s.cfg.Format, enc)
	defer s.batches.Release(e)
	s.lastBytes.Store(0)
	// each row costs a comma; the array its brackets
	parts := s.lim.Parts()
	spans := e.CutParts(int(s.cfg.MaxBytes)-2, 1, 0, parts)
	s.lim.NoteParts(min(parts, len(spans)))
	outcomes := httpout.SettleConcurrently(ctx, e, spans, parts,
		func(ctx context.Context, sp httpout.Span) httpout.Result { return s.send(ctx, e, sp) })
	return httpout.BatchError(e, outcomes, be)
}

// send posts the rows of sp (records of e) as one JSON array (concurrently
// with the other calls of the batch and of other batches).
func (s *Sink) send(ctx context.Context, e *httpout.Encoded, sp httpout.Span) httpout.Result {
	// a slot first: a request waiting for one holds no body
	ctx, done, err := s.lim.Reserve(ctx)
	if err != nil {
		return httpout.Fail(httpout.Retry, err)
	}
	defer done()
	buf := httpout.GetBuffer()
	defer httpout.PutBuffer(buf)
	buf.WriteByte('[')
	for i := sp.Lo; i < sp.Hi; i++ {
		if i > sp.Lo {
			buf.WriteByte(',')
		}
		buf.Write(e.Record(i))
	}
	buf.WriteByte(']')
	body := buf.Bytes()
	s.lastBytes.Add(int64(len(body)))
	var status int
	var hdr http.Header
	var raw []byte
	for attempt := 0; attempt < 2; attempt++ {
		if err := s.gate.Wait(ctx); err != nil {
			return httpout.Fail(httpout.Retry, err)
		}
		tok, err := s.tokens.Token(ctx)
		if err != nil {
			return httpout.Fail(httpout.Retry, s.tokenError(err))
		}
		status, hdr, raw, err = s.post(ctx, tok, body)
		if err != nil {
			return httpout.Fail(httpout.Retry, err)
		}
		if status != http.StatusUnauthorized {
			break
		}
		// expired early or revoked: a fresh token, once
		s.tokens.Invalidate(tok)
	}
	err = s.answerError(status, raw)
	switch {
	case status >= 200 && status < 300:
		return httpout.Ok()
	case status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge:
		return httpout.Fail(httpout.Split, err)
	case status == http.StatusTooManyRequests || status >= 500:
		s.gate.HoldFor(hdr)
	}
	return httpout.Fail(httpout.Retry, err)
}

func (s *Sink) post(ctx context.Context, token string, body []byte) (int, http.Header, []byte, error) {
	level := 0
	if s.cfg.Compression == "gzip" {
		level = s.cfg.CompressionLevel
	}
	zbuf := httpout.GetBuffer()
	defer httpout.PutBuffer(zbuf)
	req, err := httpout.NewRequest(ctx, http.MethodPost, s.url, httpout.CompressLevel(zbuf, body, level), "application/json", level > 0, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := s.client.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("sentinel %s: %w", s.cfg.Endpoint, err)
	}
	return res.StatusCode, res.Header, httpout.ReadBody(res), nil
}

// answerError explains an answer, with the fix where there is one.
func (s *Sink) answerError(status int, raw []byte) error {
	var a struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal(raw, &a)
	detail := strings.TrimSpace(a.Error.Code + ": " + a.Error.Message)
	if a.Error.Code == "" && a.Error.Message == "" {
		detail = httpout.Snippet(raw)
	}
	base := fmt.Sprintf("sentinel %s stream %s: %d %s", s.cfg.Endpoint, s.cfg.Stream, status, detail)
	switch status {
	case http.StatusUnauthorized:
		return pipeline.AuthFailure(fmt.Errorf("%s: the token was refused twice (a fresh one included): check tenant_id and that endpoint belongs to that tenant", base))
	case http.StatusForbidden:
		return pipeline.AuthFailure(fmt.Errorf("%s: grant the app (client_id %s) the \"Monitoring Metrics Publisher\" role on the data collection rule %s (Access control (IAM) → Add role assignment; it can take 30 minutes to apply)", base, s.cfg.ClientID, s.cfg.DCRImmutableID))
	case http.StatusNotFound:
		return fmt.Errorf("%s: check dcr_immutable_id, stream (declared in the DCR's streamDeclarations) and endpoint (the DCR's or its DCE's logs ingestion URL)", base)
	case http.StatusRequestEntityTooLarge:
		return fmt.Errorf("%s: lower max_bytes (the API takes at most 1 MiB per call)", base)
	}
	return errors.New(base)
}

// tokenError explains a refusal by Entra ID.
func (s *Sink) tokenError(err error) error {
	var te *httpout.TokenError
	if !errors.As(err, &te) {
		return fmt.Errorf("sentinel: getting a token from %s: %w", s.cfg.AuthorityHost, err)
	}
	fix := ""
	switch {
	case te.Code == "invalid_client":
		fix = "check client_secret: the secret's Value (not its Secret ID), not expired"
	case te.Code == "unauthorized_client" || strings.Contains(te.Description, "AADSTS700016"):
		fix = "check client_id: the Application (client) ID of an app registered in tenant_id"
	case strings.Contains(te.Description, "AADSTS90002") || strings.Contains(te.Description, "AADSTS900023"):
		fix = "check tenant_id: the Directory (tenant) ID"
	case te.Code == "invalid_scope":
		fix = "check scope (default " + DefaultScope + ")"
	default:
		fix = "check tenant_id, client_id and client_secret"
	}
	err = fmt.Errorf("sentinel sink %s: Entra ID refused the app's credentials: %v: %s", s.name, te, fix)
	if te.Refused() {
		return pipeline.AuthFailure(err)
	}
	return err
}

// Start gets a token (the app's credentials) and posts an empty array to
// the stream, which checks the endpoint, the DCR, the stream and the role
// without ingesting a row.
func (s *Sink) Start(ctx context.Context) error {
	tok, err := s.tokens.Token(ctx)
	if err != nil {
		return s.tokenError(err)
	}
	status, _, raw, err := s.post(ctx, tok, []byte("[]"))
	if err != nil {
		return err
	}
	switch {
	case status >= 200 && status < 300:
	case status == http.StatusTooManyRequests || status >= 500:
		s.log.Warn("sentinel: the ingestion endpoint is busy at start-up; records will be retried", "status", status)
	default:
		return s.answerError(status, raw)
	}
	s.log.Info("sentinel: connected", "endpoint", s.cfg.Endpoint, "dcr", s.cfg.DCRImmutableID, "stream", s.cfg.Stream)
	return nil
}

var _ pipeline.Sink = (*Sink)(nil)
