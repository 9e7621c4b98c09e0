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

// serviceSpec is what `service install` registers.
type serviceSpec struct {
	Name, DisplayName, Description string
	Exe                            string   // absolute path of this binary
	Args                           []string // arguments the service manager starts it with
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
		Args:        []string{"-c", abs},
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

func (a *app) cmdService(ctx context.Context, g *globals, args []string) error {
	var name string
	rest, err := subFlags("service", g, args, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", serviceName, "the service name (several collectors need several names)")
	})
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError{"service: use `service install -c FILE`, `service uninstall`, `service start` or `service stop`"}
	}
	switch rest[0] {
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
		if err := serviceInstall(spec); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "installed service %s (automatic start) running %s %s\nstart it with: sophos-connect service start\n", spec.Name, spec.Exe, strings.Join(spec.Args, " "))
	case "uninstall":
		if err := serviceUninstall(name); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "removed service %s (its config, state and log files stay)\n", name)
	case "start":
		if err := serviceStart(name); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "service %s started\n", name)
	case "stop":
		if err := serviceStop(name, 45*time.Second); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "service %s stopped\n", name)
	default:
		return usageError{fmt.Sprintf("service: unknown action %q: use install, uninstall, start or stop", rest[0])}
	}
	return nil
}
