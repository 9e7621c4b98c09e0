package file

import (
	"fmt"
	"github.com/sophos-connect/sophos-connect/config"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// handle is what both file sinks keep: the open file, its lock and its
// rotation policy.
type handle struct {
	name string // the sink's name, for messages
	path string
	log  *slog.Logger
	mu   sync.Mutex
	f    *os.File
	fi   os.FileInfo // f's identity when opened, to notice a rename
	rot  rotator
	mode os.FileMode // of files created
}

// mustMode is the FileMode a validated config names.
func mustMode(m config.FileMode) os.FileMode {
	mode, err := m.Mode()
	if err != nil {
		return 0o640
	}
	return mode
}

// openFile creates the directory and opens the file for reading and
// appending. O_APPEND: every write lands at the current end even after an
// external truncation (logrotate's copytruncate), so no NUL-filled hole
// can appear before it.
func (h *handle) openFile() (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(h.path), 0o755); err != nil {
		return nil, fmt.Errorf("sink %s: cannot create the directory of %s: %w", h.name, h.path, err)
	}
	f, err := os.OpenFile(h.path, os.O_CREATE|os.O_RDWR|os.O_APPEND, h.mode)
	if err != nil {
		return nil, fmt.Errorf("sink %s: cannot open %s: %w — check the path and permissions", h.name, h.path, err)
	}
	h.fi, _ = f.Stat()
	return f, nil
}

// checkLocked runs before each batch. It reports whether the file at path is
// no longer the one open (renamed or removed by logrotate's create mode, or
// replaced) — the caller reopens — and otherwise the open file's size, which
// the caller compares with what it wrote to notice a truncation.
func (h *handle) checkLocked() (moved bool, size int64) {
	cur, err := os.Stat(h.path)
	if err != nil || h.fi == nil || !os.SameFile(cur, h.fi) {
		return true, 0
	}
	return false, fileSize(h.f)
}

// Reopen closes the file; the next batch opens the path again (SIGHUP after
// an external rotation).
func (h *handle) Reopen() error { return h.Close() }

// rotateLocked closes the file, moves it aside and reopens with reopen.
func (h *handle) rotateLocked(reopen func() error) error {
	if err := h.f.Close(); err != nil {
		return err
	}
	h.f = nil
	dst, err := h.rot.rotate()
	if err != nil {
		return err
	}
	h.log.Info(fmt.Sprintf("sink %s: rotated %s to %s", h.name, h.path, dst))
	return reopen()
}

// Close closes the file.
func (h *handle) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.f == nil {
		return nil
	}
	err := h.f.Close()
	h.f = nil
	return err
}

// rotator decides when to rotate and moves files out of the way.
type rotator struct {
	path   string
	cfg    Rotate
	opened time.Time
	now    func() time.Time
}

// due reports whether writing n more bytes to a file of size size should
// start a new file first.
func (r *rotator) due(size, n int64) bool {
	if !r.cfg.enabled() || size == 0 {
		return false
	}
	if r.cfg.MaxBytes > 0 && size+n > int64(r.cfg.MaxBytes) {
		return true
	}
	return r.cfg.MaxAge > 0 && r.now().Sub(r.opened) >= r.cfg.MaxAge.D()
}

// rotate renames the current file to a timestamped name and prunes old ones.
func (r *rotator) rotate() (string, error) {
	stamp := r.now().UTC().Format("20060102T150405Z")
	dst := rotatedName(r.path, stamp)
	for i := 1; ; i++ {
		if _, err := os.Stat(dst); os.IsNotExist(err) {
			break
		}
		dst = rotatedName(r.path, fmt.Sprintf("%s.%d", stamp, i))
	}
	if err := os.Rename(r.path, dst); err != nil {
		return "", fmt.Errorf("rotate %s: %w", r.path, err)
	}
	r.opened = r.now()
	return dst, r.prune()
}

// prune keeps the newest cfg.Keep rotated files.
func (r *rotator) prune() error {
	if r.cfg.Keep <= 0 {
		return nil
	}
	ext := filepath.Ext(r.path)
	prefix := strings.TrimSuffix(r.path, ext) + "-"
	matches, err := filepath.Glob(globEscape(prefix) + "*" + globEscape(ext))
	if err != nil {
		return err
	}
	var rotated []string
	for _, m := range matches {
		stamp := strings.TrimSuffix(strings.TrimPrefix(m, prefix), ext)
		if len(stamp) >= 16 && stamp[8] == 'T' {
			rotated = append(rotated, m)
		}
	}
	sort.Strings(rotated) // timestamps sort chronologically
	for len(rotated) > r.cfg.Keep {
		if err := os.Remove(rotated[0]); err != nil && !os.IsNotExist(err) {
			return err
		}
		rotated = rotated[1:]
	}
	return nil
}

func globEscape(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
	return r.Replace(s)
}
