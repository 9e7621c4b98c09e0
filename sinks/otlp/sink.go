// Package otlp is the OpenTelemetry sink: OTLP/HTTP logs (POST
// <endpoint>/v1/logs), protobuf by default or OTLP's JSON mapping, gzip'd.
// Each record is one LogRecord: the body is the encoded record (format raw
// by default), time_unix_nano the item's `when`, severity_number/text from
// its severity, the common fields as attributes under stable names, and one
// resource per tenant (service.name, sophos.tenant.id, resource_attributes).
//
// The request body is logs.v1.LogsData from go.opentelemetry.io/proto/otlp,
// which is on the wire (and in JSON) exactly ExportLogsServiceRequest: the
// collector service package would pull gRPC into the product for nothing.
//
// Answers, as the OTLP specification has them: 2xx delivered, except that
// partial_success.rejected_log_records = N dead-letters N records (the last
// N of the request: the answer does not say which; see README); 429, 502,
// 503 and 504 are retried after Retry-After; 400 and 413 (the receiver
// refused the request) split it until the refused record is alone; other
// 4xx and 5xx are permanent: dead-lettered with the receiver's message.
package otlp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
)

// Sink posts records to an OTLP/HTTP logs receiver. Write may be called for
// several batches at once (pipeline.ConcurrentSink, through Requests); the
// requests of all of them share request.concurrency.
type Sink struct {
	name    string
	cfg     Config
	log     *slog.Logger
	client  *http.Client
	url     string
	where   string // url for messages (no query)
	enc     encoding.Encoder
	ctype   string
	secrets httpout.Secrets

	lim              *httpout.Limiter
	httpout.Requests // the limiter's metrics
	gate             httpout.Gate
	batches          httpout.Batches
	build            builder
	scratch          sync.Pool // *protoScratch, one per request in flight
	// lastBytes is the request body bytes of the last Write (benchmarks,
	// which write one batch at a time)
	lastBytes atomic.Int64
}

// write is one Write's state: its records, their encoding and the partial
// successes the receiver answered.
type write struct {
	batch   []*pipeline.Record
	e       *httpout.Encoded
	mu      sync.Mutex
	partial []rejection
}

// rejection is a partial success: n of the span's records were rejected.
type rejection struct {
	sp  httpout.Span
	n   int
	err error
}

// New builds the sink; it does not contact the receiver (Start does).
func New(name string, c Config, log *slog.Logger) (*Sink, error) {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("sink", name)
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("otlp sink %q: %w", name, err)
	}
	enc, err := encoding.New(c.Format, encoding.Options{CEFStrict: c.CEFStrict, KeepDhost: c.KeepDhost,
		ECSExtras: c.ECSExtras, PreserveOriginalEvent: c.PreserveOriginalEvent,
		PreserveDuplicateCustomFields: c.PreserveDuplicateCustomFields, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("otlp sink %q: %w", name, err)
	}
	lim := httpout.NewLimiter(c.Request.Concurrency)
	client, err := httpout.NewLimitedClient(c.TLS, c.Timeout.D(), lim)
	if err != nil {
		return nil, fmt.Errorf("otlp sink %q: %w", name, err)
	}
	s := &Sink{name: name, cfg: c, log: log, client: client, url: c.URL(), where: httpout.RedactURL(c.URL()), enc: enc,
		ctype: "application/x-protobuf", build: newBuilder(c), lim: lim, Requests: httpout.Requests{Limiter: lim, Sink: name}}
	if c.Encoding == "json" {
		s.ctype = "application/json"
	}
	s.secrets.Add(c.Auth.Password.Value(), c.Auth.Token.Value())
	s.secrets.AddHeaders(c.Headers)
	if c.Auth.Type == "basic" {
		s.secrets.AddBasic(c.Auth.Username, c.Auth.Password.Value())
	}
	s.secrets.AddQuery(c.Endpoint)
	return s, nil
}

// Close releases idle connections.
func (s *Sink) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// Start posts an empty request (no resources: the receiver takes it and
// stores nothing), which checks the address, TLS, the path and the
// credentials.
func (s *Sink) Start(ctx context.Context) error {
	body, err := s.marshal(nil, s.build.empty())
	if err != nil {
		return err
	}
	res, err := s.post(ctx, body, new(bytes.Buffer))
	if err != nil {
		return fmt.Errorf("otlp sink %s: %w: check endpoint and that the receiver listens for OTLP/HTTP (port 4318 by default)", s.name, err)
	}
	raw := httpout.ReadBody(res)
	switch st := res.StatusCode; {
	case st >= 200 && st < 300:
	case retryable(st):
		s.log.Warn("otlp: the receiver is busy at start-up; records will be retried", "status", st)
	default:
		return s.answerError(res, raw)
	}
	s.log.Info("otlp: connected", "url", s.where, "encoding", s.cfg.Encoding)
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
	e, be := s.batches.Encode(batch, "otlp: encoding "+s.cfg.Format, s.appendBody)
	defer s.batches.Release(e)
	w := &write{batch: batch, e: e}
	s.lastBytes.Store(0)
	parts := s.lim.Parts()
	// a record's fields and framing cost about recordOverhead bytes besides its body
	spans := e.CutParts(int(s.cfg.MaxBytes), recordOverhead, s.cfg.MaxRecords, parts)
	s.lim.NoteParts(min(parts, len(spans)))
	outcomes := httpout.SettleConcurrently(ctx, e, spans, parts,
		func(ctx context.Context, sp httpout.Span) httpout.Result { return s.send(ctx, w, sp) })
	// every request is answered: a partial success dead-letters the last
	// records of the request it answered (their slots said delivered)
	for _, p := range w.partial {
		for i := p.sp.Hi - p.n; i < p.sp.Hi; i++ {
			outcomes[i] = pipeline.Permanent(p.err)
		}
	}
	return httpout.BatchError(e, outcomes, be)
}

// appendBody encodes a record's body: OTLP strings must be UTF-8, so a
// record that is not fails alone instead of its whole request.
func (s *Sink) appendBody(dst []byte, r *pipeline.Record) ([]byte, error) {
	start := len(dst)
	dst, err := s.enc.Append(dst, r)
	if err == nil && !utf8.Valid(dst[start:]) {
		return dst[:start], errors.New("the encoded record is not valid UTF-8, which OTLP's string body must be")
	}
	return dst, err
}

// send posts the records of sp as one request (concurrently with the
// other requests of the batch and of other batches: it writes only its own
// buffers and w's partial successes, under w.mu).
func (s *Sink) send(ctx context.Context, w *write, sp httpout.Span) httpout.Result {
	// a slot first: a request waiting for one holds no body
	ctx, done, err := s.lim.Reserve(ctx)
	if err != nil {
		return httpout.Fail(httpout.Retry, err)
	}
	defer done()
	buf, zbuf := httpout.GetBuffer(), httpout.GetBuffer()
	defer httpout.PutBuffer(buf)
	defer httpout.PutBuffer(zbuf)
	var body []byte
	if s.cfg.Encoding == "json" {
		var err error
		if body, err = s.marshal(buf.AvailableBuffer(), s.build.request(w.batch, w.e, sp, time.Now())); err != nil {
			return httpout.Fail(httpout.Reject, err)
		}
	} else {
		sc, _ := s.scratch.Get().(*protoScratch)
		if sc == nil {
			sc = new(protoScratch)
		}
		body = s.build.appendProto(buf.AvailableBuffer(), sc, w.batch, w.e, sp, time.Now())
		s.scratch.Put(sc)
	}
	if cap(body) > buf.Cap() {
		*buf = *bytes.NewBuffer(body[:0]) // the pool keeps the grown slice (no copy)
	}
	s.lastBytes.Add(int64(len(body)))
	if err := s.gate.Wait(ctx); err != nil {
		return httpout.Fail(httpout.Retry, err)
	}
	res, err := s.post(ctx, body, zbuf)
	if err != nil {
		return httpout.Fail(httpout.Retry, err)
	}
	raw := httpout.ReadBody(res)
	st := res.StatusCode
	switch {
	case st >= 200 && st < 300:
		n, msg := s.partialSuccess(res.Header.Get("Content-Type"), raw)
		total := sp.Hi - sp.Lo
		switch {
		case n > 0:
			n = min(n, total)
			err := fmt.Errorf("otlp %s: the receiver rejected %d of the %d records of a request (partial_success: %s) without saying which; the last %d of the request (%s … %s) stand in for them: set max_records: 1 to know exactly",
				s.where, n, total, orNone(msg), n, w.idOf(sp.Hi-n), w.idOf(sp.Hi-1))
			w.mu.Lock()
			w.partial = append(w.partial, rejection{sp: sp, n: n, err: err})
			w.mu.Unlock()
			s.log.Warn("otlp: the receiver rejected part of a request", "rejected", n, "records", total, "message", msg)
		case msg != "":
			s.log.Warn("otlp: the receiver took the request with a warning", "message", msg)
		}
		return httpout.Ok()
	case retryable(st):
		s.gate.HoldFor(res.Header)
		return httpout.Fail(httpout.Retry, s.answerError(res, raw))
	case st == http.StatusBadRequest || st == http.StatusRequestEntityTooLarge:
		return httpout.Fail(httpout.Split, s.answerError(res, raw))
	}
	return httpout.Fail(httpout.Reject, s.answerError(res, raw))
}

// retryable is the OTLP/HTTP specification's list of statuses to retry.
func retryable(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

func (w *write) idOf(i int) string {
	if r := w.batch[w.e.Index[i]]; r.ID != "" {
		return r.ID
	}
	return "(no id)"
}

func orNone(s string) string {
	if s == "" {
		return "no message"
	}
	return s
}

// marshal appends m in the request encoding to dst.
func (s *Sink) marshal(dst []byte, m proto.Message) ([]byte, error) {
	var err error
	if s.cfg.Encoding == "json" {
		dst, err = protojson.MarshalOptions{UseEnumNumbers: true}.MarshalAppend(dst, m)
	} else {
		dst, err = proto.MarshalOptions{}.MarshalAppend(dst, m)
	}
	if err != nil {
		return nil, fmt.Errorf("otlp: encoding the request: %w", err)
	}
	return dst, nil
}

// post sends body, gzip'd into zbuf (klauspost/compress at its fastest
// level) unless compression is none.
func (s *Sink) post(ctx context.Context, body []byte, zbuf *bytes.Buffer) (*http.Response, error) {
	gz := s.cfg.Compression == "gzip"
	if gz {
		httpout.Gzip(zbuf, body, httpout.DefaultCompressionLevel)
		body = zbuf.Bytes()
	}
	req, err := httpout.NewRequest(ctx, http.MethodPost, s.url, body, s.ctype, gz, s.cfg.Headers)
	if err != nil {
		return nil, err
	}
	httpout.SetAuth(req, s.cfg.Auth.Type, s.cfg.Auth.Username, s.cfg.Auth.Password.Value(), s.cfg.Auth.Token.Value())
	res, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("otlp %s: %w", s.where, httpout.Cause(err))
	}
	return res, nil
}

// answerError explains a refusal, with the receiver's message (a
// google.rpc.Status in the request's encoding, or text) and the fix.
func (s *Sink) answerError(res *http.Response, raw []byte) error {
	msg := statusMessage(res.Header.Get("Content-Type"), raw)
	if msg == "" {
		msg = httpout.Snippet(raw)
	}
	msg = s.redact(msg)
	base := fmt.Sprintf("otlp %s: %d %s", s.where, res.StatusCode, http.StatusText(res.StatusCode))
	if msg != "" {
		base += ": " + msg
	}
	switch res.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%s: check auth and headers (the receiver's credentials)", base)
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return fmt.Errorf("%s: check endpoint: an OTLP/HTTP receiver takes logs at /v1/logs (give the base URL, e.g. http://collector:4318)", base)
	case http.StatusUnsupportedMediaType:
		return fmt.Errorf("%s: the receiver does not take encoding %s: try the other (proto or json)", base, s.cfg.Encoding)
	case http.StatusRequestEntityTooLarge:
		return fmt.Errorf("%s: lower max_bytes below the receiver's limit", base)
	}
	return errors.New(base)
}

func (s *Sink) redact(msg string) string { return s.secrets.RedactString(msg) }

// partialSuccess reads ExportLogsServiceResponse.partial_success: how many
// records the receiver rejected and its message.
func (s *Sink) partialSuccess(ctype string, raw []byte) (int, string) {
	if len(raw) == 0 {
		return 0, ""
	}
	if isJSON(ctype, raw) {
		var r struct {
			P1 *jsonPartial `json:"partialSuccess"`
			P2 *jsonPartial `json:"partial_success"`
		}
		if json.Unmarshal(raw, &r) != nil {
			return 0, ""
		}
		p := r.P1
		if p == nil {
			p = r.P2
		}
		if p == nil {
			return 0, ""
		}
		return p.rejected(), s.redact(p.message())
	}
	n, msg := decodePartialSuccess(raw)
	return n, s.redact(msg)
}

func isJSON(ctype string, raw []byte) bool {
	if strings.HasPrefix(ctype, "application/json") {
		return true
	}
	if strings.Contains(ctype, "protobuf") {
		return false
	}
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '{'
}

// jsonPartial is ExportLogsPartialSuccess in OTLP JSON (lowerCamelCase, or
// the proto names protojson also accepts; int64 as a number or a string).
type jsonPartial struct {
	Rejected1 json.RawMessage `json:"rejectedLogRecords"`
	Rejected2 json.RawMessage `json:"rejected_log_records"`
	Message1  string          `json:"errorMessage"`
	Message2  string          `json:"error_message"`
}

func (p *jsonPartial) rejected() int {
	raw := p.Rejected1
	if raw == nil {
		raw = p.Rejected2
	}
	var n int64
	if _, err := fmt.Sscan(strings.Trim(string(raw), `"`), &n); err != nil || n < 0 {
		return 0
	}
	return int(n)
}

func (p *jsonPartial) message() string { return p.Message1 + p.Message2 }

var _ pipeline.Sink = (*Sink)(nil)
