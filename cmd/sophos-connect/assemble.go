package main

import (
	"context"
	"errors"
	"fmt"
	"gopkg.in/yaml.v3"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sophos-connect/sophos-connect/cluster"
	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/buffer"
	"github.com/sophos-connect/sophos-connect/sinks"
	"github.com/sophos-connect/sophos-connect/sources/sophos"
	"github.com/sophos-connect/sophos-connect/status"
	"github.com/sophos-connect/sophos-connect/transforms"
	"github.com/sophos-connect/sophos-connect/transforms/condition"
)

// assembly is the pipeline built from a config: stages and sinks, ready to
// start.
type assembly struct {
	streams   []pipeline.Stream
	stages    []pipeline.StageSpec
	sinks     []pipeline.SinkSpec
	buffers   []config.BufferConfig // per sink, same order
	observers []pipeline.DeliveryObserver
	closers   []io.Closer
	buffered  []*buffer.Sink
	starters  []*startRetry   // per sink, same order
	seedFiles []seedFile      // the seed's txt/json file sinks, for adoption
	cluster   *cluster.Config // distributed mode; nil = on its own
	// registered are the sinks' own metric collectors, unregistered on
	// close: a reload registers the new sinks' in the same registry.
	registered []prometheus.Collector
	registry   *prometheus.Registry
}

// seedFile is one of the seed's file sinks: as.sinks[sink] writes path.
type seedFile struct {
	sink   int
	path   string
	kind   string // txt | json
	stream pipeline.Stream
}

func fileMode(c *config.Config) string {
	if c.FileMode == "" {
		return config.DefaultFileMode
	}
	return string(c.FileMode)
}

// inheritFileMode gives a txt/json sink without its own file_mode the
// top-level one.
func inheritFileMode(s config.Component, c *config.Config) {
	if (s.Type != "txt" && s.Type != "json") || s.Node == nil || s.Node.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(s.Node.Content); i += 2 {
		if s.Node.Content[i].Value == "file_mode" {
			return
		}
	}
	s.Node.Content = append(s.Node.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "file_mode", Line: s.Line},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: fileMode(c), Line: s.Line})
}

// seedSinks turns the seed's file keys into txt/json sink components.
func seedSinks(c *config.Config, streams []pipeline.Stream) []config.Component {
	var out []config.Component
	dir := c.SaveFileLocation
	join := func(name string) string {
		if filepath.IsAbs(name) {
			return name
		}
		return filepath.Join(dir, name)
	}
	rot := map[string]any{"max_bytes": int64(c.Rotate.MaxBytes), "max_age": c.Rotate.MaxAge.String(), "keep": c.Rotate.Keep}
	for _, st := range streams {
		txtName, jsonName := c.EventsTxtFileName, c.EventsJSONFileName
		switch st {
		case pipeline.Alerts:
			txtName, jsonName = c.AlertsTxtFileName, c.AlertsJSONFileName
		case pipeline.Detections:
			txtName, jsonName = c.DetectionsTxtFileName, c.DetectionsJSONFileName
		case pipeline.Cases:
			txtName, jsonName = c.CasesTxtFileName, c.CasesJSONFileName
		}
		if c.TxtFileCreation {
			out = append(out, config.Component{
				Name: "seed-" + st.Plural() + "-txt", Type: "txt", Streams: []string{st.Plural()}, Seed: true,
				Fields: map[string]any{"path": join(txtName), "format": "txt", "rotate": rot, "file_mode": fileMode(c)},
			})
		}
		if c.JSONFileCreation {
			out = append(out, config.Component{
				Name: "seed-" + st.Plural() + "-json", Type: "json", Streams: []string{st.Plural()}, Seed: true,
				// python-json: the bytes the seed's json.dump wrote.
				Fields: map[string]any{"path": join(jsonName), "layout": "array", "rotate": rot, "file_mode": fileMode(c), "format": "python-json"},
			})
		}
	}
	return out
}

// enabledStreams intersects the command line's choice with the config:
// -a/-e/-r pick among the enabled alerts and events, -x adds detections and
// cases (even when the config leaves them off); no flag keeps the config's.
func enabledStreams(c *config.Config, g *globals) []pipeline.Stream {
	enabled := map[pipeline.Stream]bool{}
	for _, s := range c.EnabledStreams() {
		p, _ := pipeline.ParseStream(s)
		enabled[p] = true
	}
	if g != nil && (g.alerts || g.events || g.run || g.xdr) {
		wantA, wantE := g.alerts || g.run, g.events || g.run
		if !g.alerts && !g.events && !g.run {
			wantA, wantE = false, false // -x alone: the XDR streams only
		}
		enabled[pipeline.Alerts] = enabled[pipeline.Alerts] && wantA
		enabled[pipeline.Events] = enabled[pipeline.Events] && wantE
		if g.xdr {
			enabled[pipeline.Detections], enabled[pipeline.Cases] = true, true
		} else if g.alerts || g.events || g.run {
			enabled[pipeline.Detections], enabled[pipeline.Cases] = false, false
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

// assemble builds stages and sinks; every component error is collected so
// `validate` reports them all at once with file:line.
// With dryRun (validate) nothing is created on disk.
func assemble(c *config.Config, streams []pipeline.Stream, log *slog.Logger, dryRun bool) (*assembly, error) {
	as := &assembly{streams: streams}
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
		as.stages = append(as.stages, pipeline.StageSpec{Name: name, Stage: st, Streams: sts, Desc: transforms.Describe(st)})
		if obs, ok := st.(pipeline.DeliveryObserver); ok {
			as.observers = append(as.observers, obs)
		}
		if cl, ok := st.(io.Closer); ok {
			as.closers = append(as.closers, cl)
		}
	}
	comps := append(seedSinks(c, streams), c.Sinks...)
	if cc, err := clusterConfig(c, comps, len(c.Sinks)); err != nil {
		errs = append(errs, err)
	} else {
		as.cluster = cc
	}
	for _, s := range c.Sinks {
		inheritFileMode(s, c)
	}
	for i, s := range comps {
		prefix := "sinks[" + fmt.Sprint(i-len(comps)+len(c.Sinks)) + "]"
		if s.Seed {
			prefix = s.Name
		}
		built, desc, err := sinks.Build(s, prefix, log)
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
			as.seedFiles = append(as.seedFiles, seedFile{sink: len(as.sinks), path: path, kind: s.Type, stream: routes.Streams[0]})
		}
		as.buffers = append(as.buffers, s.Buffer)
		as.starters = append(as.starters, sink)
		as.sinks = append(as.sinks, pipeline.SinkSpec{
			Name: s.Name, Type: s.Type, Sink: sink, Routes: routes, Desc: desc,
			Batch: pipeline.BatchPolicy{MaxEvents: s.Batch.MaxEvents, Timeout: s.Batch.Timeout.D()},
			Retry: pipeline.RetryPolicy{Initial: s.Retry.Initial.D(), Max: s.Retry.Max.D(), MaxAttempts: s.Retry.MaxAttempts},
		})
	}
	if len(as.sinks) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("no sinks: set txt_file_creation or json_file_creation, or declare some under sinks"))
	}
	if len(errs) > 0 {
		as.close()
		return nil, errs
	}
	return as, nil
}

// addBuffers puts a disk buffer in front of every sink configured with
// buffer: {type: disk}.
func (as *assembly) addBuffers(stateDir string, dlq *pipeline.DeadLetter, m *pipeline.Metrics, log *slog.Logger) error {
	for i := range as.sinks {
		if c, ok := as.sinks[i].Sink.(prometheus.Collector); ok {
			m.Registry.MustRegister(c) // a sink's own counters (syslog truncations, …)
			as.registered, as.registry = append(as.registered, c), m.Registry
		}
		bc := as.buffers[i]
		if bc.Type != "disk" {
			continue
		}
		spec := &as.sinks[i]
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
// no record has been delivered for stall (a destination still down), leaving
// the rest on disk for the next run.
func (as *assembly) drainBuffers(stall time.Duration, log *slog.Logger) {
	pending := func() int64 {
		var n int64
		for _, b := range as.buffered {
			n += b.Pending()
		}
		return n
	}
	last, lastChange := pending(), time.Now()
	for last > 0 {
		time.Sleep(20 * time.Millisecond)
		n := pending()
		if n < last {
			last, lastChange = n, time.Now()
			continue
		}
		if time.Since(lastChange) > stall {
			log.Error(fmt.Sprintf("%d record(s) are still in disk buffers (a destination is down); they are kept and delivered by the next run", n))
			return
		}
	}
}

// start runs every sink's start-up check. A failure is an ERROR naming the
// sink and the cause, and the sink retries in the background (startRetry);
// with requireHealthy it stops start-up instead.
func (as *assembly) start(ctx context.Context, requireHealthy bool, log *slog.Logger) error {
	return as.startOnce(ctx, requireHealthy, false, nil, log)
}

// startOnce is start; under -once (once) a sink whose destination refused
// its credentials or permissions fails the run at once (exit 1) — retrying
// cannot help within the run, and waiting for -timeout would hang a cron
// job — while nothing has been pulled, so no checkpoint moves. board (may be
// nil) shows failing_startup for a failing sink.
func (as *assembly) startOnce(ctx context.Context, requireHealthy, once bool, board *status.Board, log *slog.Logger) error {
	for _, st := range as.starters {
		st.board = board
	}
	for _, s := range as.sinks {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		s.Sink.Start(sctx) // a disk buffer logs its sink's failure and returns nil
		cancel()
	}
	for i, st := range as.starters {
		err := st.failed()
		if err == nil {
			continue
		}
		s := as.sinks[i]
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
func (as *assembly) allStarted() bool {
	for _, st := range as.starters {
		if st.failed() != nil {
			return false
		}
	}
	return true
}

// reopen closes every file sink's file so the next batch opens its path
// again (SIGHUP after logrotate).
func (as *assembly) reopen(log *slog.Logger) {
	for _, st := range as.starters {
		if err := st.Reopen(); err != nil {
			log.Error(fmt.Sprintf("sink %s: reopen: %v", st.name, err))
		}
	}
}

func (as *assembly) close() {
	for _, c := range as.registered {
		as.registry.Unregister(c)
	}
	for _, s := range as.sinks {
		s.Sink.Close()
	}
	for _, c := range as.closers {
		c.Close()
	}
}

// sophosConfig maps the `sophos:` section to the client's config.
func sophosConfig(c *config.Config) sophos.Config {
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
		Concurrency:           int(c.Workers), // 0 = auto: adaptive
		MaxConcurrency:        c.MaxWorkers,
	}
}

// pullWorkers is how many partitions the runner pulls at once and its
// in-flight page bound: with workers: auto, max_workers partitions, so the
// adaptive limiter (not the runner) decides how many requests run.
func pullWorkers(c *config.Config) (workers, inflight int) {
	workers, inflight = int(c.Workers), c.MaxInflightPages
	if c.Workers.Auto() {
		workers = c.MaxWorkers
		if inflight == 0 {
			inflight = max(16, c.MaxWorkers)
		}
	}
	return workers, inflight
}

// parseSince reads -since: a duration, an RFC 3339 time or Unix seconds,
// at most 24 h back. Empty means 24 h minus a safety margin.
func parseSince(s string, now time.Time) (time.Time, error) {
	const window = 24 * time.Hour
	const margin = 5 * time.Minute
	if s == "" {
		return now.Add(-window + margin), nil
	}
	var t time.Time
	if d, err := time.ParseDuration(s); err == nil {
		t = now.Add(-d)
	} else if tt, err := time.Parse(time.RFC3339, s); err == nil {
		t = tt
	} else if secs, err := parseUnix(s); err == nil {
		t = time.Unix(secs, 0)
	} else {
		return time.Time{}, usageError{fmt.Sprintf("-since %q: use a duration (6h), an RFC 3339 time (2026-11-26T08:00:00Z) or Unix seconds", s)}
	}
	if now.Sub(t) > window {
		return time.Time{}, usageError{fmt.Sprintf("-since %q is more than 24h ago: Sophos Central keeps only 24 hours", s)}
	}
	if t.After(now) {
		return time.Time{}, usageError{fmt.Sprintf("-since %q is in the future", s)}
	}
	return t, nil
}

func parseUnix(s string) (int64, error) {
	var v int64
	_, err := fmt.Sscanf(s, "%d", &v)
	if err != nil || fmt.Sprint(v) != s {
		return 0, errors.New("not unix seconds")
	}
	return v, nil
}
