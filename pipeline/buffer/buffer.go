// Package buffer puts a durable disk queue in front of a sink (`buffer:
// {type: disk}`). The pipeline's write succeeds as soon as the records are
// fsynced into the queue — so the page's checkpoint advances and the other
// sinks keep receiving while this destination is down — and a drainer
// delivers from the queue to the real sink with the pipeline's retry and
// dead-letter policy, acknowledging queue entries only once they are settled.
// After a crash or restart the drainer resumes from the last acknowledged
// entry: what was buffered is delivered, at least once.
package buffer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/diskq"
	"github.com/sophos-connect/sophos-connect/pipeline/recordcodec"
)

// Options configure a disk buffer.
type Options struct {
	Dir       string // the queue's directory, e.g. <state_dir>/buffer/<sink>
	MaxBytes  int64  // 0 = 1 GiB
	WhenFull  string // block (default) | drop_newest
	MaxEvents int    // records per write to the real sink (default 1000)
}

// Sink is a pipeline.Sink that buffers on disk in front of another.
type Sink struct {
	name  string
	inner *pipeline.Deliverer
	// qp is the queue; a disk fault makes Write replace it with a new
	// Open of the same directory (reopen).
	qp    atomic.Pointer[diskq.Queue]
	qopts diskq.Options
	// closed: Close was called, a closed queue is not reopened.
	closed atomic.Bool
	opts   Options
	log    *slog.Logger
	m      *pipeline.Metrics

	payloads [][]byte
	enc      []byte

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// DefaultMaxBytes caps a disk buffer when max_bytes is not set.
const DefaultMaxBytes = 1 << 30

// Dir is the buffer directory of the sink name under stateDir.
func Dir(stateDir, sink string) string { return filepath.Join(stateDir, "buffer", sink) }

// New opens (or recovers) the queue. d delivers to the real sink.
func New(d *pipeline.Deliverer, o Options) (*Sink, error) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = 1000
	}
	full, err := diskq.ParseFullPolicy(o.WhenFull)
	if err != nil {
		return nil, err
	}
	if d.Metrics == nil {
		d.Metrics = pipeline.NewMetrics()
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	qopts := diskq.Options{MaxBytes: o.MaxBytes, WhenFull: full, Log: log}
	q, err := diskq.Open(o.Dir, qopts)
	if err != nil {
		return nil, fmt.Errorf("sink %s: disk buffer %s: %w", d.Name, o.Dir, err)
	}
	if rec := q.Recovery(); !rec.Clean() {
		msg := fmt.Sprintf("sink %s: disk buffer %s was damaged (a crash or a disk fault): %d record(s), %d bytes could not be recovered", d.Name, o.Dir, rec.LostEntries, rec.LostBytes)
		for _, dmg := range rec.Damage {
			msg += "; " + dmg.String()
		}
		if rec.AckFile != "" {
			msg += "; ack file: " + rec.AckFile + " (buffered records are delivered again)"
		}
		log.Error(msg)
	}
	st := q.Stats()
	if st.Entries > 0 {
		// Records an earlier run buffered wait for delivery too (their age
		// counts from now: the queue keeps no append times).
		d.Metrics.Board.SinkRouted(d.Name, int(st.Entries), time.Now())
		log.Info(fmt.Sprintf("sink %s: %d buffered record(s) (%d bytes) from an earlier run will be delivered first", d.Name, st.Entries, st.Bytes))
	}
	s := &Sink{name: d.Name, inner: d, qopts: qopts, opts: o, log: log, m: d.Metrics}
	s.qp.Store(q)
	return s, nil
}

func (s *Sink) q() *diskq.Queue { return s.qp.Load() }

// Buffered marks a disk-buffered sink: its drainer, not the pipeline's
// sink worker, counts deliveries in sophos_connect_sink_delivered_total.
func (s *Sink) Buffered() {}

// Start checks the real sink (a failure is logged, not fatal: that is what
// the buffer is for) and starts the drainer.
func (s *Sink) Start(ctx context.Context) error {
	if err := s.inner.Sink.Start(ctx); err != nil {
		s.log.Error(fmt.Sprintf("sink %s: start-up check failed: %v — records are kept in the disk buffer until it recovers", s.name, err))
	}
	s.startDrainer()
	return nil
}

func (s *Sink) startDrainer() {
	dctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.drain(dctx) }()
}

// reopen replaces a queue a disk fault made refuse appends (ErrFailed) by
// a new Open of its directory, which scans the files again and keeps every
// entry still intact; the drainer is stopped around it (what it had read
// and not acknowledged is read again). Called from Write only.
func (s *Sink) reopen(cause error) error {
	s.log.Error(fmt.Sprintf("sink %s: disk buffer %s: %v — reopening it", s.name, s.opts.Dir, cause))
	started := s.cancel != nil
	if started {
		s.cancel()
		s.wg.Wait()
	}
	s.q().Close()
	q, err := diskq.Open(s.opts.Dir, s.qopts)
	if err != nil {
		// Keep the closed queue and no drainer: the next Write tries
		// again (ErrClosed) and starts the drainer once Open succeeds.
		return fmt.Errorf("disk buffer %s: reopening after a disk fault: %w", s.opts.Dir, err)
	}
	if rec := q.Recovery(); !rec.Clean() {
		s.log.Error(fmt.Sprintf("sink %s: disk buffer %s reopened: %d record(s), %d bytes could not be recovered", s.name, s.opts.Dir, rec.LostEntries, rec.LostBytes))
	}
	s.qp.Store(q)
	if started {
		s.startDrainer()
	}
	return nil
}

// Write appends the batch to the queue (fsynced) and returns: buffered
// records count as delivered. Under when_full: drop_newest a full buffer
// refuses the batch for good, so the pipeline dead-letters it.
func (s *Sink) Write(ctx context.Context, batch []*pipeline.Record) error {
	s.enc = s.enc[:0]
	s.payloads = s.payloads[:0]
	offs := make([]int, 0, len(batch)+1)
	for _, r := range batch {
		offs = append(offs, len(s.enc))
		s.enc = recordcodec.Append(s.enc, r)
	}
	offs = append(offs, len(s.enc))
	for i := range batch {
		s.payloads = append(s.payloads, s.enc[offs[i]:offs[i+1]])
	}
	err := s.q().Append(ctx, s.payloads)
	if errors.Is(err, diskq.ErrFailed) || (errors.Is(err, diskq.ErrClosed) && !s.closed.Load()) {
		// A disk fault (or a reopen that failed before): reopen and try
		// once more; if that fails too the pipeline retries the batch.
		if rerr := s.reopen(err); rerr != nil {
			return rerr
		}
		err = s.q().Append(ctx, s.payloads)
	}
	if errors.Is(err, diskq.ErrFull) || errors.Is(err, diskq.ErrTooLarge) {
		return pipeline.Permanent(fmt.Errorf("disk buffer full (%d bytes, when_full: drop_newest): %w", s.opts.MaxBytes, err))
	}
	if err != nil {
		return err
	}
	s.m.SinkBufferBytes.WithLabelValues(s.name).Set(float64(s.q().Stats().Bytes))
	return nil
}

// drain delivers queued records to the real sink in order.
func (s *Sink) drain(ctx context.Context) {
	q := s.q() // reopen stops this drainer before it replaces the queue
	recs := make([]pipeline.Record, 0, s.opts.MaxEvents)
	ptrs := make([]*pipeline.Record, 0, s.opts.MaxEvents)
	for {
		entries, err := q.Next(ctx, s.opts.MaxEvents)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, diskq.ErrClosed) {
				s.log.Error(fmt.Sprintf("sink %s: reading the disk buffer: %v", s.name, err))
				time.Sleep(time.Second)
				continue
			}
			return
		}
		if len(entries) == 0 {
			continue
		}
		recs, ptrs = recs[:0], ptrs[:0]
		var bad []*pipeline.Record
		var reasons []error
		for _, e := range entries {
			r, err := recordcodec.Decode(e.Payload)
			if err != nil {
				// The frame's checksum matched but the record does not
				// decode: keep the bytes in the dead-letter file.
				bad = append(bad, &pipeline.Record{Raw: e.Payload, ID: fmt.Sprintf("buffer-entry-%d", e.Pos)})
				reasons = append(reasons, fmt.Errorf("undecodable buffer entry: %w", err))
				continue
			}
			recs = append(recs, r)
		}
		for i := range recs {
			ptrs = append(ptrs, &recs[i])
		}
		if len(bad) > 0 {
			s.inner.DeadLetter.Write(s.name, "buffer", bad, reasons)
			s.m.Board.SinkSettled(s.name, len(bad))
		}
		if !s.inner.Deliver(ctx, ptrs) {
			// Stopped before everything settled: read these again next time.
			q.Rewind()
			return
		}
		if err := q.Ack(entries[len(entries)-1].Pos); err != nil {
			s.log.Error(fmt.Sprintf("sink %s: acknowledging the disk buffer: %v", s.name, err))
		}
		s.m.SinkBufferBytes.WithLabelValues(s.name).Set(float64(q.Stats().Bytes))
	}
}

// Pending returns the records buffered and not yet delivered.
func (s *Sink) Pending() int64 { return s.q().Stats().Entries }

// Failing reports whether the drainer's last write to the real sink failed.
func (s *Sink) Failing() bool { return s.inner.Failing() }

// Close stops the drainer (undelivered records stay on disk for the next
// run), then closes the real sink and the queue.
func (s *Sink) Close() error {
	s.closed.Store(true)
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
	}
	err := s.inner.Sink.Close()
	if qerr := s.q().Close(); err == nil {
		err = qerr
	}
	return err
}

// Drain waits until the buffer is empty or ctx ends (tests, -once).
func (s *Sink) Drain(ctx context.Context) error {
	for s.q().Stats().Entries > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}
