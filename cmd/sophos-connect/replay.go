package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// cmdReplay sends the dead-letter file's records again once the cause is
// fixed: each record goes back to the sink that refused it (or, for a stage
// failure, through the stages to every sink that routes it). Records that
// are delivered leave the file; records refused again stay, with the new
// reason. Run it while the collector is stopped.
func (a *app) cmdReplay(ctx context.Context, g *globals, args []string) error {
	var only string
	var attempts int
	rest, err := subFlags("replay", g, args, func(fs *flag.FlagSet) {
		fs.StringVar(&only, "sink", "", "replay only the records this sink refused")
		fs.IntVar(&attempts, "attempts", 3, "attempts per record before it stays in the file")
	})
	if err != nil {
		return err
	}
	if len(rest) != 1 || rest[0] != "dlq" {
		return usageError{"replay: use `replay dlq [-sink NAME]`"}
	}
	c, err := loadConfig(g)
	if err != nil {
		return err
	}
	log, closeLog, err := newLogger(c.LogLevel, logFilePath(c), a.stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	path := filepath.Join(c.StateDir, "dead-letter.ndjson")
	before, err := os.ReadFile(path)
	if os.IsNotExist(err) || len(before) == 0 {
		fmt.Fprintf(a.stdout, "no dead letters in %s\n", path)
		return nil
	}
	if err != nil {
		return err
	}
	var entries []pipeline.DeadLetterEntry
	if err := pipeline.ReadDeadLetters(path, func(e pipeline.DeadLetterEntry) error { entries = append(entries, e); return nil }); err != nil {
		return err
	}

	as, err := assemble(c, []pipeline.Stream{pipeline.Alerts, pipeline.Events}, log, false)
	if err != nil {
		return configError{err}
	}
	defer as.close()
	bySink := map[string]*pipeline.SinkSpec{}
	for i := range as.sinks {
		bySink[as.sinks[i].Name] = &as.sinks[i]
	}
	if only != "" && bySink[only] == nil {
		return usageError{fmt.Sprintf("replay: no sink named %q in %s", only, c.File)}
	}
	if err := as.start(ctx, true, log); err != nil {
		return err
	}
	// Records refused again are collected in a new file, then swapped in.
	tmpDir, err := os.MkdirTemp(c.StateDir, ".replay-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmpDir)
	again, err := pipeline.OpenDeadLetter(tmpDir)
	if err != nil {
		return err
	}
	var keep []pipeline.DeadLetterEntry
	delivered, skipped := 0, 0
	for _, e := range entries {
		if (only != "" && e.Sink != only) || (e.Sink != "" && bySink[e.Sink] == nil) {
			keep = append(keep, e)
			skipped++
			continue
		}
		rec, err := pipeline.NewRecord(e.Stream, e.Tenant, bytes.Clone(e.Record))
		if err != nil {
			keep = append(keep, e)
			continue
		}
		targets := map[string][]*pipeline.Record{}
		if e.Sink != "" {
			targets[e.Sink] = []*pipeline.Record{&rec}
		} else {
			// A stage failed on it: run the stages again, then route.
			out := []*pipeline.Record{&rec}
			failed := false
			for _, st := range as.stages {
				var next []*pipeline.Record
				for _, r := range out {
					if next, err = st.Stage.Process(r, next); err != nil {
						again.Write("", st.Name, []*pipeline.Record{r}, []error{err})
						failed = true
					}
				}
				out = next
			}
			if failed {
				continue
			}
			for _, r := range out {
				for _, s := range as.sinks {
					if s.Routes.Accepts(r) {
						targets[s.Name] = append(targets[s.Name], r)
					}
				}
			}
		}
		for name, recs := range targets {
			s := bySink[name]
			d := &pipeline.Deliverer{Name: name, Sink: s.Sink, DeadLetter: again, Log: log,
				Retry: pipeline.RetryPolicy{Initial: 200 * time.Millisecond, Max: 2 * time.Second, MaxAttempts: attempts}}
			if !d.Deliver(ctx, recs) {
				return ctx.Err()
			}
		}
		delivered++
	}
	again.Close()
	// Rewrite the dead-letter file: the entries not replayed, then the ones
	// refused again. If the collector appended meanwhile, keep everything.
	now, _ := os.ReadFile(path)
	if !bytes.Equal(now, before) {
		return fmt.Errorf("%s changed while replaying (is the collector running?); it was left as it was — the replayed records may now be delivered twice", path)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	for _, e := range keep {
		enc.Encode(e)
	}
	refused, _ := os.ReadFile(again.Path())
	out.Write(refused)
	if err := pipeline.WriteFileAtomic(path, out.Bytes(), 0o600); err != nil {
		return err
	}
	n := bytes.Count(refused, []byte("\n"))
	fmt.Fprintf(a.stdout, "replayed %d record(s) from %s: %d refused again (kept with the new reason), %d not replayed (other sinks)\n", delivered, path, n, skipped)
	if n > 0 {
		return fmt.Errorf("%d record(s) were refused again: see %s", n, path)
	}
	return nil
}
