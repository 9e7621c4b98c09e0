package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
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
	"github.com/sophos-connect/sophos-connect/sources/sophos"
	"github.com/sophos-connect/sophos-connect/sources/sophos/autoack"
	"github.com/sophos-connect/sophos-connect/status"
)

// loadConfig reads the config named by -c (or its defaults); errors in it
// are configuration errors (exit 2).
func loadConfig(g *globals) (*config.Config, error) {
	path, err := configPath(g)
	if err != nil {
		return nil, err
	}
	c, err := config.Load(path)
	if err != nil {
		return nil, configError{err}
	}
	redactInLogs(c.Sophos.ClientSecret.Value())
	return c, nil
}

// logFilePath puts the seed's log file beside its data files (a deployed
// config directory is often read-only); `migrate` writes an absolute
// log_file_name when that is not where the seed kept it.
func logFilePath(c *config.Config) string {
	if c.LogFileName == "" {
		return ""
	}
	if filepath.IsAbs(c.LogFileName) {
		return c.LogFileName
	}
	return filepath.Join(c.SaveFileLocation, c.LogFileName)
}

// loadChecked loads the config and, even when the file has errors, builds
// its stages and sinks without side effects, so that validate and run report
// the same list: every error of the file, sorted by line.
func loadChecked(g *globals) (*config.Config, error) {
	path, err := configPath(g)
	if err != nil {
		return nil, err
	}
	c, err := config.Load(path)
	if c == nil {
		return nil, configError{err}
	}
	var all config.Errors
	if err == nil {
		err = c.CheckFiles() // the CA bundle the run opens
	}
	if err != nil {
		var list config.Errors
		if !asErrors(err, &list) {
			list = config.Errors{err}
		}
		all = append(all, list...)
	}
	if as, aerr := assemble(c, enabledStreams(c, g), nil, true); aerr != nil {
		var list config.Errors
		asErrors(prefixErrors(c.File, aerr), &list)
		all = append(all, list...)
	} else {
		as.close()
	}
	if len(all) == 0 {
		return c, nil
	}
	return nil, configError{sortByFileLine(c.File, all)}
}

// sortByFileLine orders "file:line: …" messages by line (stable; those
// without a line last) and drops repeats.
func sortByFileLine(file string, errs config.Errors) config.Errors {
	line := func(e error) int {
		rest, ok := strings.CutPrefix(e.Error(), file+":")
		if !ok {
			return 1 << 30
		}
		n := 0
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			n = n*10 + int(rest[i]-'0')
			i++
		}
		if i == 0 || i >= len(rest) || rest[i] != ':' {
			return 1 << 30
		}
		return n
	}
	seen := map[string]bool{}
	var out config.Errors
	for _, e := range errs {
		if !seen[e.Error()] {
			seen[e.Error()] = true
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return line(out[i]) < line(out[j]) })
	return out
}

func (a *app) cmdRun(ctx context.Context, g *globals) error {
	c, err := loadChecked(g)
	if err != nil {
		return err
	}
	since, err := parseSince(g.since, time.Now())
	if err != nil {
		return err
	}
	if g.timeout < 0 {
		return usageError{"-timeout must be positive, e.g. 10m"}
	}
	if g.logFormat != "" && g.logFormat != "seed" && g.logFormat != "json" {
		return usageError{fmt.Sprintf("-log-format %q: use seed or json", g.logFormat)}
	}
	metrics := pipeline.NewMetrics()
	for {
		mode, _ := c.FileMode.Mode() // validated with the config
		log, closeLog, err := newLogger(c.LogLevel, logFilePath(c), a.stderr, mode)
		if err != nil {
			return err
		}
		log = withLogFormat(log, cmp.Or(g.logFormat, c.LogFormat))
		raw, _ := os.ReadFile(c.File)
		o := collectOptions{once: g.once, since: since, log: log, hup: a.hup, timeout: g.timeout, metrics: metrics,
			requireHealthy: g.requireHealthy,
			reload:         func() (*config.Config, error) { return config.Load(c.File) },
			reloadOnHUP:    hupReloader(c.File, raw, g)}
		if o.once && o.timeout == 0 {
			o.timeout = defaultOnceTimeout
		}
		err = a.collect(ctx, c, g, o)
		var rl reloadRequest
		if errors.As(err, &rl) {
			closeLog()
			c = rl.cfg
			continue
		}
		if err != nil {
			// Start-up and run errors reach the log file too (stderr
			// gets them from main).
			fileOnly(log).Error(err.Error())
		}
		closeLog()
		return err
	}
}

// defaultOnceTimeout bounds a -once run without -timeout.
const defaultOnceTimeout = 10 * time.Minute

// reloadRequest ends collect so cmdRun starts again with cfg (SIGHUP with a
// changed, valid config).
type reloadRequest struct{ cfg *config.Config }

func (reloadRequest) Error() string { return "reload" }

// hupReloader returns what SIGHUP does with the config file: nil, nil when
// it is unchanged (logrotate's HUP); the new config when it changed and is
// valid — the YAML and every stage and sink build; an error otherwise.
func hupReloader(file string, raw []byte, g *globals) func() (*config.Config, error) {
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
		streams := enabledStreams(nc, g)
		if len(streams) == 0 {
			return nil, errors.New("the stream chosen on the command line is disabled under sources")
		}
		as, err := assemble(nc, streams, nil, true)
		if err != nil {
			return nil, prefixErrors(nc.File, err)
		}
		as.close()
		return nc, nil
	}
}

type collectOptions struct {
	once   bool
	since  time.Time
	log    *slog.Logger
	reload func() (*config.Config, error) // re-read every pass (the seed's run: false)
	now    func() time.Time
	stats  *pipeline.Stats // filled in when the run ends
	// hup delivers SIGHUP: reopen the files; then reloadOnHUP (continuous
	// mode) says whether the config changed.
	hup         <-chan os.Signal
	reloadOnHUP func() (*config.Config, error)
	// metrics (optional) are kept across reloads.
	metrics *pipeline.Metrics
	// timeout bounds a -once run (0: none).
	timeout        time.Duration
	requireHealthy bool
	// repair (reconcile -repair) replaces the SIEM source with the repaired
	// alerts, and the checkpoints with ones that keep nothing.
	repair *reconcile.RepairSource
}

// collect authenticates, builds and runs the pipeline.
func (a *app) collect(ctx context.Context, c *config.Config, g *globals, o collectOptions) error {
	log := o.log
	streams := enabledStreams(c, g)
	if len(streams) == 0 {
		return configError{fmt.Errorf("%s: the stream chosen on the command line is disabled under sources", c.File)}
	}
	lock, err := pipeline.LockStateDir(c.StateDir, runWhat(o.once))
	if err != nil {
		return err
	}
	defer lock.Unlock()
	log.Info("Configurations: " + describeConfig(c, streams))
	log.Info(fmt.Sprintf("(config %s: state_dir=%s, workers=%s, %d sinks, %d transforms)", c.File, c.StateDir, c.Workers.String(), len(seedSinks(c, streams))+len(c.Sinks), len(c.Transforms)))
	for _, k := range c.InsecureTLS() {
		log.Warn("WARNING: " + insecureWarning(k))
	}
	// -timeout: pulling stops early enough to leave a fifth of the time
	// (at most 30 s) for delivering the pages in flight.
	var deadline time.Time
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	drainTimeout := 30 * time.Second
	if o.timeout > 0 {
		deadline = time.Now().Add(o.timeout)
		drainTimeout = min(o.timeout/5, 30*time.Second)
		var cancelT context.CancelFunc
		runCtx, cancelT = context.WithDeadline(runCtx, deadline.Add(-drainTimeout))
		defer cancelT()
	}
	log.Info("Initiating Sophos " + streamsTitle(streams) + " Pull")

	// The metrics and the status board outlive a SIGHUP reload (a reload is
	// not a restart): cmdRun passes the same ones to every collect.
	metrics := o.metrics
	if metrics == nil {
		metrics = pipeline.NewMetrics()
	}
	scfg := sophosConfig(c)
	scfg.OnAPIError = metrics.APIError
	scfg.OnConcurrencyLimit = func(n int) { metrics.APIConcurrency.Set(float64(n)) }
	client, err := sophos.NewClient(scfg, log)
	if err != nil {
		return configError{err}
	}
	id, err := client.WhoAmI(runCtx)
	if err != nil {
		log.Error("WhoAmI Authentication unsuccessful: " + err.Error())
		if ae := (*sophos.AuthError)(nil); errors.As(err, &ae) && ae.Refused() {
			// Credentials the token endpoint refuses are a configuration
			// error (exit 2): no retry or restart can fix them, and the unit's
			// RestartPreventExitStatus=2 keeps systemd from looping.
			return configError{err}
		}
		return err
	}
	log.Log(ctx, pipeline.LevelVerbose, "WhoAmI Authentication Successful")
	log.Log(ctx, pipeline.LevelVerbose, fmt.Sprintf("(whoami: %s %s)", id.IDType, id.ID))
	region := id.Region()
	if region == "" {
		region = id.DataRegion
	}
	metrics.Board.SetVersion(version)
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
		TenantError: func(tenant, reason string, err error) {
			metrics.TenantErrors.WithLabelValues(tenant, reason).Inc()
			if reason == "not_found" { // 401/403 are logged by the pull that got them
				log.Error("tenant " + tenant + " skipped, the other tenants go on: " + err.Error())
				missingTenants.Store(tenant, err.Error())
			}
		},
	})
	if err != nil {
		return configError{err}
	}
	dlq, err := pipeline.OpenDeadLetter(c.StateDir, pipeline.DeadLetterOptions{MaxBytes: int64(c.DeadLetter.MaxBytes)})
	if err != nil {
		return err
	}
	defer dlq.Close()
	if dlq.Repaired > 0 {
		log.Warn(fmt.Sprintf("%s: cut %d byte(s) of a torn last line (a write that never completed; its page was not committed and is pulled again)", dlq.Path(), dlq.Repaired))
	}
	as, err := assemble(c, streams, log, false)
	if err != nil {
		return configError{err}
	}
	defer as.close()
	// In distributed mode the cursors live in the cluster's Kafka topic; the
	// state dir keeps only the disk buffers and the dead-letter file (and
	// there are no seed files to adopt: file sinks are refused).
	now := time.Now
	if o.now != nil {
		now = o.now
	}
	var cps pipeline.Checkpointer
	if o.repair != nil {
		cps = &reconcile.MemoryCheckpoints{}
	} else if as.cluster == nil {
		store, err := pipeline.OpenCheckpoints(c.StateDir)
		if err != nil {
			return err
		}
		if err := as.adoptSeedFiles(store, now(), log); err != nil {
			return err
		}
		showCheckpoints(metrics.Board, store)
		cps = store
	} else if o.once {
		return configError{fmt.Errorf("%s: -once is not supported in distributed mode (cluster:): members share the tenants continuously; run one collector without cluster: for a catch-up pass", c.File)}
	}
	newJSON := as.missingSeedJSON()
	if err := as.addBuffers(c.StateDir, dlq, metrics, log); err != nil {
		return err
	}
	var names, types []string
	for _, s := range as.sinks {
		names, types = append(names, s.Name), append(types, s.Type)
	}
	metrics.Board.SetSinks(names, types)
	if err := as.startOnce(runCtx, o.requireHealthy, o.once, metrics.Board, log); err != nil {
		return err
	}
	for _, sf := range newJSON {
		name := sf.stream.Plural()
		log.Info("No "+name+" json file existed, created a new "+name+" json file", "source", sourceTag(sf.stream))
	}
	var next atomic.Pointer[config.Config]
	if o.hup != nil {
		go func() {
			for {
				select {
				case <-runCtx.Done():
					return
				case <-o.hup:
				}
				if err := reopenLogFiles(log); err != nil {
					log.Error(err.Error())
				}
				as.reopen(log)
				log.Info("SIGHUP: reopened the output files and the log file")
				if o.once || o.reloadOnHUP == nil {
					continue
				}
				nc, err := o.reloadOnHUP()
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
	var ready atomic.Bool
	if c.MetricsAddr != "" {
		stopMetrics, err := serveMetrics(c.MetricsAddr, metrics, &ready, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
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

	if c.AlertsAutoAcknowledgeStatus && containsStream(streams, pipeline.Alerts) && o.repair == nil {
		acker, err := autoack.New(client, src.TenantByID, c.AlertsAutoAcknowledgeLevel, log)
		if err != nil {
			return configError{err}
		}
		defer acker.Close()
		if o.once {
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
	as.observers = append(as.observers, seedNotes{log})
	// The ledger of what was read and delivered, for reconcile.
	led, err := ledger.Open(c.StateDir, nil)
	if err != nil {
		return err
	}
	if err := led.Compact(); err != nil {
		log.Error("ledger: " + err.Error())
	}
	var source pipeline.Source = src
	if o.repair != nil {
		source = o.repair
	} else if !o.once {
		go periodic(runCtx, c, client, src, led, cps, streams, metrics, log)
	}
	opts := pipeline.Options{
		Source: source, APIClock: src, PageObservers: []pipeline.PageObserver{led},
		Stages: as.stages, Sinks: as.sinks, Checkpoints: cps, DeadLetter: dlq,
		Observers: as.observers, Log: log, Metrics: metrics, Once: o.once, Since: o.since,
		Now: o.now, DrainTimeout: drainTimeout,
		Gaps: gaps.Open(c.StateDir), NoGapRecords: !c.GapRecords,
	}
	opts.Workers, opts.MaxInflightPages = pullWorkers(c)
	if !o.once {
		wait := c.PullTime.D()
		opts.NextPass = func() (bool, time.Duration) {
			if o.reload == nil {
				return true, wait
			}
			nc, err := o.reload()
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
	if as.cluster != nil {
		st, err = runMember(runCtx, as.cluster, log, metrics, opts)
	} else {
		st, err = pipeline.Run(runCtx, opts)
	}
	if o.once && len(as.buffered) > 0 {
		stall := 5 * time.Second
		if !deadline.IsZero() {
			stall = max(min(stall, time.Until(deadline)), 100*time.Millisecond)
		}
		as.drainBuffers(stall, log)
	}
	if o.stats != nil {
		*o.stats = st
	}
	log.Info(fmt.Sprintf("%d new logs added", st.Settled))
	log.Info(fmt.Sprintf("(%d records pulled in %d pages, %d dropped by stages, %d dead-lettered)", st.Records, st.Pages, st.Dropped, st.DeadLettered))
	if nc := next.Load(); nc != nil && ctx.Err() == nil && err == nil {
		return reloadRequest{nc}
	}
	var undelivered *pipeline.UndeliveredError
	if (err == nil || errors.As(err, &undelivered)) && o.timeout > 0 && ctx.Err() == nil && runCtx.Err() == context.DeadlineExceeded {
		var parts []string
		for _, s := range as.sinks {
			if n := st.Undelivered[s.Name]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s: %d record(s)", s.Name, n))
			}
		}
		what := "pulling had not caught up"
		if len(parts) > 0 {
			what = "undelivered — " + strings.Join(parts, ", ") + " (their pages are pulled again next run)"
		}
		return fmt.Errorf("-timeout %s reached: %s", o.timeout, what)
	}
	if err == nil && o.once {
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
	return incompleteError{"completed, but " + strings.Join(parts, "; ")}
}

func insecureWarning(key string) string {
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
// /healthz and /readyz until the returned
// function is called.
func serveMetrics(addr string, m *pipeline.Metrics, ready *atomic.Bool, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics_addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
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
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	log.Info("status page on http://" + ln.Addr().String() + "/ (metrics at /metrics)")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

// newClient loads the config and builds the Sophos client for a command.
func newClient(g *globals) (*sophos.Client, error) {
	c, err := loadConfig(g)
	if err != nil {
		return nil, err
	}
	client, err := sophos.NewClient(sophosConfig(c), nil)
	if err != nil {
		return nil, configError{err}
	}
	return client, nil
}

func (a *app) cmdWhoami(ctx context.Context, g *globals) error {
	client, err := newClient(g)
	if err != nil {
		return err
	}
	id, err := client.WhoAmI(ctx)
	if err != nil {
		return err
	}
	tenants, err := client.TenantsFor(ctx, id)
	if err != nil {
		return err
	}
	region := id.Region()
	if region == "" {
		region = id.DataRegion // a data host that is not api-<region>.central.sophos.com (the emulator)
	}
	if region == "" && len(tenants) > 0 {
		var regions []string
		seen := map[string]bool{}
		for _, t := range tenants {
			if t.DataRegion != "" && !seen[t.DataRegion] {
				seen[t.DataRegion] = true
				regions = append(regions, t.DataRegion)
			}
		}
		region = strings.Join(regions, ",")
	}
	if g.json {
		return a.writeJSON(struct {
			ID         string `json:"id"`
			IDType     string `json:"idType"`
			DataRegion string `json:"dataRegion"`
			Tenants    int    `json:"tenants"`
		}{id.ID, id.IDType, region, len(tenants)})
	}
	fmt.Fprintf(a.stdout, "id:          %s\nidType:      %s\ndata region: %s\ntenants:     %d\n", id.ID, id.IDType, orDash(region), len(tenants))
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func tenantsCmd() *command {
	return &command{
		Name: "tenants", Args: "[-json]", Short: "list the tenants the credentials reach",
		Example: "sophos-connect tenants -c sophos-connect.yaml\nsophos-connect tenants -json",
		Setup: func(fs *flag.FlagSet) runFunc {
			var asJSON bool
			fs.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
			return func(a *app, ctx context.Context, g *globals, args []string) error {
				if len(args) > 0 {
					return usageError{"tenants takes no arguments"}
				}
				return a.tenants(ctx, g, asJSON)
			}
		},
	}
}

func (a *app) tenants(ctx context.Context, g *globals, asJSON bool) error {
	client, err := newClient(g)
	if err != nil {
		return err
	}
	tenants, err := client.Tenants(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		type entry struct {
			ID         string `json:"id"`
			Name       string `json:"name"`
			DataRegion string `json:"dataRegion"`
			APIHost    string `json:"apiHost"`
		}
		list := []entry{}
		for _, t := range tenants {
			list = append(list, entry{t.ID, t.Label(), t.DataRegion, t.APIHost})
		}
		return a.writeJSON(list)
	}
	tw := newTable(a.stdout, "ID", "NAME", "REGION", "API HOST")
	for _, t := range tenants {
		tw.row(t.ID, t.Label(), orDash(t.DataRegion), t.APIHost)
	}
	return tw.flush()
}
