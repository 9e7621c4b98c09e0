package collector

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/status"
)

// startRetry lets a sink whose destination is down at start-up join the
// run anyway: its start-up check (connect, health, Elasticsearch's template
// setup) is repeated before each write until it passes, and until then
// every write fails retryably, so its records wait — with back-pressure
// from the memory buffer, or in the disk buffer — instead of being lost or
// stopping the collector.
type startRetry struct {
	pipeline.Sink
	name  string
	log   *slog.Logger
	board *status.Board // failing_startup while the check fails (nil: none)

	mu      sync.Mutex
	ok      bool
	lastErr error
}

func (s *startRetry) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.Sink.Start(ctx)
	s.ok, s.lastErr = err == nil, err
	s.report(err)
	return err
}

// report shows the check's outcome on the status board.
func (s *startRetry) report(err error) {
	msg := ""
	if err != nil {
		msg = "start-up check failing: " + err.Error()
	}
	s.board.SinkStartup(s.name, msg, time.Now())
}

// failed returns the start-up error while the check has not passed.
func (s *startRetry) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ok {
		return nil
	}
	return s.lastErr
}

func (s *startRetry) Write(ctx context.Context, batch []*pipeline.Record) error {
	s.mu.Lock()
	if !s.ok {
		if err := s.Sink.Start(ctx); err != nil {
			s.lastErr = err
			s.report(err)
			s.mu.Unlock()
			// %v, not %w: a start-up failure is never a reason to
			// dead-letter records, even if the sink marked it permanent.
			return fmt.Errorf("start-up check still failing: %v", err)
		}
		s.ok = true
		s.report(nil)
		s.log.Info(fmt.Sprintf("sink %s passed its start-up check; delivering", s.name))
	}
	s.mu.Unlock()
	return s.Sink.Write(ctx, batch)
}

// Reopen passes SIGHUP's reopen to file sinks.
func (s *startRetry) Reopen() error {
	if r, ok := s.Sink.(interface{ Reopen() error }); ok {
		return r.Reopen()
	}
	return nil
}

// ConcurrentBatches passes the sink's own (pipeline.ConcurrentSink): the
// wrapper's Write is safe for concurrent use (its check runs under mu).
func (s *startRetry) ConcurrentBatches() int { return pipeline.ConcurrentBatches(s.Sink) }
