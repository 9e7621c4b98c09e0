package main

import (
	"bufio"
	"bytes"
	"context"
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
func replayCmd() *command {
	return &command{
		Name: "replay", Args: "dlq [-sink NAME]", Short: "send dead-lettered records again once the cause is fixed",
		Example: "sophos-connect replay dlq -sink siem",
		Subs: []*command{{
			Name: "replay dlq", Args: "[-sink NAME] [-attempts N]",
			Short: "send the dead-letter file's records again (run it while the collector is stopped)",
			Long: "Each record goes back to the sink that refused it (or, for a stage failure, through the stages\n" +
				"to every sink that routes it). Delivered records leave the file; refused ones stay with the new reason.",
			Example: "sophos-connect replay dlq -c sophos-connect.yaml -sink siem",
			Setup: func(fs *flag.FlagSet) runFunc {
				var only string
				var attempts int
				fs.StringVar(&only, "sink", "", "replay only the records this sink refused")
				fs.IntVar(&attempts, "attempts", 3, "attempts per record before it stays in the file")
				return func(a *app, ctx context.Context, g *globals, args []string) error {
					if len(args) > 0 {
						return usageError{"replay dlq takes no arguments: use -sink NAME"}
					}
					return a.replayDLQ(ctx, g, only, attempts)
				}
			},
		}},
	}
}

func (a *app) replayDLQ(ctx context.Context, g *globals, only string, attempts int) error {
	c, err := loadConfig(g)
	if err != nil {
		return err
	}
	mode, _ := c.FileMode.Mode() // validated with the config
	log, closeLog, err := newLogger(c.LogLevel, logFilePath(c), a.stderr, mode)
	if err != nil {
		return err
	}
	defer closeLog()
	lock, err := pipeline.LockStateDir(c.StateDir, "replay dlq")
	if err != nil {
		return err
	}
	defer lock.Unlock()
	path := filepath.Join(c.StateDir, pipeline.DeadLetterName)
	files, err := pipeline.DeadLetterFiles(c.StateDir)
	if err != nil {
		return err
	}
	var total int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			total += st.Size()
		}
	}
	if total == 0 {
		fmt.Fprintf(a.stdout, "no dead letters in %s\n", path)
		return nil
	}

	as, err := assemble(c, enabledStreams(c, nil), log, false) // every configured stream's sinks, the seed's files included
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
	// Records refused again are collected in a new file; each dead-letter
	// file is streamed, the lines it keeps go to a temp file beside it, and
	// only when every file was read are the temp files swapped in.
	tmpDir, err := os.MkdirTemp(c.StateDir, ".replay-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmpDir)
	again, err := pipeline.OpenDeadLetter(tmpDir)
	if err != nil {
		return err
	}
	defer again.Close()
	delivered, skipped, refusedStage := 0, 0, 0
	var damaged []string
	type rewrite struct {
		path, tmp string
		size      int64
		mod       time.Time
	}
	var rewrites []rewrite
	replayOne := func(e pipeline.DeadLetterEntry) (keep bool, err error) {
		if (only != "" && e.Sink != only) || (e.Sink != "" && bySink[e.Sink] == nil) {
			skipped++
			return true, nil
		}
		rec, err := pipeline.NewRecord(e.Stream, e.Tenant, bytes.Clone(e.Record))
		if err != nil {
			return true, nil
		}
		targets := map[string][]*pipeline.Record{}
		if e.Sink != "" {
			targets[e.Sink] = []*pipeline.Record{&rec}
		} else {
			// A stage (or the source) refused it: run the stages again, then route.
			out := []*pipeline.Record{&rec}
			for _, st := range as.stages {
				var next []*pipeline.Record
				for _, r := range out {
					var serr error
					if next, serr = st.Stage.Process(r, next); serr != nil {
						if werr := again.Write("", st.Name, []*pipeline.Record{r}, []error{serr}); werr != nil {
							return false, werr
						}
						refusedStage++
					}
				}
				out = next
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
				return false, ctx.Err()
			}
		}
		delivered++
		return false, nil
	}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return err
		}
		tmp, err := os.CreateTemp(c.StateDir, ".replay-keep-*")
		if err != nil {
			return err
		}
		rewrites = append(rewrites, rewrite{path: f, tmp: tmp.Name(), size: st.Size(), mod: st.ModTime()})
		defer os.Remove(tmp.Name())
		w := bufio.NewWriter(tmp)
		err = pipeline.ScanDeadLetters(f, func(e pipeline.DeadLetterEntry, raw []byte) error {
			keep, err := replayOne(e)
			if keep {
				_, err = w.Write(raw)
			}
			return err
		}, func(l pipeline.DamagedLine) {
			// Kept as stored (never dropped), reported, and skipped.
			damaged = append(damaged, fmt.Sprintf("%s:%d (byte %d): %v", f, l.Line, l.Offset, l.Err))
			w.Write(l.Raw)
			if !bytes.HasSuffix(l.Raw, []byte("\n")) {
				w.WriteByte('\n')
			}
		})
		if err == nil {
			err = w.Flush()
		}
		if err == nil {
			err = tmp.Sync()
		}
		tmp.Close()
		if err != nil {
			return err
		}
	}
	if err := again.Close(); err != nil {
		return err
	}
	// Swap the files in. If the collector appended meanwhile, keep everything.
	for _, rw := range rewrites {
		if rw.tmp == "" {
			continue
		}
		if st, err := os.Stat(rw.path); err != nil || st.Size() != rw.size || !st.ModTime().Equal(rw.mod) {
			return fmt.Errorf("%s changed while replaying (is the collector running?); it was left as it was — the replayed records may now be delivered twice", rw.path)
		}
	}
	// The refused-again records join the current file's rewrite.
	refusedBytes, err := os.ReadFile(again.Path())
	if err != nil {
		return err
	}
	refused := bytes.Count(refusedBytes, []byte("\n"))
	if refused > 0 {
		if len(rewrites) == 0 || rewrites[len(rewrites)-1].path != path {
			tmp, err := os.CreateTemp(c.StateDir, ".replay-keep-*")
			if err != nil {
				return err
			}
			tmp.Close()
			defer os.Remove(tmp.Name())
			rewrites = append(rewrites, rewrite{path: path, tmp: tmp.Name()})
		}
		f, err := os.OpenFile(rewrites[len(rewrites)-1].tmp, os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		_, err = f.Write(refusedBytes)
		if err == nil {
			err = f.Sync()
		}
		f.Close()
		if err != nil {
			return err
		}
	}
	for _, rw := range rewrites {
		st, err := os.Stat(rw.tmp)
		if err != nil {
			return err
		}
		if st.Size() == 0 && rw.path != path {
			if err := os.Remove(rw.path); err != nil {
				return err
			}
			continue
		}
		if err := os.Chmod(rw.tmp, 0o600); err != nil {
			return err
		}
		if err := os.Rename(rw.tmp, rw.path); err != nil {
			return err
		}
	}
	if d, err := os.Open(c.StateDir); err == nil {
		d.Sync()
		d.Close()
	}
	n := refused
	fmt.Fprintf(a.stdout, "replayed %d record(s) from %s: %d refused again (kept with the new reason), %d not replayed (other sinks)", delivered, path, n, skipped)
	if len(damaged) > 0 {
		fmt.Fprintf(a.stdout, ", %d damaged line(s) skipped and kept", len(damaged))
	}
	fmt.Fprintln(a.stdout)
	for _, d := range damaged {
		fmt.Fprintf(a.stderr, "damaged dead-letter line: %s\n", d)
	}
	if n > 0 {
		return fmt.Errorf("%d record(s) were refused again: see %s", n, path)
	}
	if len(damaged) > 0 {
		return fmt.Errorf("%d damaged dead-letter line(s) could not be replayed (kept in place, listed above)", len(damaged))
	}
	return nil
}
