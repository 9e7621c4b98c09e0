package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sophos-connect/sophos-connect/collector"
	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/buffer"
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
		if st, err = offlineStatus(c, time.Now()); err != nil {
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

// offlineStatus builds the status document from the state dir alone: the
// committed checkpoints, the dead-letter file's count per sink and the disk
// buffers' sizes. Nothing is created or locked: it only reads.
func offlineStatus(c *config.Config, now time.Time) (status.Status, error) {
	b := status.NewBoard(version, time.Time{})
	cps, err := readCheckpoints(c.StateDir)
	if err != nil {
		return status.Status{}, err
	}
	for key, cp := range cps {
		tenant, stream, ok := strings.Cut(key, "/")
		if ok {
			b.Committed(tenant, cp.TenantName, stream, cp.SavedAt)
		}
	}
	dead, err := countDeadLetters(filepath.Join(c.StateDir, "dead-letter.ndjson"))
	if err != nil {
		return status.Status{}, err
	}
	as, err := collector.Assemble(c, enabledStreams(c, nil), nil, true)
	if err != nil {
		return status.Status{}, configError{err}
	}
	defer as.Close()
	for _, s := range as.Sinks {
		b.AddSink(s.Name, s.Type)
	}
	b.SetSinkCounters(func(sink string) status.SinkCounters {
		return status.SinkCounters{DeadLettered: dead[sink], BufferedBytes: dirSize(buffer.Dir(c.StateDir, sink))}
	})
	st := b.Snapshot(now)
	st.StartedAt = time.Time{}
	// Nothing runs, so nothing is known of any destination: never "ok".
	for i := range st.Sinks {
		st.Sinks[i].State = status.SinkNotRunning
	}
	orphans, err := collector.FindOrphans(c)
	if err != nil {
		return status.Status{}, err
	}
	for _, o := range orphans {
		st.OrphanedBuffers = append(st.OrphanedBuffers, status.OrphanedBuffer{Sink: o.Name, Records: o.Records, Dir: o.Dir})
	}
	return st, nil
}

// readCheckpoints reads <dir>/checkpoints.json without creating anything.
func readCheckpoints(dir string) (map[string]pipeline.Checkpoint, error) {
	if _, err := os.Stat(filepath.Join(dir, "checkpoints.json")); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	cps, err := pipeline.OpenCheckpoints(dir)
	if err != nil {
		return nil, err
	}
	return cps.All(), nil
}

// countDeadLetters counts the dead-letter file's lines per sink (stage
// failures count under "stage:<name>"); damaged lines are skipped.
func countDeadLetters(path string) (map[string]int64, error) {
	out := map[string]int64{}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var e struct{ Sink, Stage string }
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		who := e.Sink
		if who == "" {
			who = "stage:" + e.Stage
		}
		out[who]++
	}
	return out, sc.Err()
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
