package collector

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

// ReplayOptions configure Replay.
type ReplayOptions struct {
	Sink     string // replay only the records this sink refused ("" = all)
	Attempts int    // attempts per record before it stays in the file
	Log      *slog.Logger
}

// ReplayResult is what Replay did.
type ReplayResult struct {
	Path      string // the current dead-letter file
	Empty     bool   // there were no dead letters: nothing was done
	Delivered int    // records delivered (they left the file)
	Refused   int    // records refused again (kept, with the new reason)
	Skipped   int    // records of other sinks (kept as they were)
	Damaged   []string
}

// UnknownSinkError is a -sink that names no configured sink.
type UnknownSinkError struct{ Name, File string }

func (e *UnknownSinkError) Error() string {
	return fmt.Sprintf("replay: no sink named %q in %s", e.Name, e.File)
}

// Replay sends the dead-letter file's records again once the cause is
// fixed: each record goes back to the sink that refused it or, for a stage
// failure, through the stages (pipeline.RunStages, as a run applies them)
// to every sink that routes it. Delivered records leave the file; records
// refused again stay, with the new reason. Run it while the collector is
// stopped: it takes the state directory's lock.
func Replay(ctx context.Context, c *config.Config, o ReplayOptions) (ReplayResult, error) {
	res := ReplayResult{Path: filepath.Join(c.StateDir, pipeline.DeadLetterName)}
	lock, err := pipeline.LockStateDir(c.StateDir, "replay dlq")
	if err != nil {
		return res, err
	}
	defer lock.Unlock()
	files, err := pipeline.DeadLetterFiles(c.StateDir)
	if err != nil {
		return res, err
	}
	var total int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			total += st.Size()
		}
	}
	if total == 0 {
		res.Empty = true
		return res, nil
	}
	as, err := Assemble(c, EnabledStreams(c, nil), o.Log, false) // every configured stream's sinks, the seed's files included
	if err != nil {
		return res, ConfigError{err}
	}
	defer as.Close()
	rp := &replayer{as: as, o: o, res: &res, bySink: map[string]*pipeline.SinkSpec{}}
	for i := range as.Sinks {
		rp.bySink[as.Sinks[i].Name] = &as.Sinks[i]
	}
	if o.Sink != "" && rp.bySink[o.Sink] == nil {
		return res, &UnknownSinkError{Name: o.Sink, File: c.File}
	}
	if err := as.startOnce(ctx, true, false, nil, o.Log); err != nil {
		return res, err
	}
	// Records refused again are collected in a new file; each dead-letter
	// file is streamed, the lines it keeps go to a temp file beside it, and
	// only when every file was read are the temp files swapped in.
	tmpDir, err := os.MkdirTemp(c.StateDir, ".replay-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmpDir)
	if rp.again, err = pipeline.OpenDeadLetter(tmpDir); err != nil {
		return res, err
	}
	defer rp.again.Close()
	var rewrites []rewrite
	defer func() {
		for _, rw := range rewrites {
			os.Remove(rw.tmp) // after the rename: nothing
		}
	}()
	for _, f := range files {
		rw, err := rp.replayFile(ctx, c.StateDir, f)
		if rw.tmp != "" {
			rewrites = append(rewrites, rw)
		}
		if err != nil {
			return res, err
		}
	}
	if err := rp.again.Close(); err != nil {
		return res, err
	}
	rewrites, err = rp.keepRefused(c.StateDir, res.Path, rewrites)
	if err != nil {
		return res, err
	}
	return res, swapIn(c.StateDir, res.Path, rewrites)
}

// replayer replays the records of the dead-letter files.
type replayer struct {
	as     *Assembly
	o      ReplayOptions
	res    *ReplayResult
	bySink map[string]*pipeline.SinkSpec
	again  *pipeline.DeadLetter // the records refused again
}

// rewrite is a dead-letter file and the temp file of the lines it keeps.
type rewrite struct {
	path, tmp string
	size      int64
	mod       time.Time
}

// replayFile streams one dead-letter file, replaying its records; the lines
// it keeps (other sinks', damaged ones) go to a temp file beside it.
func (rp *replayer) replayFile(ctx context.Context, stateDir, f string) (rewrite, error) {
	st, err := os.Stat(f)
	if err != nil {
		return rewrite{}, err
	}
	tmp, err := os.CreateTemp(stateDir, ".replay-keep-*")
	if err != nil {
		return rewrite{}, err
	}
	rw := rewrite{path: f, tmp: tmp.Name(), size: st.Size(), mod: st.ModTime()}
	w := bufio.NewWriter(tmp)
	err = pipeline.ScanDeadLetters(f, func(e pipeline.DeadLetterEntry, raw []byte) error {
		keep, err := rp.replayOne(ctx, e)
		if keep {
			_, err = w.Write(raw)
		}
		return err
	}, func(l pipeline.DamagedLine) {
		// Kept as stored (never dropped), reported, and skipped.
		rp.res.Damaged = append(rp.res.Damaged, fmt.Sprintf("%s:%d (byte %d): %v", f, l.Line, l.Offset, l.Err))
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
	return rw, err
}

// replayOne delivers one dead-lettered record again; keep says its line
// stays in the file unchanged (another sink's record).
func (rp *replayer) replayOne(ctx context.Context, e pipeline.DeadLetterEntry) (keep bool, err error) {
	if (rp.o.Sink != "" && e.Sink != rp.o.Sink) || (e.Sink != "" && rp.bySink[e.Sink] == nil) {
		rp.res.Skipped++
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
		out, err := pipeline.RunStages(rp.as.Stages, []*pipeline.Record{&rec}, nil, pipeline.StageHooks{
			Refused: func(st *pipeline.StageSpec, r *pipeline.Record, serr error) error {
				return rp.again.Write("", st.Name, []*pipeline.Record{r}, []error{serr})
			},
		})
		if err != nil {
			return false, err
		}
		for _, r := range out {
			for _, s := range rp.as.Sinks {
				if s.Routes.Accepts(r) {
					targets[s.Name] = append(targets[s.Name], r)
				}
			}
		}
	}
	for name, recs := range targets {
		d := &pipeline.Deliverer{Name: name, Sink: rp.bySink[name].Sink, DeadLetter: rp.again, Log: rp.o.Log,
			Retry: pipeline.RetryPolicy{Initial: 200 * time.Millisecond, Max: 2 * time.Second, MaxAttempts: rp.o.Attempts}}
		if !d.Deliver(ctx, recs) {
			return false, ctx.Err()
		}
	}
	rp.res.Delivered++
	return false, nil
}

// keepRefused checks that no dead-letter file changed while replaying, then
// appends the refused-again records to the current file's rewrite.
func (rp *replayer) keepRefused(stateDir, path string, rewrites []rewrite) ([]rewrite, error) {
	// If the collector appended meanwhile, keep everything.
	for _, rw := range rewrites {
		if st, err := os.Stat(rw.path); err != nil || st.Size() != rw.size || !st.ModTime().Equal(rw.mod) {
			return rewrites, fmt.Errorf("%s changed while replaying (is the collector running?); it was left as it was — the replayed records may now be delivered twice", rw.path)
		}
	}
	refusedBytes, err := os.ReadFile(rp.again.Path())
	if err != nil {
		return rewrites, err
	}
	rp.res.Refused = bytes.Count(refusedBytes, []byte("\n"))
	if rp.res.Refused == 0 {
		return rewrites, nil
	}
	if len(rewrites) == 0 || rewrites[len(rewrites)-1].path != path {
		tmp, err := os.CreateTemp(stateDir, ".replay-keep-*")
		if err != nil {
			return rewrites, err
		}
		tmp.Close()
		rewrites = append(rewrites, rewrite{path: path, tmp: tmp.Name()})
	}
	f, err := os.OpenFile(rewrites[len(rewrites)-1].tmp, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return rewrites, err
	}
	_, err = f.Write(refusedBytes)
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	return rewrites, err
}

// swapIn renames the temp files over the dead-letter files (a rotated file
// left empty is removed) and syncs the directory.
func swapIn(stateDir, path string, rewrites []rewrite) error {
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
	if d, err := os.Open(stateDir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
