package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/sophos-connect/sophos-connect/collector"
	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/status"
)

// cmdStatus prints a running collector's /status.json as tables, or, when
// none answers, what its state dir says (checkpoints, dead letters, disk
// buffers).
func statusCmd() *command {
	return &command{
		Name: "status", Args: "[-addr HOST:PORT] [-json]",
		Short:   "a running collector's status page as tables (else what the state dir holds)",
		Example: "sophos-connect status -c sophos-connect.yaml\nsophos-connect status -addr 127.0.0.1:9464 -json",
		Setup: func(fs *flag.FlagSet) runFunc {
			var addr string
			var asJSON bool
			fs.StringVar(&addr, "addr", "", "the collector's metrics_addr (default: metrics_addr from the config)")
			fs.BoolVar(&asJSON, "json", false, "print the status document (the shape of /status.json)")
			return func(a *app, ctx context.Context, g *globals, args []string) error {
				if len(args) > 0 {
					return usageError{fmt.Sprintf("status: unexpected argument %q", args[0])}
				}
				return a.status(ctx, g, addr, asJSON)
			}
		},
	}
}

func (a *app) status(ctx context.Context, g *globals, addr string, asJSON bool) error {
	var c *config.Config
	if addr == "" || g.config != "" {
		var err error
		if c, err = loadConfig(g); err != nil && addr == "" {
			return err
		}
		if addr == "" && c != nil {
			addr = c.MetricsAddr
		}
	}
	var st status.Status
	var note string
	live := false
	if addr != "" {
		s, err := status.Fetch(ctx, addr)
		switch {
		case err == nil:
			st, live = s, true
		case c == nil:
			return fmt.Errorf("status: %v", err)
		case errors.Is(err, syscall.ECONNREFUSED):
			note = fmt.Sprintf("no collector answers at %s; showing what %s holds", addr, c.StateDir)
		default:
			note = fmt.Sprintf("%s: %v; showing what %s holds", addr, err, c.StateDir)
		}
	} else {
		note = fmt.Sprintf("no metrics_addr is set, so no running collector can be asked; showing what %s holds", c.StateDir)
	}
	if !live {
		var err error
		if st, err = collector.OfflineStatus(c, enabledStreams(c, nil), version, time.Now()); err != nil {
			return err
		}
	}
	if asJSON {
		return a.writeJSON(st)
	}
	if note != "" {
		fmt.Fprintln(a.stdout, note)
	}
	width, _ := strconv.Atoi(os.Getenv("COLUMNS"))
	status.WriteText(a.stdout, st, width)
	return nil
}
