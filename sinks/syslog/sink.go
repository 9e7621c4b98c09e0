package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
	"github.com/sophos-connect/sophos-connect/sinks/syslog/relp"
)

// flushBytes is how much a batch buffers before writing it out: large
// enough for few syscalls, small enough to bound memory per sink.
const flushBytes = 64 << 10

// Sink writes records as syslog messages. It implements pipeline.Sink;
// Write is called by one goroutine at a time.
type Sink struct {
	name string
	cfg  Config
	log  *slog.Logger
	ep   endpoint
	tls  *tls.Config
	enc  encoding.Encoder
	f    framer

	mu        sync.Mutex // guards conn against Close during Write
	conn      net.Conn
	relp      *relp.Client // the session on conn, for relp://
	dgram     bool
	connected bool // a connection was made before (for counting reconnects)

	buf     []byte // frames waiting to be written
	pending []span // records in buf
	msg     []byte // encoder output

	truncated  atomic.Uint64
	oversized  atomic.Uint64 // dead-lettered, not sent
	reconnects atomic.Uint64
	warnAt     time.Time // last oversize WARN (rate limit)
	warnQuiet  int       // oversize WARNs suppressed since
}

// span is the end offset in Sink.buf of the frame of batch[index]; full > 0
// marks a frame cut from full bytes.
type span struct{ index, end, full int }

// oversizeWarnEvery rate-limits the oversize WARN per sink.
const oversizeWarnEvery = 10 * time.Second

var _ pipeline.Sink = (*Sink)(nil)

// New checks c and builds the sink; it does not connect (Start does).
func New(name string, c Config, log *slog.Logger) (*Sink, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("syslog sink %q: %w", name, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("sink", name)
	ep, _ := parseAddress(c.Address)
	s := &Sink{name: name, cfg: c, log: log, ep: ep}
	var err error
	if ep.tls {
		if s.tls, err = c.TLS.Config(); err != nil {
			return nil, fmt.Errorf("syslog sink %q: tls: %w", name, err)
		}
	}
	opts := c.Options
	if opts.Logger == nil {
		opts.Logger = log
	}
	if s.enc, err = encoding.New(c.format(), opts); err != nil {
		return nil, fmt.Errorf("syslog sink %q: format: %w", name, err)
	}
	host := c.Hostname
	if host == "" {
		if host, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("syslog sink %q: hostname: %w (set hostname)", name, err)
		}
		if msg := checkHostname(host); msg != "" {
			return nil, fmt.Errorf("syslog sink %q: this machine's name %s (set hostname)", name, msg)
		}
	}
	fac, _ := parseFacility(c.facility())
	sev, err := newSeverityMap(c.SeverityMap, c.defaultSeverity())
	if err != nil {
		return nil, fmt.Errorf("syslog sink %q: %w", name, err)
	}
	loc := time.Local
	if c.utc() {
		loc = time.UTC
	}
	s.f = framer{
		rfc3164:  c.protocol() == "rfc3164",
		cefHead:  c.protocol() == "rfc3164" && c.vendorHeader(),
		keepTab:  c.format() == "leef",
		deadOver: c.oversize() == oversizeDeadLetter,
		loc:      loc,
		facility: fac,
		sev:      sev,
		hostname: host,
		appName:  c.appName(),
		procID:   strconv.Itoa(os.Getpid()),
		sdID:     c.sdID(),
		now:      time.Now,
	}
	// Framing and the size cap depend on the socket kind, known for unix://
	// only once connected; set them for the configured transport now.
	s.setKind(ep.network == "udp")
	return s, nil
}

// setKind resolves framing and max_message_bytes for a datagram or stream
// socket.
func (s *Sink) setKind(dgram bool) {
	s.dgram = dgram
	s.f.framing, s.f.max = s.cfg.resolve(s.ep, dgram)
}

// Truncated is the number of messages cut to max_message_bytes so far.
func (s *Sink) Truncated() uint64 { return s.truncated.Load() }

// Oversized is the number of messages over max_message_bytes that were not
// sent at all (oversize: dead_letter, or not even the headers and id fit).
func (s *Sink) Oversized() uint64 { return s.oversized.Load() }

// Reconnects is the number of connections made after the first.
func (s *Sink) Reconnects() uint64 { return s.reconnects.Load() }

// Start connects (for tcp+tls:// including the handshake and certificate
// verification) so that a wrong address, a closed port or a bad
// certificate stops start-up with the cause. udp:// cannot be checked
// beyond resolving the address.
func (s *Sink) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.connect(ctx); err != nil {
		return fmt.Errorf("syslog sink %q: %w", s.name, err)
	}
	return nil
}

// Close releases the connection. Frames are written at the end of each
// Write, so nothing is pending.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	var err error
	if s.relp != nil {
		err = s.relp.Close(time.Second) // close, and wait briefly for its rsp
	} else {
		err = s.conn.Close()
	}
	s.conn, s.relp = nil, nil
	return err
}

// connect dials unless connected. Callers hold s.mu.
func (s *Sink) connect(ctx context.Context) error {
	if s.conn != nil {
		return nil
	}
	c, dgram, err := dial(ctx, s.ep, s.cfg.dialTimeout(), s.tls)
	if err != nil {
		return fmt.Errorf("cannot connect to %s: %w", s.ep.raw, err)
	}
	if dgram && s.ep.network == "unix" && s.cfg.Framing != "" && s.cfg.Framing != framingNone {
		c.Close()
		return pipeline.Permanent(fmt.Errorf("%s is a datagram socket: framing %s does not apply; remove framing", s.ep.raw, s.cfg.Framing))
	}
	if !dgram && s.cfg.Framing == framingNone {
		c.Close()
		return pipeline.Permanent(fmt.Errorf("%s is a stream socket: framing none would glue messages together; use lf or octet-counting", s.ep.raw))
	}
	if s.ep.relp {
		c.SetDeadline(time.Now().Add(s.cfg.dialTimeout()))
		rc, err := relp.Open(c, s.cfg.window())
		if err != nil {
			c.Close()
			return fmt.Errorf("cannot open a RELP session with %s: %w", s.ep.raw, err)
		}
		c.SetDeadline(time.Time{})
		s.relp = rc
	}
	s.setKind(dgram)
	s.conn = c
	if s.connected {
		s.reconnects.Add(1)
		s.log.Info("syslog: reconnected", "address", s.ep.raw)
	}
	s.connected = true
	return nil
}

// drop closes a connection that failed; the next Write reconnects.
func (s *Sink) drop(why error) {
	if s.conn == nil {
		return
	}
	s.log.Warn("syslog: connection closed, will reconnect", "address", s.ep.raw, "cause", why)
	s.conn.Close()
	s.conn, s.relp = nil, nil
}

// Write sends the batch. A record counts as delivered once its bytes were
// written to the socket without error — plain syslog has no receiver
// acknowledgement (see the package doc). On an error the connection is
// closed, the records not written are reported (a *pipeline.BatchError, or
// a plain error when none was written) and the next Write reconnects.
func (s *Sink) Write(ctx context.Context, batch []*pipeline.Record) error {
	if len(batch) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ep.relp {
		return s.writeRELP(ctx, batch)
	}
	if s.conn != nil && !s.dgram {
		// An idle stream may have been closed by a receiver that restarted:
		// writing to it would "succeed" into a dead socket.
		if why := peerGone(s.conn); why != nil {
			s.drop(fmt.Errorf("receiver closed the connection: %w", why))
		}
	}
	if err := s.connect(ctx); err != nil {
		return fmt.Errorf("syslog sink %q: %w", s.name, err)
	}
	deadline := time.Now().Add(s.cfg.writeTimeout())
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn := s.conn
	if err := conn.SetWriteDeadline(deadline); err != nil {
		s.drop(err)
		return fmt.Errorf("syslog sink %q: %w", s.name, err)
	}
	// Cancelling ctx interrupts a blocked write.
	stop := context.AfterFunc(ctx, func() { conn.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()

	var res result
	if s.dgram {
		s.writeDatagrams(batch, &res)
	} else {
		s.writeStream(batch, &res)
	}
	if res.err != nil {
		if ctx.Err() != nil {
			res.err = fmt.Errorf("%w (%w)", ctx.Err(), res.err)
		}
		s.drop(res.err)
	}
	return res.outcome(s, len(batch))
}

// result collects a batch's failures.
type result struct {
	failed    pipeline.BatchError
	permanent int
	written   int
	err       error // the connection error that stopped the batch
}

func (r *result) reject(i int, err error) {
	r.failed.Add(i, pipeline.Permanent(err))
	r.permanent++
}

// outcome is Write's return value.
func (r *result) outcome(s *Sink, n int) error {
	if len(r.failed.Items) == 0 {
		return nil
	}
	if r.written == 0 && r.permanent == 0 {
		cause := r.err
		if cause == nil {
			cause = r.failed.Items[0].Err
		}
		return fmt.Errorf("syslog sink %q: nothing delivered to %s: %w", s.name, s.ep.raw, cause)
	}
	slices.SortFunc(r.failed.Items, func(a, b pipeline.ItemError) int { return a.Index - b.Index })
	return &r.failed
}

// frame appends batch[i]'s frame to s.buf, or rejects the record. full > 0
// reports a frame cut from full bytes.
func (s *Sink) frame(batch []*pipeline.Record, i int, res *result) (ok bool, full int) {
	var err error
	s.msg, err = s.enc.Append(s.msg[:0], batch[i])
	if err != nil {
		res.reject(i, fmt.Errorf("encode: %w", err))
		return false, 0
	}
	var fields *encoding.Fields
	if fe, ok := s.enc.(encoding.FieldEncoder); ok {
		fields = fe.LastFields()
	}
	buf, full, err := s.f.appendFrame(s.buf, batch[i], s.msg, fields)
	if err != nil {
		if errors.Is(err, errOversize) {
			s.oversized.Add(1)
			s.warnOversize(batch[i], err)
		}
		res.reject(i, err)
		return false, 0
	}
	s.buf = buf
	return true, full
}

// sentTruncated settles a truncated record whose frame was written: it was
// delivered cut, and the full record goes to the dead-letter file (reason
// "truncated: …") so that `replay dlq` can send it elsewhere.
func (s *Sink) sentTruncated(r *pipeline.Record, i, full int, res *result) {
	s.truncated.Add(1)
	err := fmt.Errorf("truncated: the %d-byte message was cut to max_message_bytes (%d) at a field boundary and sent; this is the full record", full, s.f.max)
	s.warnOversize(r, err)
	res.failed.Add(i, pipeline.Permanent(err))
	res.permanent++
}

// warnOversize logs at most one WARN per oversizeWarnEvery, naming the
// record and how many similar messages were not logged.
func (s *Sink) warnOversize(r *pipeline.Record, err error) {
	now := time.Now()
	if now.Sub(s.warnAt) < oversizeWarnEvery {
		s.warnQuiet++
		return
	}
	s.log.Warn("syslog: message over max_message_bytes", "id", r.ID, "stream", r.Stream, "tenant", r.Tenant,
		"cause", err, "max_message_bytes", s.f.max, "not_logged_since_last", s.warnQuiet)
	s.warnAt, s.warnQuiet = now, 0
}

// writeStream buffers frames and writes them in chunks of flushBytes.
func (s *Sink) writeStream(batch []*pipeline.Record, res *result) {
	s.buf, s.pending = s.buf[:0], s.pending[:0]
	for i := range batch {
		if ok, full := s.frame(batch, i, res); ok {
			s.pending = append(s.pending, span{i, len(s.buf), full})
		}
		if len(s.buf) >= flushBytes || i == len(batch)-1 {
			if !s.flush(batch, res) {
				for j := i + 1; j < len(batch); j++ {
					res.failed.Add(j, s.notWritten(res.err))
				}
				return
			}
		}
	}
}

// flush writes s.buf. On an error the records whose frames were written
// completely count as written, the others fail.
func (s *Sink) flush(batch []*pipeline.Record, res *result) bool {
	if len(s.buf) == 0 {
		return true
	}
	n, err := s.conn.Write(s.buf)
	for _, p := range s.pending {
		if err == nil || p.end <= n {
			res.written++
			if p.full > 0 {
				s.sentTruncated(batch[p.index], p.index, p.full, res)
			}
		} else {
			res.failed.Add(p.index, s.notWritten(err))
		}
	}
	s.buf, s.pending = s.buf[:0], s.pending[:0]
	if err != nil {
		res.err = err
		return false
	}
	return true
}

// writeDatagrams sends one datagram per record.
func (s *Sink) writeDatagrams(batch []*pipeline.Record, res *result) {
	for i := range batch {
		s.buf = s.buf[:0]
		ok, full := s.frame(batch, i, res)
		if !ok {
			continue
		}
		_, err := s.conn.Write(s.buf)
		switch {
		case err == nil:
			res.written++
			if full > 0 {
				s.sentTruncated(batch[i], i, full, res)
			}
		case errors.Is(err, syscall.EMSGSIZE):
			// Only this message is too large for the socket.
			res.reject(i, fmt.Errorf("%d-byte message too large for %s: lower max_message_bytes", len(s.buf), s.ep.raw))
		default:
			res.err = err
			for j := i; j < len(batch); j++ {
				res.failed.Add(j, s.notWritten(err))
			}
			return
		}
	}
}

func (s *Sink) notWritten(err error) error {
	return fmt.Errorf("not written to %s: %w", s.ep.raw, err)
}

// writeRELP sends the batch in a RELP session: a record counts as
// delivered only once the receiver's "rsp 200" for it arrived. The records
// not acknowledged when the session breaks are reported as failed, and the
// pipeline sends them again over a new session (so a receiver that dies
// with acknowledged-but-unwritten data is the receiver's problem, and one
// that dies before acknowledging causes a resend: repeats, never loss).
func (s *Sink) writeRELP(ctx context.Context, batch []*pipeline.Record) error {
	for attempt := 0; ; attempt++ {
		reused := s.conn != nil
		if err := s.connect(ctx); err != nil {
			return fmt.Errorf("syslog sink %q: %w", s.name, err)
		}
		res := s.sendRELP(ctx, batch)
		if res.err != nil {
			if ctx.Err() != nil {
				res.err = fmt.Errorf("%w (%w)", ctx.Err(), res.err)
			}
			s.drop(res.err)
			// A session that sat idle may have been closed by a receiver
			// that restarted: try once more at once on a fresh one.
			if reused && res.written == 0 && res.permanent == 0 && attempt == 0 && ctx.Err() == nil {
				continue
			}
		}
		return res.outcome(s, len(batch))
	}
}

// sendRELP frames the batch and sends it through the session.
func (s *Sink) sendRELP(ctx context.Context, batch []*pipeline.Record) *result {
	var res result
	deadline := time.Now().Add(s.cfg.writeTimeout())
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn := s.conn
	conn.SetDeadline(deadline) // reads (the acks) and writes
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	s.buf, s.pending = s.buf[:0], s.pending[:0]
	for i := range batch {
		if ok, full := s.frame(batch, i, &res); ok {
			s.pending = append(s.pending, span{i, len(s.buf), full})
		}
	}
	msgs := make([][]byte, len(s.pending))
	start := 0
	for j, p := range s.pending {
		msgs[j] = s.buf[start:p.end]
		start = p.end
	}
	errs := make([]error, len(msgs))
	res.err = s.relp.Send(msgs, errs)
	for j, p := range s.pending {
		switch {
		case errs[j] == nil:
			res.written++
			if p.full > 0 {
				s.sentTruncated(batch[p.index], p.index, p.full, &res)
			}
		default:
			res.failed.Add(p.index, s.notWritten(errs[j]))
		}
	}
	if res.err == nil {
		conn.SetDeadline(time.Time{})
	}
	return &res
}
