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
			return nil, PrefixErrors(nc.File, err)
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
// ReloadRequest.
func Run(ctx context.Context, c *config.Config, o Options) error {
	log := o.Log
	streams := EnabledStreams(c, o.Streams)
	if len(streams) == 0 {
		return ConfigError{fmt.Errorf("%s: the stream chosen on the command line is disabled under sources", c.File)}
	}
	lock, err := pipeline.LockStateDir(c.StateDir, runWhat(o.Once))
	if err != nil {
		return err
	}
	defer lock.Unlock()
	log.Info("Configurations: " + describeConfig(c, streams))
	log.Info(fmt.Sprintf("(config %s: state_dir=%s, workers=%s, %d sinks, %d transforms)", c.File, c.StateDir, c.Workers.String(), len(seed.Sinks(c, streams))+len(c.Sinks), len(c.Transforms)))
	for _, k := range c.InsecureTLS() {
		log.Warn("WARNING: " + InsecureWarning(k))
	}
	// -timeout: pulling stops early enough to leave a fifth of the time
	// (at most 30 s) for delivering the pages in flight.
	var deadline time.Time
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	drainTimeout := 30 * time.Second
	if o.Timeout > 0 {
		deadline = time.Now().Add(o.Timeout)
		drainTimeout = min(o.Timeout/5, 30*time.Second)
		var cancelT context.CancelFunc
		runCtx, cancelT = context.WithDeadline(runCtx, deadline.Add(-drainTimeout))
		defer cancelT()
	}
	log.Info("Initiating Sophos " + streamsTitle(streams) + " Pull")

	// The metrics and the status board outlive a SIGHUP reload (a reload is
	// not a restart): the caller passes the same ones to every Run.
	metrics := o.Metrics
	if metrics == nil {
		metrics = pipeline.NewMetrics()
	}
	// Live (/healthz) from the first second, ready (/readyz) once
	// authenticated and every sink passed its start-up check.
	var ready atomic.Bool
	if c.MetricsAddr != "" {
		stopMetrics, err := serveMetrics(c, metrics, &ready, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	scfg := SophosConfig(c)
	scfg.OnAPIError = metrics.APIError
	scfg.OnConcurrencyLimit = func(n int) { metrics.APIConcurrency.Set(float64(n)) }
	client, err := sophos.NewClient(scfg, log)
	if err != nil {
		return ConfigError{err}
	}
	id, err := client.WhoAmI(runCtx)
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
	log.Log(ctx, pipeline.LevelVerbose, "WhoAmI Authentication Successful")
	log.Log(ctx, pipeline.LevelVerbose, fmt.Sprintf("(whoami: %s %s)", id.IDType, id.ID))
	region := id.Region()
	if region == "" {
		region = id.DataRegion
	}
	metrics.Board.SetVersion(o.Version)
	metrics.Board.SetIdentity(status.Identity{ID: id.ID, IDType: id.IDType, DataRegion: region})

	// Tenants named in sophos.tenants that the credentials do not reach:
	// under -once each is a failed partition (exit 1, named).
	var missingTenants sync.Map
	src, err := sophos.NewSource(client, sophos.SourceOptions{
		Streams: streams, Light: c.Sources.Events.Light, ExcludeTypes: c.Sources.Events.ExcludeTypes,
		Detections: sophos.DetectionsOptions{Overlap: c.Sources.Detections.Overlap.D(), MaxWindow: c.Sources.Detections.MaxWindow.D(),
			Lookback: c.Sources.Detections.Lookback.D(), PageSize: c.Sources.Detections.PageSize, PollTimeout: c.Sources.Detections.PollTimeout.D()},
		Cases: sophos.CasesOptions{Window: c.Sources.Cases.Window.D(), PageSize: c.Sources.Cases.PageSize,
			Detections: c.Sources.Cases.Detections, MaxRemembered: c.Sources.Cases.MaxRemembered},
		// Partner and organization credentials have no data region of
		// their own: the status page shows their tenants' regions.
		OnTenants: func(ts []sophos.Tenant) {
			if region != "" {
				return
			}
			metrics.Board.SetIdentity(status.Identity{ID: id.ID, IDType: id.IDType, DataRegion: sophos.Regions(ts)})
		},
		TenantError: func(tenant, reason string, err error) {
			metrics.TenantErrors.WithLabelValues(tenant, reason).Inc()
			if reason == "not_found" { // 401/403 are logged by the pull that got them
				log.Error("tenant " + tenant + " skipped, the other tenants go on: " + err.Error())
				missingTenants.Store(tenant, err.Error())
			}
		},
	})
	if err != nil {
		return ConfigError{err}
	}
	dlq, err := pipeline.OpenDeadLetter(c.StateDir, pipeline.DeadLetterOptions{MaxBytes: int64(c.DeadLetter.MaxBytes)})
	if err != nil {
		return err
	}
	defer dlq.Close()
	if dlq.Repaired > 0 {
		log.Warn(fmt.Sprintf("%s: cut %d byte(s) of a torn last line (a write that never completed; its page was not committed and is pulled again)", dlq.Path(), dlq.Repaired))
	}
	as, err := Assemble(c, streams, log, false)
	if err != nil {
		return ConfigError{err}
	}
	defer as.Close()
	// In distributed mode the cursors live in the cluster's Kafka topic; the
	// state dir keeps only the disk buffers and the dead-letter file (and
	// there are no seed files to adopt: file sinks are refused).
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	var cps pipeline.Checkpointer
	if o.Repair != nil {
		cps = &reconcile.MemoryCheckpoints{}
	} else if as.Cluster == nil {
		store, err := pipeline.OpenCheckpoints(c.StateDir)
		if err != nil {
			return err
		}
		if err := seed.Adopt(as.seedFiles, as.Sinks, store, now(), log); err != nil {
			return err
		}
		showCheckpoints(metrics.Board, store)
		cps = store
	} else if o.Once {
		return ConfigError{fmt.Errorf("%s: -once is not supported in distributed mode (cluster:): members share the tenants continuously; run one collector without cluster: for a catch-up pass", c.File)}
	}
	newJSON := seed.MissingJSON(as.seedFiles)
	if err := adoptOrphans(c, log); err != nil {
		return err
	}
	if err := as.addBuffers(c.StateDir, dlq, metrics, log); err != nil {
		return err
	}
	var names, types []string
	for _, s := range as.Sinks {
		names, types = append(names, s.Name), append(types, s.Type)
	}
	metrics.Board.SetSinks(names, types)
	if err := as.startOnce(runCtx, o.RequireHealthy, o.Once, metrics.Board, log); err != nil {
		return err
	}
	for _, sf := range newJSON {
		name := sf.Stream.Plural()
		log.Info("No "+name+" json file existed, created a new "+name+" json file", "source", seed.SourceTag(sf.Stream))
	}
	var next atomic.Pointer[config.Config]
	if o.Hup != nil {
		go func() {
			for {
				select {
				case <-runCtx.Done():
					return
				case <-o.Hup:
				}
				if err := seed.ReopenLogFiles(log); err != nil {
					log.Error(err.Error())
				}
				as.reopen(log)
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
					next.Store(nc)
					cancelRun()
					return
				}
			}
		}()
	}
	// Ready once every sink passed its start-up check (a sink down at start
	// passes it later, before its first successful write).
	go func() {
		for runCtx.Err() == nil {
			if as.allStarted() {
				ready.Store(true)
				return
			}
			select {
			case <-runCtx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()

	if c.AlertsAutoAcknowledgeStatus && containsStream(streams, pipeline.Alerts) && o.Repair == nil {
		acker, err := autoack.New(client, src.TenantByID, c.AlertsAutoAcknowledgeLevel, log)
		if err != nil {
			return ConfigError{err}
		}
		defer acker.Close()
		if o.Once {
			defer func() {
				wait := time.Minute
				if !deadline.IsZero() {
					wait = max(min(wait, time.Until(deadline)), time.Second)
				}
				wctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				acker.Wait(wctx)
			}()
		}
		as.observers = append(as.observers, acker)
	}
	as.observers = append(as.observers, seed.Notes{Log: log})
	// The ledger of what was read and delivered, for reconcile.
	led, err := ledger.Open(c.StateDir, nil)
	if err != nil {
		return err
	}
	if err := led.Compact(); err != nil {
		log.Error("ledger: " + err.Error())
	}
	var source pipeline.Source = src
	if o.Repair != nil {
		source = o.Repair
	} else if !o.Once {
		go periodic(runCtx, c, client, src, led, cps, streams, metrics, log)
	}
	opts := pipeline.Options{
		Source: source, APIClock: src, PageObservers: []pipeline.PageObserver{led},
		Stages: as.Stages, Sinks: as.Sinks, Checkpoints: cps, DeadLetter: dlq,
		Observers: as.observers, Log: log, Metrics: metrics, Once: o.Once, Since: o.Since,
		Now: o.Now, DrainTimeout: drainTimeout,
		Gaps: gaps.Open(c.StateDir), NoGapRecords: !c.GapRecords,
	}
	opts.Workers, opts.MaxInflightPages = PullWorkers(c)
	if !o.Once {
		wait := c.PullTime.D()
		opts.PullInterval = wait
		opts.NextPass = func() (bool, time.Duration) {
			if o.Reload == nil {
				return true, wait
			}
			nc, err := o.Reload()
			if err != nil {
				log.Error("Config file contains the following errors: " + strings.ReplaceAll(err.Error(), "\n", "; ") + " — keeping the previous settings")
				return true, wait
			}
			if !nc.Run {
				for _, s := range streams {
					log.Info("User Ended " + map[pipeline.Stream]string{pipeline.Alerts: "Alert_Pull", pipeline.Events: "Event_Pull"}[s])
				}
				return false, 0
			}
			wait = nc.PullTime.D()
			return true, wait
		}
	}
	var st pipeline.Stats
	if as.Cluster != nil {
		st, err = runMember(runCtx, as.Cluster, log, metrics, opts)
	} else {
		st, err = pipeline.Run(runCtx, opts)
	}
	if o.Once && len(as.buffered) > 0 {
		stall := 5 * time.Second
		if !deadline.IsZero() {
			stall = max(min(stall, time.Until(deadline)), 100*time.Millisecond)
		}
		as.drainBuffers(stall, deadline, log)
	}
	if o.Stats != nil {
		*o.Stats = st
	}
	log.Info(fmt.Sprintf("%d new logs added", st.Settled))
	log.Info(fmt.Sprintf("(%d records pulled in %d pages, %d dropped by stages, %d dead-lettered)", st.Records, st.Pages, st.Dropped, st.DeadLettered))
	if nc := next.Load(); nc != nil && ctx.Err() == nil && err == nil {
		return ReloadRequest{nc}
	}
	var undelivered *pipeline.UndeliveredError
	if (err == nil || errors.As(err, &undelivered)) && o.Timeout > 0 && ctx.Err() == nil && runCtx.Err() == context.DeadlineExceeded {
		var parts []string
		for _, s := range as.Sinks {
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
		missingTenants.Range(func(k, v any) bool { names = append(names, k.(string)); return true })
		if len(names) > 0 {
			sort.Strings(names)
			return fmt.Errorf("-once: %d tenant(s) named in sophos.tenants were not found (failed partitions): %s — check sophos.tenants against `sophos-connect tenants`", len(names), strings.Join(names, ", "))
		}
	}
	if err == nil {
		err = incomplete(dlq, as.buffered)
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
