package collector

import (
	"bufio"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/buffer"
	"github.com/sophos-connect/sophos-connect/status"
)

// OfflineStatus builds the status document from the state dir alone: the
// committed checkpoints, the dead-letter file's count per sink and the disk
// buffers' sizes. Nothing is created or locked: it only reads.
func OfflineStatus(c *config.Config, streams []pipeline.Stream, version string, now time.Time) (status.Status, error) {
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
	as, err := Assemble(c, streams, nil, true)
	if err != nil {
		return status.Status{}, ConfigError{err}
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
	orphans, err := FindOrphans(c)
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
