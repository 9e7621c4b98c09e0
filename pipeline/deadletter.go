package pipeline

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// DeadLetter is the NDJSON file of records that a sink rejected for good or a
// stage failed on. Each line holds the record, who refused it and why, so
// nothing is ever dropped silently and `replay dlq` can send it again.
type DeadLetter struct {
	path string
	mu   sync.Mutex
	f    *os.File
	n    int
	buf  []byte
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

// OpenDeadLetter opens (creating) <dir>/dead-letter.ndjson for appending.
func OpenDeadLetter(dir string) (*DeadLetter, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := filepath.Join(dir, "dead-letter.ndjson")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open dead-letter file: %w", err)
	}
	return &DeadLetter{path: p, f: f}, nil
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
// dead-lettered record counts as delivered for the checkpoint.
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
			reason = reasons[i].Error()
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
	if _, err := d.f.Write(b); err != nil {
		return fmt.Errorf("write dead-letter file %s: %w", d.path, err)
	}
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("sync dead-letter file %s: %w", d.path, err)
	}
	d.n += len(recs)
	return nil
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
	return d.f.Close()
}

// ReadDeadLetters reads every entry of a dead-letter file.
func ReadDeadLetters(path string, fn func(DeadLetterEntry) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	line := 0
	for {
		b, err := r.ReadBytes('\n')
		if len(b) > 0 {
			line++
			var e DeadLetterEntry
			if jerr := json.Unmarshal(b, &e); jerr != nil {
				return fmt.Errorf("%s:%d: %w", path, line, jerr)
			}
			if ferr := fn(e); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
