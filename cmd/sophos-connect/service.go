package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/internal/winservice"
)

// The Windows service: `service install|uninstall|start|stop` manage it
// through the Service Control Manager (internal/winservice); the service
// itself runs the collector with the config given at install.

// newServiceSpec is winservice.NewSpec; -c is required.
func newServiceSpec(exe, config, name string) (winservice.Spec, error) {
	if config == "" {
		return winservice.Spec{}, usageError{"service install: -c FILE is required: the config the service runs with (e.g. " + winservice.DefaultConfig() + ")"}
	}
	return winservice.NewSpec(exe, config, name)
}

// runService is main when the Windows service manager started the binary.
func runService(args []string) int {
	return winservice.Run(winservice.Name, func(ctx context.Context, stderr io.Writer) int {
		a := &app{stdout: os.Stdout, stderr: stderr}
		return a.main(ctx, args)
	}, exitRuntime)
}

func serviceCmd() *command {
	sub := func(action, args, short, example string) *command {
		return &command{
			Name: "service " + action, Args: args, Short: short, Example: example,
			Setup: func(fs *flag.FlagSet) runFunc {
				var name string
				fs.StringVar(&name, "name", winservice.Name, "the service name (several collectors need several names)")
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
			cfg = winservice.DefaultConfig()
		}
		spec, err := newServiceSpec(exe, cfg, name)
		if err != nil {
			return err
		}
		delayed, err := winservice.Install(spec)
		if err != nil {
			return err
		}
		start := "automatic start, delayed"
		if !delayed {
			start = "automatic start; this service manager has no delayed start, so it starts with the other automatic services"
		}
		fmt.Fprintf(a.stdout, "installed service %s (%s) running %s %s\nstart it with: sophos-connect service start\n", spec.Name, start, spec.Exe, strings.Join(spec.Args, " "))
	case "uninstall":
		if err := winservice.Uninstall(name); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "removed service %s (its config, state and log files stay)\n", name)
	case "start":
		already, err := winservice.Start(name)
		if err != nil {
			return err
		}
		if already {
			fmt.Fprintf(a.stdout, "service %s is already running\n", name)
		} else {
			fmt.Fprintf(a.stdout, "service %s started\n", name)
		}
	case "stop":
		if err := winservice.Stop(name, 45*time.Second); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "service %s stopped\n", name)
	default:
		return usageError{fmt.Sprintf("service: unknown action %q: use install, uninstall, start or stop", action)}
	}
	return nil
}
