package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// The demo emulator's credentials: a local fake, not a secret.
const (
	demoClientID     = "demo-client"
	demoClientSecret = "demo-secret"
)

// cmdDemo runs the collector against the built-in emulator (partner
// credentials, three tenants) into DIR with the seed's txt and json files:
// no config, no network, no credentials. It stops by itself once every
// tenant is caught up.
func demoCmd() *command {
	return &command{
		Name: "demo", Args: "[-dir DIR]",
		Short:   "run against the built-in emulator into DIR (default ./demo-out); no config, no network",
		Example: "sophos-connect demo -dir /tmp/demo && ls /tmp/demo",
		Setup: func(fs *flag.FlagSet) runFunc {
			var dir string
			var events, alerts, tenants int
			fs.StringVar(&dir, "dir", "./demo-out", "output directory")
			fs.IntVar(&events, "events", 2000, "events per tenant in the emulator's backlog")
			fs.IntVar(&alerts, "alerts", 200, "alerts per tenant in the emulator's backlog")
			fs.IntVar(&tenants, "tenants", 3, "tenants behind the emulator's partner credentials")
			return func(a *app, ctx context.Context, g *globals, args []string) error {
				if len(args) > 0 {
					return usageError{fmt.Sprintf("demo: unexpected argument %q", args[0])}
				}
				return a.demo(ctx, g, dir, events, alerts, tenants)
			}
		},
	}
}

func (a *app) demo(ctx context.Context, g *globals, dir string, events, alerts, tenants int) error {
	// An XDR tenant, an MDR tenant (alerts empty, findings as cases) and a
	// tenant without the licence, then XDR tenants again.
	kinds := []string{emulator.KindXDR, emulator.KindMDR, emulator.KindUnlicensed}
	emu, err := emulator.New(emulator.Options{Seed: 1, Tenants: tenants, Partner: true, Events: events, Alerts: alerts, ClientID: demoClientID, ClientSecret: demoClientSecret,
		XDR: emulator.XDR{Kinds: kinds}})
	if err != nil {
		return fmt.Errorf("start the emulator: %w", err)
	}
	defer emu.Close()

	c := config.Defaults()
	c.File = "(demo)"
	c.Sophos.ClientID = demoClientID
	c.Sophos.ClientSecret = config.Secret(demoClientSecret)
	c.Sophos.AuthURL = emu.AuthURL()
	c.Sophos.APIHost = emu.URL()
	c.SaveFileLocation = dir
	c.TxtFileCreation = true
	c.JSONFileCreation = true
	c.StateDir = filepath.Join(dir, "state")
	c.LogLevel = "LOG+"
	c.Sophos.Streams = []string{"alerts", "events", "detections", "cases"} // all four streams
	c.Sources.Cases.Detections = true
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	log, closeLog, err := newLogger(c.LogLevel, filepath.Join(dir, c.LogFileName), a.stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	fmt.Fprintf(a.stdout, "demo: Sophos Central emulator at %s (partner, %d tenants, %d events + %d alerts each; XDR detections and cases: tenant 1 XDR, tenant 2 MDR, tenant 3 not licensed)\n", emu.URL(), tenants, events, alerts)
	start := time.Now()
	if err := a.collect(ctx, &c, g, collectOptions{once: true, since: time.Now().Add(-24*time.Hour + 5*time.Minute), log: log}); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "\ndemo: done in %s. Files in %s:\n", time.Since(start).Round(time.Millisecond), dir)
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, n := range names {
		st, _ := os.Stat(filepath.Join(dir, n))
		fmt.Fprintf(a.stdout, "  %-24s %9d bytes\n", n, st.Size())
	}
	fmt.Fprintf(a.stdout, "  state/                   checkpoints (tenant × stream cursors) and the dead-letter file\n")
	fmt.Fprintf(a.stdout, "\nNext: `sophos-connect emulate` serves the same emulator for your own config; see README.md and examples/.\n")
	return nil
}
