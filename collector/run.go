package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/gaps"
	"github.com/sophos-connect/sophos-connect/ledger"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/buffer"
	"github.com/sophos-connect/sophos-connect/reconcile"
	"github.com/sophos-connect/sophos-connect/seed"
	"github.com/sophos-connect/sophos-connect/sources/sophos"
	"github.com/sophos-connect/sophos-connect/sources/sophos/autoack"
	"github.com/sophos-connect/sophos-connect/status"
)

// ReloadRequest ends Run so the caller starts it again with Cfg (SIGHUP
// with a changed, valid config).
type ReloadRequest struct{ Cfg *config.Config }

func (ReloadRequest) Error() string { return "reload" }

// ConfigError marks errors in the configuration (exit code 2).
type ConfigError struct{ Err error }

func (e ConfigError) Error() string { return e.Err.Error() }
func (e ConfigError) Unwrap() error { return e.Err }

// IncompleteError ends a run that completed but left records dead-lettered
// or in disk buffers (exit code 3).
type IncompleteError struct{ Msg string }

func (e IncompleteError) Error() string { return e.Msg }

// HUPReloader returns what SIGHUP does with the config file: nil, nil when
// it is unchanged (logrotate's HUP); the new config when it changed and is
// valid — the YAML and every stage and sink build; an error otherwise.
// want is the command line's choice of streams (nil: both).
func HUPReloader(file string, raw []byte, want []pipeline.Stream) func() (*config.Config, error) {
	return func() (*config.Config, error) {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(b, raw) {
			return nil, nil
		}
		nc, err := config.Load(file)
		if err != nil {
			return nil, err
		}
		streams := EnabledStreams(nc, want)
		if len(streams) == 0 {
			return nil, errors.New("the stream chosen on the command line is disabled under sources")
		}
		as, err := Assemble(nc, streams, nil, true)
		if err != nil {
			return nil, config.PrefixFile(nc.File, err)
		}
		as.Close()
		return nc, nil
	}
}

// Options configure Run.
type Options struct {
	// Streams is the command line's choice (nil: both); the config's
	// sources decide among them.
	Streams []pipeline.Stream
	Once    bool
	Since   time.Time
	Log     *slog.Logger
	Reload  func() (*config.Config, error) // re-read every pass (the seed's run: false)
	Now     func() time.Time
	Stats   *pipeline.Stats // filled in when the run ends
	// Hup delivers SIGHUP: reopen the files; then ReloadOnHUP (continuous
	// mode) says whether the config changed.
	Hup         <-chan os.Signal
	ReloadOnHUP func() (*config.Config, error)
	// Timeout bounds a -once run (0: none).
	Timeout        time.Duration
	RequireHealthy bool
	// Version is shown on the status page.
	Version string
	// Metrics (optional) are kept across reloads.
	Metrics *pipeline.Metrics
	// Repair (reconcile -repair) replaces the SIEM source with the repaired
	// alerts, and the checkpoints with ones that keep nothing.
	Repair *reconcile.RepairSource
}

// Run authenticates, builds and runs the pipeline of c until ctx ends (or,
// with Once, until caught up). A SIGHUP with a changed config ends it with a
// ReloadRequest. Its steps are the methods of run below, in this order.
func Run(ctx context.Context, c *config.Config, o Options) error {
	streams := EnabledStreams(c, o.Streams)
	if len(streams) == 0 {
		return ConfigError{fmt.Errorf("%s: the stream chosen on the command line is disabled under sources", c.File)}
	}
	lock, err := pipeline.LockStateDir(c.StateDir, runWhat(o.Once))
	if err != nil {
		return err
	}
	defer lock.Unlock()
	r := &run{c: c, o: o, log: o.Log, streams: streams, ctx: ctx}
	defer r.close()
	r.logStart()
	r.setDeadline()
	if err := r.serveMetrics(); err != nil {
		return err
	}
	if err := r.authenticate(); err != nil {
		return err
	}
	if err := r.newSource(); err != nil {
		return err
	}
	if err := r.openOutputs(); err != nil {
		return err
	}
	r.watchHUP()
	r.watchReady()
	if err := r.autoAcknowledge(); err != nil {
		return err
	}
	opts, err := r.pipelineOptions()
	if err != nil {
		return err
	}
	st, err := r.execute(opts)
	return r.outcome(st, err)
}

// run is one Run's state, handed from step to step.
type run struct {
	identity status.Identity // whoami's answer, for the status board
	c        *config.Config
	o        Options
	log      *slog.Logger
	streams  []pipeline.Stream
	ctx      context.Context
	// closers run when Run returns, last first (as defers would).
	closers []func()

	runCtx   context.Context // ends the pulling: -timeout, a reload
	cancel   context.CancelFunc
	deadline time.Time // of -timeout; zero without
	drain    time.Duration

	metrics *pipeline.Metrics
	ready   atomic.Bool
	client  *sophos.Client
	src     *sophos.Source
	// missingTenants are tenants named in sophos.tenants that the
	// credentials do not reach: under -once each is a failed partition
	// (exit 1, named).
	missingTenants sync.Map
	dlq            *pipeline.DeadLetter
	as             *Assembly
	cps            pipeline.Checkpointer
	next           atomic.Pointer[config.Config] // the config a SIGHUP reload brings
}

func (r *run) onClose(f func()) { r.closers = append(r.closers, f) }

func (r *run) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
}

// logStart logs the configuration as the seed does, and its TLS warnings.
func (r *run) logStart() {
	c, log := r.c, r.log
	log.Info("Configurations: " + describeConfig(c, r.streams))
	log.Info(fmt.Sprintf("(config %s: state_dir=%s, workers=%s, %d sinks, %d transforms)", c.File, c.StateDir, c.Workers.String(), len(seed.Sinks(c, r.streams))+len(c.Sinks), len(c.Transforms)))
	for _, k := range c.InsecureTLS() {
		log.Warn("WARNING: " + InsecureWarning(k))
	}
}

// setDeadline: under -timeout pulling stops early enough to leave a fifth
// of the time (at most 30 s) for delivering the pages in flight.
func (r *run) setDeadline() {
	var cancelRun context.CancelFunc
	r.runCtx, cancelRun = context.WithCancel(r.ctx)
	r.cancel = cancelRun
	r.onClose(cancelRun)
	r.drain = 30 * time.Second
	if r.o.Timeout > 0 {
		r.deadline = time.Now().Add(r.o.Timeout)
		r.drain = min(r.o.Timeout/5, 30*time.Second)
		var cancelT context.CancelFunc
		r.runCtx, cancelT = context.WithDeadline(r.runCtx, r.deadline.Add(-r.drain))
		r.onClose(cancelT)
	}
	r.log.Info("Initiating Sophos " + streamsTitle(r.streams) + " Pull")
}

// serveMetrics starts the status server: live (/healthz) from the first
// second, ready (/readyz) once authenticated and every sink passed its
// start-up check. The metrics and the status board outlive a SIGHUP reload
// (a reload is not a restart): the caller passes the same ones to every Run.
func (r *run) serveMetrics() error {
	r.metrics = r.o.Metrics
	if r.metrics == nil {
		r.metrics = pipeline.NewMetrics()
	}
	if r.c.MetricsAddr == "" {
		return nil
	}
	stopMetrics, err := serveMetrics(r.c, r.metrics, &r.ready, r.log)
	if err != nil {
		return err
	}
	r.onClose(stopMetrics)
	return nil
}

// authenticate asks Sophos Central who the credentials are.
func (r *run) authenticate() error {
	log, metrics := r.log, r.metrics
	scfg := SophosConfig(r.c)
	scfg.OnAPIError = metrics.APIError
	scfg.OnConcurrencyLimit = func(n int) { metrics.APIConcurrency.Set(float64(n)) }
	client, err := sophos.NewClient(scfg, log)
	if err != nil {
		return ConfigError{err}
	}
	r.client = client
	id, err := client.WhoAmI(r.runCtx)
	if err != nil {
		log.Error("WhoAmI Authentication unsuccessful: " + err.Error())
		if ae := (*sophos.AuthError)(nil); errors.As(err, &ae) && ae.Refused() {
			// Credentials the token endpoint refuses are a configuration
			// error (exit 2): no retry or restart can fix them, and the unit's
			// RestartPreventExitStatus=2 keeps systemd from looping.
			return ConfigError{err}
		}
		return err
	}
	log.Log(r.ctx, pipeline.LevelVerbose, "WhoAmI Authentication Successful")
	log.Log(r.ctx, pipeline.LevelVerbose, fmt.Sprintf("(whoami: %s %s)", id.IDType, id.ID))
	region := id.Region()
	if region == "" {
		region = id.DataRegion
	}
	metrics.Board.SetVersion(r.o.Version)
	r.identity = status.Identity{ID: id.ID, IDType: id.IDType, DataRegion: region}
	metrics.Board.SetIdentity(r.identity)
	return nil
}

// newSource builds the Sophos source of the configured streams.
func (r *run) newSource() error {
	c, log, metrics := r.c, r.log, r.metrics
	src, err := sophos.NewSource(r.client, sophos.SourceOptions{
		Streams: r.streams, Light: c.Sources.Events.Light, ExcludeTypes: c.Sources.Events.ExcludeTypes,
		Detections: sophos.DetectionsOptions{Overlap: c.Sources.Detections.Overlap.D(), MaxWindow: c.Sources.Detections.MaxWindow.D(),
			Lookback: c.Sources.Detections.Lookback.D(), PageSize: c.Sources.Detections.PageSize, PollTimeout: c.Sources.Detections.PollTimeout.D()},
		Cases: sophos.CasesOptions{Window: c.Sources.Cases.Window.D(), PageSize: c.Sources.Cases.PageSize,
			Detections: c.Sources.Cases.Detections, MaxRemembered: c.Sources.Cases.MaxRemembered},
		// Partner and organization credentials have no data region of
		// their own: the status page shows their tenants' regions.
		OnTenants: func(ts []sophos.Tenant) {
			if r.identity.DataRegion != "" {
				return
			}
			id := r.identity
			id.DataRegion = sophos.Regions(ts)
			metrics.Board.SetIdentity(id)
		},
		TenantError: func(tenant, reason string, err error) {
			metrics.TenantErrors.WithLabelValues(tenant, reason).Inc()
			if reason == "not_found" { // 401/403 are logged by the pull that got them
				log.Error("tenant " + tenant + " skipped, the other tenants go on: " + err.Error())
				r.missingTenants.Store(tenant, err.Error())
			}
		},
	})
	if err != nil {
		return ConfigError{err}
	}
	r.src = src
	return nil
}

// openOutputs opens the dead-letter file, assembles the stages and sinks,
// opens (or, in distributed mode, leaves to the cluster) the checkpoints,
// adopts the seed's files, and runs the sinks' start-up checks.
func (r *run) openOutputs() error {
	c, o, log := r.c, r.o, r.log
	dlq, err := pipeline.OpenDeadLetter(c.StateDir, pipeline.DeadLetterOptions{MaxBytes: int64(c.DeadLetter.MaxBytes)})
	if err != nil {
		return err
	}
	r.dlq = dlq
	r.onClose(func() { dlq.Close() })
	if dlq.Repaired > 0 {
		log.Warn(fmt.Sprintf("%s: cut %d byte(s) of a torn last line (a write that never completed; its page was not committed and is pulled again)", dlq.Path(), dlq.Repaired))
	}
	as, err := Assemble(c, r.streams, log, false)
	if err != nil {
		return ConfigError{err}
	}
	r.as = as
	r.onClose(func() { as.Close() })
	if err := r.openCheckpoints(); err != nil {
		return err
	}
	newJSON := seed.MissingJSON(as.seedFiles)
	if err := adoptOrphans(c, log); err != nil {
		return err
	}
	if err := as.addBuffers(c.StateDir, dlq, r.metrics, log); err != nil {
		return err
	}
	var names, types []string
	for _, s := range as.Sinks {
		names, types = append(names, s.Name), append(types, s.Type)
	}
	r.metrics.Board.SetSinks(names, types)
	if err := as.startOnce(r.runCtx, o.RequireHealthy, o.Once, r.metrics.Board, log); err != nil {
		return err
	}
	for _, sf := range newJSON {
		name := sf.Stream.Plural()
		log.Info("No "+name+" json file existed, created a new "+name+" json file", "source", seed.SourceTag(sf.Stream))
	}
	return nil
}

// openCheckpoints: in distributed mode the cursors live in the cluster's
// Kafka topic; the state dir keeps only the disk buffers and the
// dead-letter file (and there are no seed files to adopt: file sinks are
// refused). A repair keeps no checkpoints.
func (r *run) openCheckpoints() error {
	now := time.Now
	if r.o.Now != nil {
		now = r.o.Now
	}
	switch {
	case r.o.Repair != nil:
		r.cps = &reconcile.MemoryCheckpoints{}
	case r.as.Cluster == nil:
		store, err := pipeline.OpenCheckpoints(r.c.StateDir)
		if err != nil {
			return err
		}
		if err := seed.Adopt(r.as.seedFiles, r.as.Sinks, store, now(), r.log); err != nil {
			return err
		}
		showCheckpoints(r.metrics.Board, store)
		r.cps = store
	case r.o.Once:
		return ConfigError{fmt.Errorf("%s: -once is not supported in distributed mode (cluster:): members share the tenants continuously; run one collector without cluster: for a catch-up pass", r.c.File)}
	}
	return nil
}

// watchHUP: SIGHUP reopens the output and log files; in continuous mode a
// changed, valid config then ends the run so the caller starts the new one.
func (r *run) watchHUP() {
	o, log := r.o, r.log
	if o.Hup == nil {
		return
	}
	go func() {
		for {
			select {
			case <-r.runCtx.Done():
				return
			case <-o.Hup:
			}
			if err := seed.ReopenLogFiles(log); err != nil {
				log.Error(err.Error())
			}
			r.as.reopen(log)
			log.Info("SIGHUP: reopened the output files and the log file")
			if o.Once || o.ReloadOnHUP == nil {
				continue
			}
			nc, err := o.ReloadOnHUP()
			switch {
			case err != nil:
				log.Error("SIGHUP: the changed config is refused, the running one stays: " + strings.ReplaceAll(err.Error(), "\n", "; "))
			case nc != nil:
				log.Info("SIGHUP: the config changed; delivering the pages in flight, then running with the new one")
				r.next.Store(nc)
				r.cancel()
				return
			}
		}
	}()
}

// watchReady: ready once every sink passed its start-up check (a sink down
// at start passes it later, before its first successful write).
func (r *run) watchReady() {
	go func() {
		for r.runCtx.Err() == nil {
			if r.as.allStarted() {
				r.ready.Store(true)
				return
			}
			select {
			case <-r.runCtx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
}

// autoAcknowledge starts the seed's alert auto-acknowledgement when the
// config turns it on; under -once Run waits (a minute at most, within
// -timeout) for the acknowledgements to go out before it returns.
func (r *run) autoAcknowledge() error {
	c, o := r.c, r.o
	if c.AlertsAutoAcknowledgeStatus && containsStream(r.streams, pipeline.Alerts) && o.Repair == nil {
		acker, err := autoack.New(r.client, r.src.TenantByID, c.AlertsAutoAcknowledgeLevel, r.log)
		if err != nil {
			return ConfigError{err}
		}
		r.onClose(func() { acker.Close() })
		if o.Once {
			r.onClose(func() {
				wait := time.Minute
				if !r.deadline.IsZero() {
					wait = max(min(wait, time.Until(r.deadline)), time.Second)
				}
				wctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				acker.Wait(wctx)
			})
		}
		r.as.observers = append(r.as.observers, acker)
	}
	r.as.observers = append(r.as.observers, seed.Notes{Log: r.log})
	return nil
}

// pipelineOptions opens the ledger (what was read and delivered, for
// reconcile), starts the periodic reconciliation of a continuous run, and
// builds the runner's options.
func (r *run) pipelineOptions() (pipeline.Options, error) {
	c, o, log := r.c, r.o, r.log
	led, err := ledger.Open(c.StateDir, nil)
	if err != nil {
		return pipeline.Options{}, err
	}
	if err := led.Compact(); err != nil {
		log.Error("ledger: " + err.Error())
	}
	var source pipeline.Source = r.src
	if o.Repair != nil {
		source = o.Repair
	} else if !o.Once {
		go periodic(r.runCtx, c, r.client, r.src, led, r.cps, r.streams, r.metrics, log)
	}
	opts := pipeline.Options{
		Source: source, APIClock: r.src, PageObservers: []pipeline.PageObserver{led},
		Stages: r.as.Stages, Sinks: r.as.Sinks, Checkpoints: r.cps, DeadLetter: r.dlq,
		Observers: r.as.observers, Log: log, Metrics: r.metrics, Once: o.Once, Since: o.Since,
		Now: o.Now, DrainTimeout: r.drain,
		Gaps: gaps.Open(c.StateDir), NoGapRecords: !c.GapRecords,
	}
	opts.Workers, opts.MaxInflightPages = PullWorkers(c)
	if !o.Once {
		opts.PullInterval = c.PullTime.D()
		opts.NextPass = r.nextPass(c.PullTime.D())
	}
	return opts, nil
}

// nextPass re-reads the config between passes (the seed's run: false ends
// a continuous run; its pull_time sets the wait).
func (r *run) nextPass(wait time.Duration) func() (bool, time.Duration) {
	return func() (bool, time.Duration) {
		if r.o.Reload == nil {
			return true, wait
		}
		nc, err := r.o.Reload()
		if err != nil {
			r.log.Error("Config file contains the following errors: " + strings.ReplaceAll(err.Error(), "\n", "; ") + " — keeping the previous settings")
			return true, wait
		}
		if !nc.Run {
			for _, s := range r.streams {
				r.log.Info("User Ended " + map[pipeline.Stream]string{pipeline.Alerts: "Alert_Pull", pipeline.Events: "Event_Pull"}[s])
			}
			return false, 0
		}
		wait = nc.PullTime.D()
		return true, wait
	}
}

// execute runs the pipeline (or the cluster member), drains the disk
// buffers of a -once run and logs the totals.
func (r *run) execute(opts pipeline.Options) (pipeline.Stats, error) {
	var st pipeline.Stats
	var err error
	if r.as.Cluster != nil {
		st, err = runMember(r.runCtx, r.as.Cluster, r.log, r.metrics, opts)
	} else {
		st, err = pipeline.Run(r.runCtx, opts)
	}
	if r.o.Once && len(r.as.buffered) > 0 {
		stall := 5 * time.Second
		if !r.deadline.IsZero() {
			stall = max(min(stall, time.Until(r.deadline)), 100*time.Millisecond)
		}
		r.as.drainBuffers(stall, r.deadline, r.log)
	}
	if r.o.Stats != nil {
		*r.o.Stats = st
	}
	r.log.Info(fmt.Sprintf("%d new logs added", st.Settled))
	r.log.Info(fmt.Sprintf("(%d records pulled in %d pages, %d dropped by stages, %d dead-lettered)", st.Records, st.Pages, st.Dropped, st.DeadLettered))
	return st, err
}

// outcome is Run's answer: a reload, the -timeout that cut the run short,
// tenants a -once run could not find, records left undelivered (exit 3), or
// the runner's error.
func (r *run) outcome(st pipeline.Stats, err error) error {
	o := r.o
	var undelivered *pipeline.UndeliveredError
	if nc := r.next.Load(); nc != nil && r.ctx.Err() == nil && (err == nil || errors.As(err, &undelivered)) {
		// A reload while a sink fails: the pages it could not deliver
		// within the drain time were not committed, so the new run pulls
		// them again — apply the new config rather than exit.
		if undelivered != nil {
			r.log.Warn("SIGHUP: " + undelivered.Error() + "; applying the new config")
		}
		return ReloadRequest{nc}
	}
	if (err == nil || errors.As(err, &undelivered)) && o.Timeout > 0 && r.ctx.Err() == nil && r.runCtx.Err() == context.DeadlineExceeded {
		var parts []string
		for _, s := range r.as.Sinks {
			if n := st.Undelivered[s.Name]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s: %d record(s)", s.Name, n))
			}
		}
		what := "pulling had not caught up"
		if len(parts) > 0 {
			what = "undelivered — " + strings.Join(parts, ", ") + " (their pages are pulled again next run)"
		}
		return fmt.Errorf("-timeout %s reached: %s", o.Timeout, what)
	}
	if err == nil && o.Once {
		var names []string
		r.missingTenants.Range(func(k, v any) bool { names = append(names, k.(string)); return true })
		if len(names) > 0 {
			sort.Strings(names)
			return fmt.Errorf("-once: %d tenant(s) named in sophos.tenants were not found (failed partitions): %s — check sophos.tenants against `sophos-connect tenants`", len(names), strings.Join(names, ", "))
		}
	}
	if err == nil {
		err = incomplete(r.dlq, r.as.buffered)
	}
	return err
}

// incomplete is the exit-3 outcome: the run completed, but records went to
// the dead-letter file or are still waiting in disk buffers.
func incomplete(dlq *pipeline.DeadLetter, buffered []*buffer.Sink) error {
	var pending int64
	for _, b := range buffered {
		pending += b.Pending()
	}
	n := dlq.Count()
	if n == 0 && pending == 0 {
		return nil
	}
	var parts []string
	if n > 0 {
		parts = append(parts, fmt.Sprintf("%d record(s) were dead-lettered to %s (fix the cause, then `sophos-connect replay dlq`)", n, dlq.Path()))
	}
	if pending > 0 {
		parts = append(parts, fmt.Sprintf("%d record(s) remain in disk buffers (delivered when the destination is back)", pending))
	}
	return IncompleteError{"completed, but " + strings.Join(parts, "; ")}
}

// InsecureWarning is the warning for a key with insecure_skip_verify: true.
func InsecureWarning(key string) string {
	return key + ": insecure_skip_verify is true — the server's certificate is not verified, so anyone on the path can read and change this traffic; use ca_file instead"
}

func runWhat(once bool) string {
	if once {
		return "-once"
	}
	return "run"
}

func containsStream(list []pipeline.Stream, s pipeline.Stream) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func streamsTitle(streams []pipeline.Stream) string {
	var names []string
	for _, s := range streams {
		n := s.Plural()
		names = append(names, strings.ToUpper(n[:1])+n[1:])
	}
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// describeConfig is the seed's "Configurations: [...]" line, without secrets.
// sinks counts every sink, the seed's file sinks included.
func describeConfig(c *config.Config, streams []pipeline.Stream) string {
	parts := []string{
		"client_id=" + c.Sophos.ClientID,
		"client_secret=" + c.Sophos.ClientSecret.String(),
		"pull_time=" + c.PullTime.String(),
		fmt.Sprintf("run=%v", c.Run),
		"save_file_location=" + c.SaveFileLocation,
		fmt.Sprintf("txt_file_creation=%v", c.TxtFileCreation),
		fmt.Sprintf("json_file_creation=%v", c.JSONFileCreation),
		"log_level=" + c.LogLevel,
		fmt.Sprintf("alerts_auto_acknowledge_status=%v", c.AlertsAutoAcknowledgeStatus),
		"alerts_auto_acknowledge_level=" + c.AlertsAutoAcknowledgeLevel,
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// showCheckpoints puts the committed partitions on the status board, so a
// tenant that is no longer pulled (or not yet, this run) still shows its age.
func showCheckpoints(b *status.Board, cps *pipeline.CheckpointStore) {
	for key, cp := range cps.All() {
		i := strings.LastIndexByte(key, '/')
		if i < 0 {
			continue
		}
		b.Committed(key[:i], cp.TenantName, key[i+1:], cp.SavedAt)
	}
}

// serveMetrics serves the status page (/ and /status.json), /metrics,
// /healthz and /readyz (status.Serve: timeouts, a connection limit,
// metrics_auth, a Host check, redacted answers) until the returned function
// is called. It starts before authentication and the sinks' start-up
// checks, so /healthz answers from the first second; /readyz tells when
// the collector is ready.
func serveMetrics(c *config.Config, m *pipeline.Metrics, ready *atomic.Bool, log *slog.Logger) (func(), error) {
	auth, err := status.LoadAuth(c.MetricsAuth.Type, c.MetricsAuth.Username, c.MetricsAuth.PasswordFile, c.MetricsAuth.TokenFile)
	if err != nil {
		return nil, ConfigError{fmt.Errorf("%s: %w", c.File, err)}
	}
	mux := http.NewServeMux()
	// Uncompressed, so the redactor reads what is sent.
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{DisableCompression: true}))
	status.Register(mux, m.Board, nil)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready: authenticating and checking sinks", http.StatusServiceUnavailable)
			return
		}
		if e := m.CommitError(); e != "" {
			http.Error(w, "not ready: checkpoints cannot be committed: "+e, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	srv, err := status.Serve(status.ServerOptions{Addr: c.MetricsAddr, Auth: auth, Log: log}, mux)
	if err != nil {
		return nil, err
	}
	log.Info("status page on http://" + srv.Addr() + "/ (metrics at /metrics)")
	return srv.Close, nil
}
