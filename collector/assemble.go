package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sophos-connect/sophos-connect/cluster"
	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/buffer"
	"github.com/sophos-connect/sophos-connect/seed"
	"github.com/sophos-connect/sophos-connect/sinks"
	"github.com/sophos-connect/sophos-connect/sources/sophos"
	"github.com/sophos-connect/sophos-connect/status"
	"github.com/sophos-connect/sophos-connect/transforms"
	"github.com/sophos-connect/sophos-connect/transforms/condition"
)

// Assembly is the pipeline built from a config: stages and sinks, ready to
// start.
type Assembly struct {
	Streams []pipeline.Stream
	Stages  []pipeline.StageSpec
	Sinks   []pipeline.SinkSpec
	Cluster *cluster.Config // distributed mode; nil = on its own

	buffers   []config.BufferConfig // per sink, same order
	observers []pipeline.DeliveryObserver
	closers   []io.Closer
	buffered  []*buffer.Sink
	starters  []*startRetry // per sink, same order
	seedFiles []seed.File   // the seed's txt/json file sinks, for adoption
	// registered are the sinks' own metric collectors, unregistered on
	// close: a reload registers the new sinks' in the same registry.
	registered []prometheus.Collector
	registry   *prometheus.Registry
}

// EnabledStreams is the streams a run pulls. want is the command line's
// choice (nil: no stream flag, the config's sources decide): alerts and
// events in want are pulled when the config enables them; detections and
// cases in want (-x) are pulled even when the config leaves them off.
func EnabledStreams(c *config.Config, want []pipeline.Stream) []pipeline.Stream {
	enabled := map[pipeline.Stream]bool{}
	for _, s := range c.EnabledStreams() {
		p, _ := pipeline.ParseStream(s)
		enabled[p] = true
	}
	if want != nil {
		for _, s := range pipeline.AllStreams {
			if !containsStream(want, s) {
				enabled[s] = false
			} else if !s.SIEM() {
				enabled[s] = true
			}
		}
	}
	var out []pipeline.Stream
	for _, s := range pipeline.AllStreams {
		if enabled[s] {
			out = append(out, s)
		}
	}
	return out
}

// Assemble builds stages and sinks; every component error is collected so
// `validate` reports them all at once with file:line.
// With dryRun (validate) nothing is created on disk.
func Assemble(c *config.Config, streams []pipeline.Stream, log *slog.Logger, dryRun bool) (*Assembly, error) {
	as := &Assembly{Streams: streams}
	var errs config.Errors
	for i, t := range c.Transforms {
		prefix := fmt.Sprintf("transforms[%d]", i)
		name := t.Name
		if name == "" {
			name = fmt.Sprintf("%s-%d", t.Type, i)
		}
		st, err := transforms.Build(t.Type, t.Node, prefix, transforms.Env{StateDir: c.StateDir, Log: log, Name: name, DryRun: dryRun})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var sts []pipeline.Stream
		for _, s := range t.Streams {
			p, _ := pipeline.ParseStream(s)
			sts = append(sts, p)
		}
		as.Stages = append(as.Stages, pipeline.StageSpec{Name: name, Stage: st, Streams: sts, Desc: transforms.Describe(st)})
		if obs, ok := st.(pipeline.DeliveryObserver); ok {
			as.observers = append(as.observers, obs)
		}
		if cl, ok := st.(io.Closer); ok {
			as.closers = append(as.closers, cl)
		}
	}
	comps := append(seed.Sinks(c, streams), c.Sinks...)
	if cc, err := clusterConfig(c, comps, len(c.Sinks)); err != nil {
		errs = append(errs, err)
	} else {
		as.Cluster = cc
	}
	for i, s := range comps {
		prefix := "sinks[" + fmt.Sprint(i-len(comps)+len(c.Sinks)) + "]"
		if s.Seed {
			prefix = s.Name
		}
		built, desc, err := sinks.Build(s, prefix, log, sinks.Env{FileMode: c.FileMode})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		sink := &startRetry{Sink: built, name: s.Name, log: log}
		routes := pipeline.Routes{}
		for _, st := range s.Streams {
			p, _ := pipeline.ParseStream(st)
			routes.Streams = append(routes.Streams, p)
		}
		if strings.TrimSpace(s.When) != "" {
			cond, err := condition.Parse(s.When)
			if err != nil {
				errs = append(errs, &config.FieldError{Line: s.Line, Key: prefix + ".when", Msg: err.Error()})
				continue
			}
			routes.When = cond.Match
			routes.Desc = cond.String()
		}
		if s.Seed && len(routes.Streams) == 1 {
			path, _ := s.Fields["path"].(string)
			as.seedFiles = append(as.seedFiles, seed.File{Sink: len(as.Sinks), Path: path, Kind: s.Type, Stream: routes.Streams[0]})
		}
		as.buffers = append(as.buffers, s.Buffer)
		as.starters = append(as.starters, sink)
		batch := pipeline.BatchPolicy{MaxEvents: s.Batch.MaxEvents, Timeout: s.Batch.Timeout.D()}
		if b, ok := built.(pipeline.Batcher); ok {
			// A sink that writes large objects (s3) gathers its own
			// batch (max_records, max_age) unless batch: says otherwise.
			n, linger := b.Batch()
			if batch.MaxEvents == 0 {
				batch.MaxEvents = n
			}
			if batch.Timeout == 0 {
				batch.Timeout = linger
			}
		}
		as.Sinks = append(as.Sinks, pipeline.SinkSpec{
			Name: s.Name, Type: s.Type, Sink: sink, Routes: routes, Desc: desc,
			Batch: batch,
			Retry: pipeline.RetryPolicy{Initial: s.Retry.Initial.D(), Max: s.Retry.Max.D(), MaxAttempts: s.Retry.MaxAttempts},
		})
	}
	if len(as.Sinks) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("no sinks: set txt_file_creation or json_file_creation, or declare some under sinks"))
	}
	if len(errs) > 0 {
		as.Close()
		return nil, errs
	}
	return as, nil
}

// addBuffers puts a disk buffer in front of every sink configured with
// buffer: {type: disk}.
func (as *Assembly) addBuffers(stateDir string, dlq *pipeline.DeadLetter, m *pipeline.Metrics, log *slog.Logger) error {
	for i := range as.Sinks {
		// The sink itself, not the start-up wrapper around it: an HTTP
		// sink's concurrency limit, syslog's truncations, … are its own.
		if c, ok := as.starters[i].Sink.(prometheus.Collector); ok {
			m.Registry.MustRegister(c) // a sink's own counters (syslog truncations, …)
			as.registered, as.registry = append(as.registered, c), m.Registry
		}
		bc := as.buffers[i]
		if bc.Type != "disk" {
			continue
		}
		spec := &as.Sinks[i]
		d := &pipeline.Deliverer{Name: spec.Name, Sink: spec.Sink, Retry: spec.Retry, DeadLetter: dlq, Metrics: m, Log: log}
		bs, err := buffer.New(d, buffer.Options{Dir: buffer.Dir(stateDir, spec.Name), MaxBytes: int64(bc.MaxBytes), WhenFull: bc.WhenFull, MaxEvents: spec.Batch.MaxEvents})
		if err != nil {
			return err
		}
		spec.Sink = bs
		spec.Desc += fmt.Sprintf(" (disk buffer %s)", buffer.Dir(stateDir, spec.Name))
		as.buffered = append(as.buffered, bs)
	}
	return nil
}

// drainBuffers waits while the disk buffers are emptying; it gives up once
// no record has been delivered for stall while a destination fails (it is
// still down), or at deadline (zero: none), leaving the rest on disk for the
// next run. A slow write that has not failed is waited for: a big batch on a
// loaded receiver is not an outage.
func (as *Assembly) drainBuffers(stall time.Duration, deadline time.Time, log *slog.Logger) {
	pending := func() (n int64, failing bool) {
		for _, b := range as.buffered {
			n += b.Pending()
			failing = failing || (b.Pending() > 0 && b.Failing())
		}
		return n, failing
	}
	last, _ := pending()
	lastChange := time.Now()
	for last > 0 {
		time.Sleep(20 * time.Millisecond)
		n, failing := pending()
		if n < last || !failing {
			last, lastChange = n, time.Now()
		}
		if !failing && (deadline.IsZero() || time.Now().Before(deadline)) {
			continue
		}
		if n > 0 && (time.Since(lastChange) > stall || (!deadline.IsZero() && time.Now().After(deadline))) {
			log.Error(fmt.Sprintf("%d record(s) are still in disk buffers (a destination is down); they are kept and delivered by the next run", n))
			return
		}
	}
}

// start runs every sink's start-up check. A failure is an ERROR naming the
// sink and the cause, and the sink retries in the background (startRetry);
// with requireHealthy it stops start-up instead.
func (as *Assembly) start(ctx context.Context, requireHealthy bool, log *slog.Logger) error {
	return as.startOnce(ctx, requireHealthy, false, nil, log)
}

// startOnce is start; under -once (once) a sink whose destination refused
// its credentials or permissions fails the run at once (exit 1) — retrying
// cannot help within the run, and waiting for -timeout would hang a cron
// job — while nothing has been pulled, so no checkpoint moves. board (may be
// nil) shows failing_startup for a failing sink.
func (as *Assembly) startOnce(ctx context.Context, requireHealthy, once bool, board *status.Board, log *slog.Logger) error {
	for _, st := range as.starters {
		st.board = board
	}
	for _, s := range as.Sinks {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		s.Sink.Start(sctx) // a disk buffer logs its sink's failure and returns nil
		cancel()
	}
	for i, st := range as.starters {
		err := st.failed()
		if err == nil {
			continue
		}
		s := as.Sinks[i]
		var damaged interface{ Damaged() bool }
		if once && errors.As(err, &damaged) {
			// A damaged file does not heal by waiting: -once fails now.
			return ConfigError{fmt.Errorf("sink %s (%s): %w", s.Name, s.Type, err)}
		}
		if requireHealthy {
			return fmt.Errorf("sink %s (%s) failed its start-up check (-require-healthy): %w", s.Name, s.Type, err)
		}
		if once && pipeline.IsAuthFailure(err) {
			return fmt.Errorf("sink %s (%s): the destination refused the sink's credentials or permissions at start-up: %w — nothing was pulled and no checkpoint moved; fix the sink's settings (or the grant on the destination) and run again", s.Name, s.Type, err)
		}
		if as.buffers[i].Type != "disk" {
			log.Error(fmt.Sprintf("sink %s (%s) failed its start-up check: %v — running anyway: its records wait (pulling pauses when the memory buffer is full) and the check is retried until it passes; -require-healthy makes this fatal", s.Name, s.Type, err))
		} else if pipeline.IsAuthFailure(err) {
			log.Error(fmt.Sprintf("sink %s (%s) failed its start-up check: %v — records are kept in the disk buffer and the check is retried until it passes", s.Name, s.Type, err))
		}
	}
	return nil
}

// allStarted reports whether every sink has passed its start-up check.
func (as *Assembly) allStarted() bool {
	for _, st := range as.starters {
		if st.failed() != nil {
			return false
		}
	}
	return true
}

// reopen closes every file sink's file so the next batch opens its path
// again (SIGHUP after logrotate).
func (as *Assembly) reopen(log *slog.Logger) {
	for _, st := range as.starters {
		if err := st.Reopen(); err != nil {
			log.Error(fmt.Sprintf("sink %s: reopen: %v", st.name, err))
		}
	}
}

// Close closes every sink and stage.
func (as *Assembly) Close() {
	for _, c := range as.registered {
		as.registry.Unregister(c)
	}
	for _, s := range as.Sinks {
		s.Sink.Close()
	}
	for _, c := range as.closers {
		c.Close()
	}
}

// SophosConfig maps the `sophos:` section to the client's config.
func SophosConfig(c *config.Config) sophos.Config {
	return sophos.Config{
		ClientID:              c.Sophos.ClientID,
		ClientSecret:          c.Sophos.ClientSecret.Value(),
		AuthURL:               c.Sophos.AuthURL,
		APIHost:               c.Sophos.APIHost,
		Tenants:               c.Sophos.Tenants,
		CAFile:                c.Sophos.CAFile,
		TrustedHosts:          c.Sophos.TrustedHosts,
		FromDateOffsetMinutes: c.Sophos.FromDateOffsetMinutes,
		Timeout:               c.Sophos.Timeout.D(),
		MaxPageBytes:          int64(c.Sophos.MaxPageBytes),
		Concurrency:           int(c.Workers), // 0 = auto: adaptive
		MaxConcurrency:        c.MaxWorkers,
	}
}

// PullWorkers is how many partitions the runner pulls at once and its
// in-flight page bound: with workers: auto, max_workers partitions, so the
// adaptive limiter (not the runner) decides how many requests run.
func PullWorkers(c *config.Config) (workers, inflight int) {
	workers, inflight = int(c.Workers), c.MaxInflightPages
	if c.Workers.Auto() {
		workers = c.MaxWorkers
		if inflight == 0 {
			inflight = max(16, c.MaxWorkers)
		}
	}
	return workers, inflight
}

// SinkCheck is one sink's start-up check as `validate -connect` runs it.
type SinkCheck struct {
	Name, Type string
	Local      bool  // files or stdout: not started (a running collector may be writing them); validate checked the paths
	Err        error // nil: passed
}

// CheckSinks runs every remote sink's start-up check once (connect,
// authenticate, the destination's health and setup), as the run does
// before its first write, each within timeout; nothing is written.
func (as *Assembly) CheckSinks(ctx context.Context, timeout time.Duration) []SinkCheck {
	out := make([]SinkCheck, len(as.Sinks))
	for i, s := range as.Sinks {
		out[i] = SinkCheck{Name: s.Name, Type: s.Type}
		if f := sinks.Lookup(s.Type); f != nil && f.Local {
			out[i].Local = true
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, timeout)
		out[i].Err = as.starters[i].Sink.Start(sctx)
		cancel()
	}
	return out
}
