package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/cluster"
	"github.com/sophos-connect/sophos-connect/collector"
	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/gaps"
	"github.com/sophos-connect/sophos-connect/internal/texttable"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/seed"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

func validateCmd() *command {
	return &command{
		Name: "validate", Args: "[-c FILE] [-json] [-as-user USER] [-connect]",
		Short: "check the config and print the resolved pipeline (source → stages → sinks)",
		Long: "Every error of the file is listed at once, as file:line: key: reason, sorted by line; the run\n" +
			"prints the same list. Nothing is created on disk and nothing is sent to Sophos Central.\n" +
			"Output and state paths are checked for the user the service runs as: -as-user USER, or, when\n" +
			"run as root, the owner of an existing state_dir (a packaged host's sophos-connect user).\n" +
			"-connect goes further: a Sophos token and whoami with the config's credentials, and every sink's\n" +
			"start-up check (connect, authenticate, health), one line each; exit 1 if any fails. Nothing is\n" +
			"pulled or written.",
		Example: "sophos-connect validate -c /etc/sophos-connect/sophos-connect.yaml\nsophos-connect validate -connect\nsophos-connect validate -json | jq .sinks",
		Setup: func(fs *flag.FlagSet) runFunc {
			var asJSON bool
			var asUser string
			var connect bool
			fs.BoolVar(&asJSON, "json", false, "print the resolved pipeline as JSON")
			fs.BoolVar(&connect, "connect", false, "also fetch a Sophos token and whoami, and run every sink's start-up check")
			fs.StringVar(&asUser, "as-user", "", "check output and state paths for this user (name or uid) instead of the caller")
			return func(a *app, ctx context.Context, g *globals, args []string) error {
				if len(args) > 0 {
					return usageError{"validate takes no arguments: use -c FILE"}
				}
				var acct *config.Account
				if asUser != "" {
					var err error
					if acct, err = config.LookupAccount(asUser); err != nil {
						return usageError{"validate -as-user: " + err.Error()}
					}
				}
				return a.validate(ctx, g, validateOptions{json: asJSON, account: acct, connect: connect})
			}
		},
	}
}

// validateOptions are validate's flags.
type validateOptions struct {
	json    bool
	account *config.Account // -as-user; nil: the caller (or, as root, the state dir's owner)
	connect bool
}

func (a *app) validate(ctx context.Context, g *globals, o validateOptions) error {
	asJSON, acct := o.json, o.account
	c, err := loadChecked(g)
	if err != nil {
		if asJSON {
			// A script gets the errors as data too (and the exit code).
			a.writeJSON(struct {
				OK     bool                `json:"ok"`
				Errors []config.ErrorEntry `json:"errors"`
			}{Errors: config.ErrorEntries(err)})
		}
		return err
	}
	streams := enabledStreams(c, g)
	as, err := collector.Assemble(c, streams, nil, true)
	if err != nil {
		return configError{config.PrefixFile(c.File, err)}
	}
	defer as.Close()
	p := validateView{View: collector.Describe(c, streams, as)}
	var checks []collector.ConnectCheck
	if o.connect {
		checks = collector.Connect(ctx, c, as)
	}
	if asJSON {
		p.Checks = checks
		for _, ch := range checks {
			p.OK = p.OK && ch.OK
		}
		if err := a.writeJSON(p); err != nil {
			return err
		}
		if !p.OK {
			return errConnectFailed
		}
		return nil
	}
	defer printSecretSources(a.stdout, c)
	printPipeline(a.stdout, c, p.View, as)
	w := a.stdout
	who := "this user"
	if acct == nil {
		acct = config.ServiceAccount(c.StateDir)
	}
	if acct != nil {
		who = "user " + acct.Name
	}
	errs := checkOutputPaths(w, collector.OutputPaths(c, streams), acct)
	failed := 0
	if o.connect {
		failed = printConnectChecks(w, checks)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d path(s) above cannot be written by %s: create the directories or fix their owner and mode", len(errs), who)
	}
	if failed > 0 {
		return fmt.Errorf("%d connection check(s) above failed", failed)
	}
	return nil
}

// printPipeline is validate's drawing: source → stages → sinks.
func printPipeline(w io.Writer, c *config.Config, p collector.View, as *collector.Assembly) {
	fmt.Fprintf(w, "%s: ok\n\n", c.File)
	fmt.Fprintf(w, "source  sophos  %s (auth %s)\n", p.Source.APIHost, p.Source.AuthURL)
	fmt.Fprintf(w, "        streams: %s; tenants: %s; pull every %s; state in %s\n", strings.Join(p.Source.Streams, ", "), p.Source.Tenants, p.Source.PullTime, p.StateDir)
	wk, inflight := collector.PullWorkers(c)
	if c.Workers.Auto() {
		fmt.Fprintf(w, "        workers: auto (adaptive, at most %d requests at once); max_inflight_pages: %d\n", c.MaxWorkers, inflight)
	} else {
		if inflight == 0 {
			inflight = 4 * wk
		}
		fmt.Fprintf(w, "        workers: %d; max_inflight_pages: %d\n", wk, inflight)
	}
	if c.Sources.Events.Light || len(c.Sources.Events.ExcludeTypes) > 0 {
		fmt.Fprintf(w, "        events: light=%v exclude_types=%v\n", c.Sources.Events.Light, c.Sources.Events.ExcludeTypes)
	}
	fmt.Fprintf(w, "        alerts auto-acknowledge: %s\n", p.AutoAcknowledge.Text)
	if as.Cluster != nil {
		fmt.Fprintf(w, "        %s\n", as.Cluster.Describe())
	}
	fmt.Fprintln(w, "   │")
	if len(p.Stages) == 0 {
		fmt.Fprintln(w, "stages  (none)")
	}
	for i, s := range p.Stages {
		fmt.Fprintf(w, "stage %d %s  [%s]  %s\n", i+1, s.Name, s.Streams, s.Desc)
	}
	fmt.Fprintln(w, "   │")
	for _, s := range p.Sinks {
		fmt.Fprintf(w, "   ├─► sink %s (%s)  [%s]  %s\n", s.Name, s.Type, s.Routes, s.Desc)
	}
	fmt.Fprintf(w, "\ndead letters: %s\n", p.DeadLetters)
	for _, k := range c.InsecureTLS() {
		fmt.Fprintf(w, "WARNING: %s\n", collector.InsecureWarning(k))
	}
}

var errConnectFailed = errors.New("validate -connect: a check failed (see \"checks\")")

// validateView is what `validate -json` prints: the resolved pipeline and,
// with -connect, the checks.
type validateView struct {
	collector.View
	Checks []collector.ConnectCheck `json:"checks,omitempty"`
}

// printSecretSources says where each secret comes from, never its value.
func printSecretSources(w io.Writer, c *config.Config) {
	if len(c.SecretSources) == 0 {
		return
	}
	fmt.Fprintln(w, "\nsecrets (values never shown):")
	for _, s := range c.SecretSources {
		fmt.Fprintf(w, "  %-28s from %s\n", s.Key, s.From)
	}
}

func stateCmd() *command {
	return &command{
		Name: "state", Args: "show | gaps | reset [TENANT] [STREAM]", Short: "inspect or clear checkpoints; list the gaps",
		Example: "sophos-connect state show\nsophos-connect state reset acme events",
		Subs: []*command{
			{
				Name: "state show", Args: "[-json]", Short: "list the checkpoints (tenant, stream, saved at, age, cursor)",
				Example: "sophos-connect state show -c sophos-connect.yaml\nsophos-connect state show -json",
				Setup: func(fs *flag.FlagSet) runFunc {
					var asJSON bool
					fs.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
					return func(a *app, ctx context.Context, g *globals, args []string) error {
						if len(args) > 0 {
							return usageError{"state show takes no arguments"}
						}
						return a.stateShow(g, asJSON)
					}
				},
			},
			{
				Name: "state gaps", Args: "[-json]", Short: "list the spans lost to the API's 24 h window (tenant, stream, from, to, reason)",
				Example: "sophos-connect state gaps -c sophos-connect.yaml\nsophos-connect state gaps -json",
				Setup: func(fs *flag.FlagSet) runFunc {
					var asJSON bool
					fs.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
					return func(a *app, ctx context.Context, g *globals, args []string) error {
						if len(args) > 0 {
							return usageError{"state gaps takes no arguments"}
						}
						return a.stateGaps(g, asJSON)
					}
				},
			},
			{
				Name: "state reset", Args: "[TENANT|all] [alerts|events|detections|cases]",
				Short: "remove checkpoints: the next run starts again from the 24 h window (or -since)",
				Long:  "TENANT is a tenant id or name as `state show` lists it; a name that matches no checkpoint\nexits 1 and lists the ones there are.",
				Example: "sophos-connect state reset                  # every checkpoint\n" +
					"sophos-connect state reset acme events      # one tenant's events",
				Setup: func(fs *flag.FlagSet) runFunc {
					return func(a *app, ctx context.Context, g *globals, args []string) error {
						return a.stateReset(g, args)
					}
				},
			},
		},
	}
}

func openCheckpoints(g *globals) (*pipeline.CheckpointStore, error) {
	c, err := loadConfig(g)
	if err != nil {
		return nil, err
	}
	return pipeline.OpenCheckpoints(c.StateDir)
}

func (a *app) stateShow(g *globals, asJSON bool) error {
	c, err := loadConfig(g)
	if err != nil {
		return err
	}
	if cc, err := cluster.Parse(c.Cluster); err != nil {
		return configError{err}
	} else if cc != nil {
		return a.clusterShow(cc, asJSON) // the cursors live in the cluster's topic
	}
	cps, err := pipeline.OpenCheckpoints(c.StateDir)
	if err != nil {
		return err
	}
	all := cps.All()
	now := time.Now()
	if asJSON {
		type entry struct {
			Tenant     string    `json:"tenant"`
			Stream     string    `json:"stream"`
			TenantName string    `json:"tenant_name,omitempty"`
			SavedAt    time.Time `json:"saved_at"`
			AgeSeconds int64     `json:"age_seconds"`
			Cursor     string    `json:"cursor"`
		}
		list := []entry{}
		for _, k := range cps.Keys() {
			cp := all[k]
			tenant, stream, _ := strings.Cut(k, "/")
			list = append(list, entry{tenant, stream, cp.TenantName, cp.SavedAt, int64(now.Sub(cp.SavedAt).Seconds()), cp.Cursor})
		}
		return a.writeJSON(list)
	}
	if len(all) == 0 {
		fmt.Fprintf(a.stdout, "no checkpoints in %s: the next run starts from the 24 h window (or -since)\n", cps.Path())
		return nil
	}
	tw := texttable.New(a.stdout, "TENANT", "STREAM", "NAME", "SAVED", "AGE", "CURSOR")
	for _, k := range cps.Keys() {
		cp := all[k]
		tenant, stream, _ := strings.Cut(k, "/")
		age := now.Sub(cp.SavedAt).Round(time.Second).String()
		if now.Sub(cp.SavedAt) > 20*time.Hour {
			age += " (near or past the 24 h window!)"
		}
		tw.Row(tenant, stream, orDash(cp.TenantName), cp.SavedAt.Local().Format(texttable.TimeLayout), age, cp.Cursor)
	}
	return tw.Flush()
}

// stateGaps lists the state dir's gaps: what could not be read before it
// left the API's 24 h window. No gaps is said, not left blank.
func (a *app) stateGaps(g *globals, asJSON bool) error {
	c, err := loadConfig(g)
	if err != nil {
		return err
	}
	list, err := gaps.List(c.StateDir)
	if err != nil {
		return err
	}
	if asJSON {
		if list == nil {
			list = []pipeline.Gap{}
		}
		return a.writeJSON(list)
	}
	if len(list) == 0 {
		fmt.Fprintf(a.stdout, "no gaps in %s: nothing fell out of the API's 24 h window before it was read\n", c.StateDir)
		return nil
	}
	tw := texttable.New(a.stdout, "TENANT", "STREAM", "NAME", "FROM", "TO", "LOST", "REASON")
	for _, x := range list {
		tw.Row(x.Tenant, x.Stream.Plural(), orDash(x.TenantName), x.From.Local().Format(texttable.TimeLayout), x.To.Local().Format(texttable.TimeLayout),
			x.To.Sub(x.From).Round(time.Second).String(), x.Reason)
	}
	return tw.Flush()
}

func (a *app) stateReset(g *globals, args []string) error {
	if len(args) > 2 {
		return usageError{"state reset [TENANT|all] [alerts|events|detections|cases]"}
	}
	tenant, stream := "", ""
	if len(args) > 0 {
		tenant = args[0]
	}
	if len(args) > 1 {
		s, err := pipeline.ParseStream(args[1])
		if err != nil {
			return usageError{"state reset: " + err.Error()}
		}
		stream = string(s)
	}
	c, err := loadConfig(g)
	if err != nil {
		return err
	}
	if cc, err := cluster.Parse(c.Cluster); err != nil {
		return configError{err}
	} else if cc != nil {
		return a.clusterReset(cc, tenant, stream)
	}
	n, path, err := collector.ResetCheckpoints(c.StateDir, tenant, stream)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "removed %d checkpoint(s) from %s\n", n, path)
	return nil
}

func versionCmd() *command {
	return &command{
		Name: "version", Short: "print the version and build info (also -version, --version)",
		Example: "sophos-connect version",
		Setup: func(fs *flag.FlagSet) runFunc {
			return func(a *app, ctx context.Context, g *globals, args []string) error { return a.printVersion() }
		},
	}
}

func emulateCmd() *command {
	return &command{
		Name: "emulate", Args: "[-addr 127.0.0.1:PORT] [-tls] [-partner] [-tenants N] [-events N] [-rate N] [-fault SPEC]",
		Short: "serve the Sophos Central emulator until interrupted (prints URLs, credentials and a config snippet)",
		Example: "sophos-connect emulate -addr 127.0.0.1:8443 -partner -tenants 3 -rate 5\n" +
			"sophos-connect emulate -tls -fault 429=0.1,503=0.05",
		Setup: func(fs *flag.FlagSet) runFunc {
			serve := emulator.DefineFlags(fs)
			return func(a *app, ctx context.Context, g *globals, args []string) error {
				if len(args) > 0 {
					return usageError{fmt.Sprintf("emulate: unexpected argument %q", args[0])}
				}
				if err := serve(ctx, a.stdout, a.stderr); err != nil {
					return usageError{"emulate: " + err.Error()}
				}
				return nil
			}
		},
	}
}

func migrateCmd() *command {
	return &command{
		Name: "migrate", Args: "sophos.conf [-o FILE [-force]]",
		Short: "convert the seed's sophos.conf (Sophos API Connect) to the YAML config",
		Long: "Reads the seed's `key = value` lines as the seed did (quotes, True/False, blanks, comments,\n" +
			"CRLF) and warns on stderr about every key it cannot carry over. With -o the secret goes to\n" +
			"the file (mode 0600); without it the YAML goes to standard output with ${SOPHOS_CLIENT_SECRET}.",
		Example: "sophos-connect migrate /opt/sophos-api-connect/sophos.conf -o sophos-connect.yaml",
		Setup: func(fs *flag.FlagSet) runFunc {
			var out string
			var force bool
			fs.StringVar(&out, "o", "", "write the YAML here (mode 0600) instead of standard output")
			fs.BoolVar(&force, "force", false, "with -o: replace an existing file, keeping its owner and mode")
			return func(a *app, ctx context.Context, g *globals, args []string) error {
				return a.migrate(args, out, force)
			}
		},
	}
}

func (a *app) printVersion() error {
	fmt.Fprintf(a.stdout, "sophos-connect %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" || s.Key == "vcs.time" {
				fmt.Fprintf(a.stdout, "%s: %s\n", s.Key, s.Value)
			}
		}
	}
	return nil
}

// cmdMigrate converts the seed's sophos.conf ("key = value" lines, keys found
// by substring, booleans True/False) to the YAML config.
func (a *app) migrate(rest []string, out string, force bool) error {
	if len(rest) != 1 {
		return usageError{"migrate: give the seed's config file, e.g. `sophos-connect migrate sophos.conf -o sophos-connect.yaml`"}
	}
	y, warnings, secret, err := seed.Migrate(rest[0], out)
	var bad *seed.InputError
	if errors.As(err, &bad) {
		return configError{bad.Err}
	}
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(a.stderr, "warning: "+w)
	}
	if out == "" {
		fmt.Fprint(a.stdout, y)
		if secret {
			fmt.Fprintln(a.stderr, "note: client_secret is written as ${SOPHOS_CLIENT_SECRET}: export it, or use -o FILE to keep it in a private file")
		}
		return nil
	}
	var exists *seed.ExistsError
	if err := seed.WriteMigrated(out, []byte(y), force); errors.As(err, &exists) {
		return usageError{err.Error()}
	} else if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "wrote %s — check it with `sophos-connect validate -c %s`\n", out, out)
	return nil
}

// checkOutputPaths prints each path with "ok" or the reason it cannot be
// written, and returns the errors.
func checkOutputPaths(w io.Writer, paths []collector.OutputPath, acct *config.Account) config.Errors {
	var errs config.Errors
	check := config.CheckWritableDir
	if acct != nil {
		fmt.Fprintf(w, "\npaths, checked for user %s (relative ones resolved against the config file's directory):\n", acct.Name)
		check = func(dir string) error { return config.CheckWritableDirAs(dir, acct) }
	} else {
		fmt.Fprintln(w, "\npaths (relative ones resolved against the config file's directory):")
	}
	for _, p := range paths {
		status := "ok"
		if err := check(p.Dir); err != nil {
			status = "NOT WRITABLE: " + err.Error()
			errs = append(errs, fmt.Errorf("%s %s: %v", p.What, p.Path, err))
		}
		fmt.Fprintf(w, "  %-22s %s  %s\n", p.What, p.Path, status)
	}
	return errs
}
