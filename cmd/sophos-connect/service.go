package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The Windows service: `service install|uninstall|start|stop` manage it
// through the Service Control Manager (service_windows.go); the service
// itself runs the collector with the config given at install. This file is
// the part that is the same on every platform, so it is tested everywhere.

const serviceName = "sophos-connect"

// serviceMarker is the first argument of the service's registered command
// line: it tells the binary that the service manager started it. Go's
// svc.IsWindowsService guesses from the parent's session 0, which wine (and
// some Windows containers) do not give; the marker is certain.
const serviceMarker = "-windows-service"

// serviceArgs strips serviceMarker from the front of args; marked says it
// was there.
func serviceArgs(args []string) (rest []string, marked bool) {
	if len(args) > 0 && args[0] == serviceMarker {
		return args[1:], true
	}
	return args, false
}

// serviceSpec is what `service install` registers.
type serviceSpec struct {
	Name, DisplayName, Description string
	Exe                            string   // absolute path of this binary
	Args                           []string // arguments the service manager starts it with (serviceMarker first)
}

// newServiceSpec builds the registration for config (made absolute: a
// service starts in C:\Windows\System32, not where the user ran install).
func newServiceSpec(exe, config, name string) (serviceSpec, error) {
	if name == "" {
		name = serviceName
	}
	if config == "" {
		return serviceSpec{}, usageError{"service install: -c FILE is required: the config the service runs with (e.g. " + defaultServiceConfig() + ")"}
	}
	abs, err := filepath.Abs(config)
	if err != nil {
		return serviceSpec{}, err
	}
	if _, err := os.Stat(abs); err != nil {
		return serviceSpec{}, fmt.Errorf("service install: config %s: %w", abs, err)
	}
	return serviceSpec{
		Name:        name,
		DisplayName: "Sophos Central SIEM collector (" + name + ")",
		Description: "sophos-connect: pulls Sophos Central alerts and events into the configured sinks. Config: " + abs,
		Exe:         exe,
		Args:        []string{serviceMarker, "-c", abs},
	}, nil
}

// defaultServiceConfig is where the service's config lives by default.
func defaultServiceConfig() string {
	base := os.Getenv("ProgramData")
	if base == "" {
		base = `C:\ProgramData`
	}
	return base + `\sophos-connect\sophos-connect.yaml`
}

// serviceLoop runs the collector (run) until it returns or stop is closed;
// then it cancels the run and waits up to drain for it to finish (the
// pipeline drains in-flight pages and commits). report tells the service
// manager what is happening ("running", "stopping"). It returns the
// collector's exit code.
func serviceLoop(run func(ctx context.Context) int, stop <-chan struct{}, drain time.Duration, report func(state string)) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- run(ctx) }()
	report("running")
	select {
	case code := <-done:
		return code
	case <-stop:
	}
	report("stopping")
	cancel()
	select {
	case code := <-done:
		return code
	case <-time.After(drain):
		return exitRuntime
	}
}

// eventType maps a seed log line to the Windows event log's three kinds.
func eventType(line string) string {
	switch {
	case strings.Contains(line, "] ERROR: "):
		return "error"
	case strings.Contains(line, "] WARN"):
		return "warning"
	}
	return "info"
}

var errNotWindows = errors.New("the service command manages a Windows service; on Linux run the systemd unit (examples/sophos-connect.service, or the .deb/.rpm package), see the README's Deploying section")

func serviceCmd() *command {
	sub := func(action, args, short, example string) *command {
		return &command{
			Name: "service " + action, Args: args, Short: short, Example: example,
			Setup: func(fs *flag.FlagSet) runFunc {
				var name string
				fs.StringVar(&name, "name", serviceName, "the service name (several collectors need several names)")
				return func(a *app, ctx context.Context, g *globals, args []string) error {
					if len(args) > 0 {
						return usageError{fmt.Sprintf("service %s: unexpected argument %q", action, args[0])}
					}
					return a.runService(ctx, g, action, name)
				}
			},
		}
	}
	return &command{
		Name: "service", Args: "install -c FILE | uninstall | start | stop [-name NAME]",
		Short:   "the Windows service (event log + the seed's log file)",
		Example: "sophos-connect service install -c C:\\ProgramData\\sophos-connect\\sophos-connect.yaml\nsophos-connect service start",
		Subs: []*command{
			sub("install", "-c FILE [-name NAME]", "install the Windows service (automatic start) running this binary with -c FILE",
				"sophos-connect service install -c C:\\ProgramData\\sophos-connect\\sophos-connect.yaml"),
			sub("uninstall", "[-name NAME]", "remove the Windows service (its config, state and log files stay)", "sophos-connect service uninstall"),
			sub("start", "[-name NAME]", "start the Windows service", "sophos-connect service start"),
			sub("stop", "[-name NAME]", "stop the Windows service (it drains and commits first)", "sophos-connect service stop -name sophos-connect-site2"),
		},
	}
}

func (a *app) runService(ctx context.Context, g *globals, action, name string) error {
	switch action {
	case "install":
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		cfg := g.config
		if cfg == "" {
			cfg = defaultServiceConfig()
		}
		spec, err := newServiceSpec(exe, cfg, name)
		if err != nil {
			return err
		}
		delayed, err := serviceInstall(spec)
		if err != nil {
			return err
		}
		start := "automatic start, delayed"
		if !delayed {
			start = "automatic start; this service manager has no delayed start, so it starts with the other automatic services"
		}
		fmt.Fprintf(a.stdout, "installed service %s (%s) running %s %s\nstart it with: sophos-connect service start\n", spec.Name, start, spec.Exe, strings.Join(spec.Args, " "))
	case "uninstall":
		if err := serviceUninstall(name); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "removed service %s (its config, state and log files stay)\n", name)
	case "start":
		already, err := serviceStart(name)
		if err != nil {
			return err
		}
		if already {
			fmt.Fprintf(a.stdout, "service %s is already running\n", name)
		} else {
			fmt.Fprintf(a.stdout, "service %s started\n", name)
		}
	case "stop":
		if err := serviceStop(name, 45*time.Second); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "service %s stopped\n", name)
	default:
		return usageError{fmt.Sprintf("service: unknown action %q: use install, uninstall, start or stop", action)}
	}
	return nil
}
