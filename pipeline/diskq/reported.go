package diskq

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// reportedFileName keeps the damaged spans that stay in their files
// (skipped in place, or entries found missing), so that the next Open
// marks them Repeat instead of counting the same loss again.
const reportedFileName = "reported.json"

type reportedSpan struct {
	Segment string `json:"segment"`
	Offset  int64  `json:"offset"`
	Bytes   int64  `json:"bytes"`
}

type reportedFile struct {
	Version int            `json:"version"`
	Spans   []reportedSpan `json:"spans"`
}

// markReported flags the damage an earlier Open reported, totals the rest
// and stores what is still on disk for the next Open.
func (q *Queue) markReported() error {
	path := filepath.Join(q.dir, reportedFileName)
	var old reportedFile
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(b, &old); err != nil {
			q.log.Warn("disk buffer: "+reportedFileName+" unreadable; damage is reported as new", "err", err)
			old = reportedFile{}
		}
	}

	live := map[string]bool{}
	for _, s := range q.segs {
		live[s.name] = true
	}
	rec := &q.rec
	rec.LostEntries, rec.LostBytes = 0, 0
	var keep []reportedSpan
	for i := range rec.Damage {
		d := &rec.Damage[i]
		key := reportedSpan{d.Segment, d.Offset, d.Bytes}
		d.Repeat = !d.Truncated && slices.Contains(old.Spans, key)
		if !d.Repeat {
			rec.LostEntries += d.Entries
			rec.LostBytes += d.Bytes
		}
		if !d.Truncated && live[d.Segment] {
			keep = append(keep, key)
		}
	}
	if slices.Equal(keep, old.Spans) {
		return nil
	}
	if len(keep) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	return writeFileAtomic(q.dir, reportedFileName, reportedFile{Version: 1, Spans: keep})
}

// writeFileAtomic replaces dir/name with v as JSON: temp file, fsync,
// rename, fsync of the directory.
func writeFileAtomic(dir, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, name+".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", name, err)
	}
	return syncDir(dir)
}
