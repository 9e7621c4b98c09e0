// Package splunkhec is the Splunk HTTP Event Collector sink: records go to
// /services/collector/event as concatenated JSON envelopes (time, host,
// source, sourcetype, index, fields, event), gzip'd, in requests bounded by
// max_bytes. With ack: true a record counts as delivered only when Splunk's
// indexer acknowledgement for its request is true; records whose ack does
// not come within ack_timeout are sent again.
//
// Answers by HEC code: 400 codes 6, 12, 13 and 15 (a bad event, named by
// invalid-event-number) split the request until the event is alone, and
// only that record is dead-lettered; 400 code 7 (an index the token may not
// write) rejects the request; 413 splits; 429, 503 (code 9, server busy) and
// other 5xx retry, after Retry-After when given; 401/403 retry (a token
// revoked mid-run must not send data to the dead-letter file) and fail the
// start-up check.
package splunkhec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
)

// Sink writes records to a Splunk HEC. Write may be called for several
// batches at once (pipeline.ConcurrentSink, through Requests); the requests
// of all of them share request.concurrency.
type Sink struct {
	name    string
	cfg     Config
	log     *slog.Logger
	client  *http.Client
	base    string // URL without a trailing slash
	channel string // X-Splunk-Request-Channel, one per sink
	auth    string

	enc        encoding.Encoder
	object     bool
	sourcetype pipeline.Template
	host       string // fixed host, or "" for the record's location
	fallback   string // this machine's name
	gzLevel    int    // 0: no compression

	lim              *httpout.Limiter
	httpout.Requests // the limiter's metrics
	gate             httpout.Gate
	batches          httpout.Batches
	scratch          []byte // envelope's, under batches' encoding lock
	warnOnce         sync.Once
	// lastBytes is the request body bytes of the last Write (benchmarks,
	// which write one batch at a time)
	lastBytes atomic.Int64
}

// write is one Write's state: its records and the requests awaiting their
// indexer acknowledgement.
type write struct {
	e     *httpout.Encoded
	ackMu sync.Mutex
	acks  []pendingAck
}

type pendingAck struct {
	id   int64
	span httpout.Span
}

// New builds the sink; it does not contact Splunk (Start does).
func New(name string, c Config, log *slog.Logger) (*Sink, error) {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("sink", name)
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("splunk_hec sink %q: %w", name, err)
	}
	enc, err := encoding.New(c.Format, encoding.Options{CEFStrict: c.CEFStrict, KeepDhost: c.KeepDhost, OCSF: c.OCSF, LEEF: c.LEEF, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("splunk_hec sink %q: format: %w", name, err)
	}
	lim := httpout.NewLimiter(c.Request.Concurrency)
	client, err := httpout.NewLimitedClient(c.TLS, c.Timeout.D(), lim)
	if err != nil {
		return nil, fmt.Errorf("splunk_hec sink %q: %w", name, err)
	}
	gzLevel := 0
	if c.Compression == "gzip" {
		gzLevel = c.CompressionLevel
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "sophos-connect"
	}
	return &Sink{
		name: name, cfg: c, log: log, client: client,
		base:       strings.TrimRight(c.URL, "/"),
		channel:    httpout.NewUUID(),
		auth:       "Splunk " + c.Token.Value(),
		enc:        enc,
		object:     slices.Contains(objectFormats, c.Format),
		sourcetype: pipeline.ParseTemplate(c.Sourcetype),
		host:       c.Host,
		fallback:   host,
		gzLevel:    gzLevel,
		lim:        lim,
		Requests:   httpout.Requests{Limiter: lim, Sink: name},
	}, nil
}

// Close releases idle connections.
func (s *Sink) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// hecAnswer is HEC's JSON answer.
type hecAnswer struct {
	Text    string `json:"text"`
	Code    *int   `json:"code"`
	AckID   *int64 `json:"ackId"`
	Invalid *int   `json:"invalid-event-number"`
}

func (a hecAnswer) code() int {
	if a.Code == nil {
		return -1
	}
	return *a.Code
}

// post sends body to path (gzip'd at level, unless 0) and reads HEC's
// answer. It is safe for concurrent use.
func (s *Sink) post(ctx context.Context, path string, body []byte, level int) (int, http.Header, hecAnswer, []byte, error) {
	zbuf := httpout.GetBuffer()
	defer httpout.PutBuffer(zbuf)
	req, err := httpout.NewRequest(ctx, http.MethodPost, s.base+path, httpout.CompressLevel(zbuf, body, level), "application/json", level > 0, nil)
	if err != nil {
		return 0, nil, hecAnswer{}, nil, err
	}
	req.Header.Set("Authorization", s.auth)
	req.Header.Set("X-Splunk-Request-Channel", s.channel)
	res, err := s.client.Do(req)
	if err != nil {
		return 0, nil, hecAnswer{}, nil, s.transportError(err)
	}
	raw := httpout.ReadBody(res)
	var a hecAnswer
	_ = json.Unmarshal(raw, &a)
	return res.StatusCode, res.Header, a, raw, nil
}

func (s *Sink) transportError(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(msg, "Client.Timeout"):
		return fmt.Errorf("splunk hec %s: no answer within %s: raise timeout or lower max_bytes: %w", s.base, s.cfg.Timeout, err)
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "tls:"):
		return fmt.Errorf("splunk hec %s: TLS failed: %w: set tls.ca_file to the CA of HEC's certificate (tls.server_name if it names another host)", s.base, err)
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("splunk hec %s: HEC answers plain HTTP: use an http:// url, or enable SSL in HEC's global settings", s.base)
	}
	return fmt.Errorf("splunk hec %s: %w", s.base, err)
}

// answerError describes a non-success answer.
func (s *Sink) answerError(status int, a hecAnswer, raw []byte) error {
	text := a.Text
	if text == "" {
		text = httpout.Snippet(raw)
	}
	base := fmt.Sprintf("splunk hec %s: %d", s.base, status)
	if a.Code != nil {
		base += fmt.Sprintf(" code %d", *a.Code)
	}
	base += " " + text
	switch {
	case status == 401 || status == 403:
		return pipeline.AuthFailure(fmt.Errorf("%s: sink %s's token was refused: check the token key (the HEC token's value, enabled, in Settings → Data inputs → HTTP Event Collector)", base, s.name))
	case status == 400 && a.code() == 7:
		return fmt.Errorf("%s: the token may not write index %q: add it to the token's allowed indexes or change index", base, s.cfg.Index)
	case status == 400 && a.code() == 14:
		return fmt.Errorf("%s: ack is on but the token's indexer acknowledgement is off: enable it on the token or set ack: false", base)
	case status == 404:
		return fmt.Errorf("%s: no HEC here: url is the HEC base (https://host:8088), without /services/collector", base)
	}
	return errors.New(base)
}

// envelope appends one record's HEC envelope.
func (s *Sink) envelope(dst []byte, r *pipeline.Record) ([]byte, error) {
	start := len(dst)
	dst = append(dst, '{')
	if t := r.WhenTime(); !t.IsZero() {
		ms := t.UnixMilli()
		dst = append(dst, `"time":`...)
		dst = strconv.AppendInt(dst, ms/1000, 10)
		dst = append(dst, '.')
		f := ms % 1000
		dst = append(dst, byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
		dst = append(dst, ',')
	}
	host := s.host
	if host == "" {
		host = r.Host
		if host == "" {
			host = s.fallback
		}
	}
	dst = append(dst, `"host":`...)
	dst = rawjson.AppendString(dst, host)
	dst = append(dst, `,"source":`...)
	dst = rawjson.AppendString(dst, s.cfg.Source)
	dst = append(dst, `,"sourcetype":`...)
	s.scratch = s.sourcetype.Append(s.scratch[:0], r)
	dst = rawjson.AppendString(dst, string(s.scratch))
	if s.cfg.Index != "" {
		dst = append(dst, `,"index":`...)
		dst = rawjson.AppendString(dst, s.cfg.Index)
	}
	if s.cfg.Fields == nil || *s.cfg.Fields {
		dst = append(dst, `,"fields":{"tenant_id":`...)
		dst = rawjson.AppendString(dst, r.Tenant)
		dst = append(dst, `,"datastream":`...)
		dst = rawjson.AppendString(dst, string(r.Stream))
		dst = append(dst, '}')
	}
	dst = append(dst, `,"event":`...)
	var err error
	if s.object {
		dst, err = s.enc.Append(dst, r)
	} else {
		s.scratch, err = s.enc.Append(s.scratch[:0], r)
		if err == nil {
			dst = rawjson.AppendString(dst, string(s.scratch))
		}
	}
	if err != nil {
		return dst[:start], err
	}
	return append(dst, "}\n"...), nil
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
	e, be := s.batches.Encode(batch, "splunk hec: encoding "+s.cfg.Format, s.envelope)
	defer s.batches.Release(e)
	w := &write{e: e}
	s.lastBytes.Store(0)
	parts := s.lim.Parts()
	spans := e.CutParts(int(s.cfg.MaxBytes), 0, 0, parts)
	s.lim.NoteParts(min(parts, len(spans)))
	outcomes := httpout.SettleConcurrently(ctx, e, spans, parts,
		func(ctx context.Context, sp httpout.Span) httpout.Result { return s.send(ctx, w, sp) })
	if s.cfg.Ack && len(w.acks) > 0 {
		s.waitAcks(ctx, w.acks, outcomes)
	}
	return httpout.BatchError(e, outcomes, be)
}

// send posts the records of sp and reads HEC's answer (concurrently with
// the other requests of the batch and of other batches).
func (s *Sink) send(ctx context.Context, w *write, sp httpout.Span) httpout.Result {
	if err := s.gate.Wait(ctx); err != nil {
		return httpout.Fail(httpout.Retry, err)
	}
	// a slot first: a request waiting for one holds no body
	ctx, done, err := s.lim.Reserve(ctx)
	if err != nil {
		return httpout.Fail(httpout.Retry, err)
	}
	defer done()
	body := w.e.Body[w.e.Start(sp.Lo):w.e.Ends[sp.Hi-1]]
	s.lastBytes.Add(int64(len(body)))
	status, hdr, a, raw, err := s.post(ctx, "/services/collector/event", body, s.gzLevel)
	if err != nil {
		return httpout.Fail(httpout.Retry, err)
	}
	switch {
	case status == http.StatusOK:
		if s.cfg.Ack {
			if a.AckID == nil {
				s.warnOnce.Do(func() {
					s.log.Warn("splunk hec: ack is on but HEC answers without an ackId (indexer acknowledgement is off for this token): records count as delivered when HEC accepts them")
				})
			} else {
				w.ackMu.Lock()
				w.acks = append(w.acks, pendingAck{id: *a.AckID, span: sp})
				w.ackMu.Unlock()
			}
		}
		return httpout.Ok()
	case status == http.StatusBadRequest:
		err := s.answerError(status, a, raw)
		switch a.code() {
		case 6, 12, 13, 15: // the data: find the event and dead-letter it alone
			bad := -1
			if a.Invalid != nil {
				bad = *a.Invalid
			}
			return httpout.Result{Kind: httpout.Split, Err: err, Bad: bad}
		case 7: // the index, for every event of this sink
			return httpout.Fail(httpout.Reject, err)
		}
		return httpout.Fail(httpout.Retry, err)
	case status == http.StatusRequestEntityTooLarge:
		return httpout.Fail(httpout.Split, fmt.Errorf("%w: lower max_bytes below HEC's max_content_length", s.answerError(status, a, raw)))
	case status == http.StatusTooManyRequests || status >= 500:
		s.gate.HoldFor(hdr)
	}
	return httpout.Fail(httpout.Retry, s.answerError(status, a, raw))
}

// waitAcks polls /services/collector/ack until every request of a Write
// (acks) is acknowledged or ack_timeout passed; the records of requests
// still unacknowledged then are marked for sending again. Concurrent
// Writes poll for their own ackIds on the sink's one channel.
func (s *Sink) waitAcks(ctx context.Context, acks []pendingAck, outcomes []error) {
	deadline := time.Now().Add(s.cfg.AckTimeout.D())
	pending := make(map[int64]httpout.Span, len(acks))
	for _, p := range acks {
		if prev, dup := pending[p.id]; dup {
			// HEC handed out an ackId twice (restarted?): a true would not
			// say which request it means, so the earlier one is resent
			for i := prev.Lo; i < prev.Hi; i++ {
				outcomes[i] = fmt.Errorf("splunk hec %s: ackId %d was given to two requests (HEC restarted?): sending again", s.base, p.id)
			}
		}
		pending[p.id] = p.span
	}
	var lastErr error
	// the first queries come soon (an idle indexer acknowledges within
	// a fraction of a second), then every ack_poll_interval
	wait := min(100*time.Millisecond, s.cfg.AckPollInterval.D())
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for len(pending) > 0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			for _, sp := range pending {
				for i := sp.Lo; i < sp.Hi; i++ {
					outcomes[i] = ctx.Err()
				}
			}
			return
		case <-timer.C:
		}
		wait = min(2*wait, s.cfg.AckPollInterval.D())
		timer.Reset(wait)
		ids := make([]int64, 0, len(pending))
		for id := range pending {
			ids = append(ids, id)
		}
		done, err := s.queryAcks(ctx, ids)
		if err != nil {
			lastErr = err
			s.log.Debug("splunk hec: ack query failed", "err", err)
			continue
		}
		for _, id := range done {
			delete(pending, id)
		}
	}
	for id, sp := range pending {
		err := fmt.Errorf("splunk hec %s: no indexer acknowledgement for ackId %d within ack_timeout %s: sending its %d record(s) again", s.base, id, s.cfg.AckTimeout, sp.Hi-sp.Lo)
		if lastErr != nil {
			err = fmt.Errorf("%w (last ack query: %v)", err, lastErr)
		}
		for i := sp.Lo; i < sp.Hi; i++ {
			outcomes[i] = err
		}
	}
}

// queryAcks asks which of ids are indexed.
func (s *Sink) queryAcks(ctx context.Context, ids []int64) ([]int64, error) {
	body := []byte(`{"acks":[`)
	for i, id := range ids {
		if i > 0 {
			body = append(body, ',')
		}
		body = strconv.AppendInt(body, id, 10)
	}
	body = append(body, "]}"...)
	status, hdr, a, raw, err := s.post(ctx, "/services/collector/ack", body, 0)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		if status == http.StatusTooManyRequests || status >= 500 {
			s.gate.HoldFor(hdr)
		}
		return nil, s.answerError(status, a, raw)
	}
	var res struct {
		Acks map[string]bool `json:"acks"`
	}
	if err := json.Unmarshal(raw, &res); err != nil || res.Acks == nil {
		return nil, fmt.Errorf("splunk hec %s: unexpected ack answer %s", s.base, httpout.Snippet(raw))
	}
	var done []int64
	for k, ok := range res.Acks {
		if id, err := strconv.ParseInt(k, 10, 64); err == nil && ok {
			done = append(done, id)
		}
	}
	return done, nil
}

// Start checks HEC: /services/collector/health (reachable, healthy), the
// token (an empty event request answers 400 code 5 "No data" to a valid
// token, 401/403 otherwise), and with ack: true that the token has indexer
// acknowledgement.
func (s *Sink) Start(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/services/collector/health", nil)
	if err != nil {
		return err
	}
	res, err := s.client.Do(req)
	if err != nil {
		return s.transportError(err)
	}
	raw := httpout.ReadBody(res)
	var a hecAnswer
	_ = json.Unmarshal(raw, &a)
	switch {
	case res.StatusCode == http.StatusOK && a.code() == 17:
	case res.StatusCode == http.StatusServiceUnavailable && a.Code != nil:
		s.log.Warn("splunk hec: HEC reports itself unhealthy; records will be retried until it recovers", "code", a.code(), "text", a.Text)
	default:
		return fmt.Errorf("%w (health check GET /services/collector/health)", s.answerError(res.StatusCode, a, raw))
	}
	status, _, a, raw, err := s.post(ctx, "/services/collector/event", nil, 0)
	if err != nil {
		return err
	}
	switch {
	case status == http.StatusBadRequest && a.code() == 5: // the token is good
	case status == http.StatusOK:
	case status == 401 || status == 403:
		return s.answerError(status, a, raw)
	case status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests:
		s.log.Warn("splunk hec: HEC is busy at start-up; records will be retried", "status", status, "text", a.Text)
	default:
		return s.answerError(status, a, raw)
	}
	if !s.cfg.Ack {
		return nil
	}
	status, _, a, raw, err = s.post(ctx, "/services/collector/ack", []byte(`{"acks":[0]}`), 0)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("%w (ack check POST /services/collector/ack)", s.answerError(status, a, raw))
	}
	s.log.Info("splunk hec: connected", "url", s.base, "ack", true, "channel", s.channel)
	return nil
}

var _ pipeline.Sink = (*Sink)(nil)
