package pipeline

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sophos-connect/sophos-connect/internal/redact"

	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// DeadLetterName is the dead-letter file inside state_dir; rotated files are
// dead-letter-<UTC time>.ndjson beside it and are never deleted.
const DeadLetterName = "dead-letter.ndjson"

// DeadLetter is the NDJSON file of records that a sink rejected for good or a
// stage failed on. Each line holds the record, who refused it and why, so
// nothing is ever dropped silently and `replay dlq` can send it again.
type DeadLetter struct {
	path     string
	maxBytes int64
	mu       sync.Mutex
	f        dlFile
	size     int64 // bytes of complete lines in the file
	n        int
	buf      []byte
	// Repaired is the number of bytes of a torn last line (a write that
	// never completed) removed when the file was opened.
	Repaired int64
	// open replaces os.OpenFile in tests (a file that fails like a full disk).
	open func(path string) (dlFile, error)
}

// dlFile is what DeadLetter needs of *os.File.
type dlFile interface {
	io.Writer
	Sync() error
	Truncate(size int64) error
	Close() error
}

// DeadLetterOptions tune the file.
type DeadLetterOptions struct {
	// MaxBytes rotates the file before an append would make it larger (0 = never).
	MaxBytes int64
}

// DeadLetterEntry is one line of the dead-letter file.
type DeadLetterEntry struct {
	Time   time.Time       `json:"time"`
	Sink   string          `json:"sink,omitempty"`
	Stage  string          `json:"stage,omitempty"`
	Reason string          `json:"reason"`
	Stream Stream          `json:"stream"`
	Tenant string          `json:"tenant"`
	ID     string          `json:"id"`
	Record json.RawMessage `json:"record"`
}

// OpenDeadLetter opens (creating) <dir>/dead-letter.ndjson for appending. A
// last line without its newline is the remains of a write that never
// completed (so its page was never committed and will be pulled again): it
// is cut off, so every append starts on a fresh line.
func OpenDeadLetter(dir string, opts ...DeadLetterOptions) (*DeadLetter, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	d := &DeadLetter{path: filepath.Join(dir, DeadLetterName), open: openAppend}
	for _, o := range opts {
		d.maxBytes = o.MaxBytes
	}
	if err := d.reopen(); err != nil {
		return nil, err
	}
	return d, nil
}

func openAppend(path string) (dlFile, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
}

// reopen opens the current file and cuts a torn last line.
func (d *DeadLetter) reopen() error {
	good, size, err := completeLength(d.path)
	if err != nil {
		return fmt.Errorf("open dead-letter file: %w", err)
	}
	f, err := d.open(d.path)
	if err != nil {
		return fmt.Errorf("open dead-letter file: %w", err)
	}
	if good < size {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return fmt.Errorf("dead-letter file %s: cut the torn last line: %w", d.path, err)
		}
		d.Repaired += size - good
	}
	d.f, d.size = f, good
	return nil
}

// completeLength is the length of path up to and including its last newline,
// and its size (0, 0 when absent).
func completeLength(path string) (good, size int64, err error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	size = st.Size()
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		start := max(0, end-int64(len(buf)))
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return start + int64(i) + 1, size, nil
		}
		end = start
	}
	return 0, size, nil
}

// Path is the dead-letter file.
func (d *DeadLetter) Path() string { return d.path }

// Count is the number of records written by this process.
func (d *DeadLetter) Count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}

// Write appends the records with the reason and fsyncs before returning: a
// dead-lettered record counts as delivered for the checkpoint. A failed
// write is cut back off the file, so the file only ever holds whole lines;
// the caller must hold the records' page back until a Write succeeds.
func (d *DeadLetter) Write(sink, stage string, recs []*Record, reasons []error) error {
	if len(recs) == 0 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.buf[:0]
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for i, r := range recs {
		reason := "rejected"
		if i < len(reasons) && reasons[i] != nil {
			reason = redact.String(reasons[i].Error())
		}
		b = append(b, `{"time":`...)
		b = rawjson.AppendString(b, now)
		if sink != "" {
			b = append(b, `,"sink":`...)
			b = rawjson.AppendString(b, sink)
		}
		if stage != "" {
			b = append(b, `,"stage":`...)
			b = rawjson.AppendString(b, stage)
		}
		b = append(b, `,"reason":`...)
		b = rawjson.AppendString(b, reason)
		b = append(b, `,"stream":`...)
		b = rawjson.AppendString(b, string(r.Stream))
		b = append(b, `,"tenant":`...)
		b = rawjson.AppendString(b, r.Tenant)
		b = append(b, `,"id":`...)
		b = rawjson.AppendString(b, r.ID)
		b = append(b, `,"record":`...)
		if rawjson.Valid(r.Raw) {
			b = appendCompact(b, r.Raw)
		} else {
			b = rawjson.AppendString(b, string(r.Raw))
		}
		b = append(b, "}\n"...)
	}
	d.buf = b
	if err := d.rotateFor(int64(len(b))); err != nil {
		return err
	}
	if d.f == nil {
		if err := d.reopen(); err != nil {
			return err
		}
	}
	_, err := d.f.Write(b)
	if err == nil {
		err = d.f.Sync()
	}
	if err != nil {
		// Cut whatever part of b reached the file: the next append
		// starts on a fresh line and no line is torn.
		if terr := d.f.Truncate(d.size); terr != nil {
			d.f.Close()
			d.f = nil // reopen (and cut) before the next write
		}
		return fmt.Errorf("write dead-letter file %s: %w", d.path, err)
	}
	d.size += int64(len(b))
	d.n += len(recs)
	return nil
}

// rotateFor moves the current file aside when n more bytes would pass
// MaxBytes. Rotated files are kept: nothing dead-lettered is ever dropped.
func (d *DeadLetter) rotateFor(n int64) error {
	if d.maxBytes <= 0 || d.size == 0 || d.size+n <= d.maxBytes {
		return nil
	}
	if d.f != nil {
		if err := d.f.Close(); err != nil {
			return fmt.Errorf("rotate dead-letter file %s: %w", d.path, err)
		}
		d.f = nil
	}
	dir := filepath.Dir(d.path)
	stamp := time.Now().UTC().Format("20060102T150405.000000000Z")
	to := filepath.Join(dir, "dead-letter-"+stamp+".ndjson")
	if err := os.Rename(d.path, to); err != nil {
		return fmt.Errorf("rotate dead-letter file %s: %w", d.path, err)
	}
	d.size = 0 // the current file is a new one now, even if opening it fails
	syncDir(dir)
	return d.reopen()
}

func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}

// DeadLetterFiles lists the dead-letter files of a state dir, oldest first:
// the rotated ones in time order, then the current one (if present).
func DeadLetterFiles(dir string) ([]string, error) {
	rotated, err := filepath.Glob(filepath.Join(dir, "dead-letter-*.ndjson"))
	if err != nil {
		return nil, err
	}
	sort.Strings(rotated)
	cur := filepath.Join(dir, DeadLetterName)
	if _, err := os.Stat(cur); err == nil {
		rotated = append(rotated, cur)
	}
	return rotated, nil
}

// appendCompact appends JSON without newlines (raw items may be pretty-printed).
func appendCompact(dst, src []byte) []byte {
	inStr, esc := false, false
	for _, c := range src {
		if inStr {
			dst = append(dst, c)
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case ' ', '\n', '\r', '\t':
			continue
		case '"':
			inStr = true
		}
		dst = append(dst, c)
	}
	return dst
}

// Close closes the file.
func (d *DeadLetter) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f = nil
	return err
}

// DamagedLine is a dead-letter line that is not a valid entry.
type DamagedLine struct {
	Line   int    // 1-based
	Offset int64  // byte offset of the line in the file
	Raw    []byte // the line as stored, with its newline if it had one
	Err    error
}

func (l DamagedLine) String() string {
	return fmt.Sprintf("line %d (byte %d): %v", l.Line, l.Offset, l.Err)
}

// ReadDeadLetters streams every entry of a dead-letter file; damaged lines
// are skipped and reported in the error returned at the end.
func ReadDeadLetters(path string, fn func(DeadLetterEntry) error) error {
	var bad []DamagedLine
	err := ScanDeadLetters(path, func(e DeadLetterEntry, _ []byte) error { return fn(e) }, func(l DamagedLine) { bad = append(bad, l) })
	if err == nil && len(bad) > 0 {
		err = fmt.Errorf("%d damaged line(s) skipped: %s", len(bad), DamagedSummary(path, bad))
	}
	return err
}

// ScanDeadLetters streams the entries of a dead-letter file, one line at a
// time. A damaged line (a torn write, a hand edit) does not stop the read:
// it goes to damaged (when not nil) and reading goes on. raw is the line as
// stored, for callers that rewrite the file.
func ScanDeadLetters(path string, fn func(e DeadLetterEntry, raw []byte) error, damaged func(DamagedLine)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	line := 0
	var off int64
	for {
		b, err := r.ReadBytes('\n')
		if len(b) > 0 {
			line++
			var e DeadLetterEntry
			trimmed := bytes.TrimSpace(b)
			if len(trimmed) > 0 {
				jerr := json.Unmarshal(trimmed, &e)
				if jerr == nil && (e.Stream == "" || len(e.Record) == 0) {
					jerr = errors.New("not a dead-letter entry (no stream or record)")
				}
				if jerr != nil {
					if damaged != nil {
						damaged(DamagedLine{Line: line, Offset: off, Raw: b, Err: jerr})
					}
				} else if ferr := fn(e, b); ferr != nil {
					return ferr
				}
			}
			off += int64(len(b))
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
}

// DamagedSummary lists damaged lines for a message (at most 5 shown).
func DamagedSummary(path string, lines []DamagedLine) string {
	var parts []string
	for i, l := range lines {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(lines)-5))
			break
		}
		parts = append(parts, l.String())
	}
	return path + ": " + strings.Join(parts, "; ")
}
