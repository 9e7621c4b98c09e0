// Command sophos-connect pulls Sophos Central alerts and events into a
// pipeline of transforms and sinks (files, syslog, Kafka, Elasticsearch),
// runs endpoint tasks and alert actions, and serves a Sophos Central
// emulator for demos and tests. This package is wiring only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/sophos-connect/sophos-connect/collector"
	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/internal/redact"
	"github.com/sophos-connect/sophos-connect/internal/useragent"
	"github.com/sophos-connect/sophos-connect/internal/winservice"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

// Exit codes (SPEC §2, README "Exit codes"): the one place they are defined.
const (
	// exitOK: everything pulled was delivered or durably buffered.
	exitOK = 0
	// exitRuntime: a runtime failure, some partition failed, or pages were
	// still undelivered when a stop's drain timeout ran out.
	exitRuntime = 1
	// exitUsage: a usage or configuration error, or state_dir in use.
	exitUsage = 2
	// exitIncomplete: the run completed, but records were dead-lettered or
	// remain in disk buffers (see the dead-letter file / `replay dlq`).
	exitIncomplete = 3
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// globals are the seed's flags plus the collector's own.
type globals struct {
	alerts, events, run, whoami, help bool
	xdr                               bool // -x: detections and cases
	version, json                     bool
	config                            string
	once                              bool
	since                             string
	timeout                           time.Duration
	requireHealthy                    bool
	logFormat                         string // -log-format: overrides log_format
	envFile                           string // -env-file: variables for ${VAR} in the config
}

// app carries the process's streams so tests can run commands in-process.
type app struct {
	stdout, stderr io.Writer
	// hup delivers SIGHUP (reopen files, reload the config); nil in tests
	// that run the app in-process.
	hup <-chan os.Signal
}

func main() {
	useragent.SetVersion(version)
	// Started by the Windows service manager: the marker `service install`
	// puts on the command line, or (a service registered without it) the
	// session-0 parent check.
	if args, marked := winservice.Args(os.Args[1:]); marked || winservice.Running() {
		os.Exit(runService(args))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// SIGHUP is caught from the first instant: its default action would
	// kill a collector that logrotate signals while it starts.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	a := &app{stdout: os.Stdout, stderr: os.Stderr, hup: hup}
	// SOPHOS_CONNECT_CPUPROFILE=FILE writes a pprof CPU profile of the run
	// (how the README's performance figures were investigated).
	if p := os.Getenv("SOPHOS_CONNECT_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			pprof.StartCPUProfile(f)
		}
	}
	code := a.main(ctx, os.Args[1:])
	pprof.StopCPUProfile()
	if p := os.Getenv("SOPHOS_CONNECT_MEMPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}
	stop()
	os.Exit(code)
}

// usageError is a command-line mistake: exit code 2 with the usage hint.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func (a *app) globalFlags(g *globals) *flag.FlagSet {
	fs := flag.NewFlagSet("sophos-connect", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, n := range []string{"a", "alerts"} {
		fs.BoolVar(&g.alerts, n, false, "pull alerts only")
	}
	for _, n := range []string{"e", "events"} {
		fs.BoolVar(&g.events, n, false, "pull events only")
	}
	for _, n := range []string{"r", "run"} {
		fs.BoolVar(&g.run, n, false, "pull alerts and events (the default)")
	}
	for _, n := range []string{"x", "xdr"} {
		fs.BoolVar(&g.xdr, n, false, "pull XDR detections and MDR cases (with -a/-e/-r: as well)")
	}
	for _, n := range []string{"w", "whoami"} {
		fs.BoolVar(&g.whoami, n, false, "authenticate, print the identity and exit")
	}
	for _, n := range []string{"h", "help"} {
		fs.BoolVar(&g.help, n, false, "show this help")
	}
	fs.BoolVar(&g.version, "version", false, "print the version and exit")
	fs.BoolVar(&g.json, "json", false, "with -w: print the identity as JSON")
	addConfigFlag(fs, g)
	fs.BoolVar(&g.once, "once", false, "one pass: pull until caught up, deliver, commit, exit")
	fs.StringVar(&g.since, "since", "", "first-run lookback without a checkpoint: a duration (6h), RFC 3339 time or Unix seconds; at most 24h")
	fs.DurationVar(&g.timeout, "timeout", 0, "with -once: bound the whole run (default 10m); what is undelivered then is reported and the exit code is 1")
	fs.BoolVar(&g.requireHealthy, "require-healthy", false, "a sink failing its start-up check stops the collector (default: an ERROR, and the sink is retried)")
	fs.StringVar(&g.logFormat, "log-format", "", "seed (the seed's log lines) or json (one JSON object per line); overrides log_format")
	return fs
}

func addConfigFlag(fs *flag.FlagSet, g *globals) {
	for _, n := range []string{"c", "config"} {
		fs.StringVar(&g.config, n, g.config, "config file (default $SOPHOS_CONNECT_CONFIG, else ./sophos-connect.yaml, else on Linux /etc/sophos-connect/sophos-connect.yaml)")
	}
	fs.StringVar(&g.envFile, "env-file", g.envFile, "read variables for the config's ${VAR} from FILE (systemd EnvironmentFile= syntax; variables already set win); with the packaged config, /etc/sophos-connect/env is read when readable")
}

// configPath is the config file a command reads; it loads -env-file first,
// or, for the packaged config, the packaged env file when this user may read
// it (so `validate`, `status` and `state` work as root on a packaged host).
func configPath(g *globals) (string, error) {
	if g.envFile != "" {
		if _, err := config.LoadEnvFile(g.envFile); err != nil {
			return "", usageError{err.Error()}
		}
	}
	p := config.Path(g.config)
	if g.envFile == "" && p == config.PackagedFile && config.PackagedFile != "" {
		if _, err := config.LoadEnvFile(config.PackagedEnvFile); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, os.ErrPermission) {
			return "", configError{err}
		}
	}
	return p, nil
}

func (a *app) main(ctx context.Context, args []string) int {
	// Everything a command prints passes the redactor (errors, validate,
	// status tables): a secret of the config never reaches the screen.
	redact.Reset()
	a.stdout, a.stderr = redact.Writer(a.stdout), redact.Writer(a.stderr)
	var g globals
	fs := a.globalFlags(&g)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.usage(a.stdout)
			return exitOK
		}
		fmt.Fprintf(a.stderr, "sophos-connect: %v\nRun `sophos-connect -h` for the flags and commands.\n", err)
		return exitUsage
	}
	if g.help {
		a.usage(a.stdout)
		return exitOK
	}
	if g.version {
		return a.exitCode(a.printVersion())
	}
	rest := fs.Args()
	var err error
	switch {
	case len(rest) > 0:
		cmd := findCommand(commandTable(), rest[:1])
		if cmd == nil {
			fmt.Fprintf(a.stderr, "sophos-connect: unknown command %q%s\nRun `sophos-connect -h` for the flags and commands.\n", rest[0], didYouMean(rest[0], commandNames()))
			return exitUsage
		}
		err = a.dispatch(ctx, &g, cmd, rest[1:])
	case g.whoami:
		err = a.cmdWhoami(ctx, &g)
	default:
		err = a.cmdRun(ctx, &g)
	}
	return a.exitCode(err)
}

// configError marks errors in the configuration (exit code 2); the
// collector's own are collector.ConfigError.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

func (a *app) exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ue usageError
	var ce configError
	var cce collector.ConfigError
	var inUse *pipeline.StateDirInUseError
	var inc collector.IncompleteError
	switch {
	case errors.As(err, &inUse):
		fmt.Fprintf(a.stderr, "sophos-connect: %v\n", err)
		return exitUsage
	case errors.As(err, &inc):
		fmt.Fprintf(a.stderr, "sophos-connect: %v\n", err)
		return exitIncomplete
	case errors.As(err, &ue):
		fmt.Fprintf(a.stderr, "sophos-connect: %v\nRun `sophos-connect -h` for the flags and commands.\n", err)
		return exitUsage
	case errors.As(err, &ce), errors.As(err, &cce):
		fmt.Fprintf(a.stderr, "sophos-connect: configuration errors:\n%s\n", indent(err.Error()))
		return exitUsage
	}
	fmt.Fprintf(a.stderr, "sophos-connect: %v\n", err)
	return exitRuntime
}

func indent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}

func (a *app) usage(w io.Writer) {
	fmt.Fprint(w, `sophos-connect — pull Sophos Central alerts and events into files, syslog, Kafka and Elasticsearch.

Usage:
  sophos-connect [flags]                 run the collector (alerts and events)
  sophos-connect [flags] COMMAND [args]

The seed's flags (single or double dash):
  -a, -alerts            pull alerts only
  -e, -events            pull events only
  -r, -run               pull alerts and events (the default action)
  -w, -whoami            authenticate, print the identity and exit
  -h, -help              show this help
Collector flags:
  -version               print the version and exit
  -json                  with -w: print the identity as JSON
  -c, -config FILE       config file (default $SOPHOS_CONNECT_CONFIG, else ./sophos-connect.yaml)
  -once                  one pass: pull until caught up, deliver, commit, exit (cron mode)
  -since D               first-run lookback without a checkpoint: 6h, an RFC 3339 time or Unix seconds (at most 24h)
  -timeout D             with -once: bound the whole run (default 10m); undelivered records then → exit 1
  -require-healthy       a sink failing its start-up check is fatal (default: ERROR, retried in the background)

Commands (sophos-connect COMMAND -h shows one command's flags and an example):
`+commandList()+`
Exit codes: 0 success, 1 runtime failure or failed partitions, 2 usage or configuration error (or state_dir
in use), 3 completed but records were dead-lettered or remain in disk buffers.
`)
}
