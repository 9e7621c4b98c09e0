package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
)

// NewJSON builds a json sink: the seed's array file, or NDJSON lines (a line
// file with a JSON format).
func NewJSON(name string, c JSONConfig, log *slog.Logger) (pipeline.Sink, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if c.Layout == "lines" {
		format := c.Format
		if format == "" {
			format = "raw"
		}
		return NewTxt(name, TxtConfig{Path: c.Path, Format: format, OCSF: c.OCSF, Rotate: c.Rotate, Sync: c.Sync, FileMode: c.FileMode}, log)
	}
	var enc encoding.Encoder
	if c.Format != "" {
		var err error
		if enc, err = encoding.New(c.Format, encoding.Options{OCSF: c.OCSF}); err != nil {
			return nil, err
		}
	}
	return &ArraySink{handle: handle{name: name, path: c.Path, log: log, mode: mustMode(c.FileMode), rot: rotator{path: c.Path, cfg: c.Rotate, now: time.Now}}, cfg: c, enc: enc}, nil
}

// ArraySink keeps the seed's JSON file: one JSON array of API items. A batch
// is appended in place — the closing bracket is overwritten by ", item, …]" in
// one write — so the cost is O(batch), never a rewrite of the whole file, and
// the file is a valid array at every moment except during that write. After
// a crash during it, Start cuts the torn element and closes the array again.
type ArraySink struct {
	handle
	cfg   JSONConfig
	enc   encoding.Encoder // nil: the item as received
	end   int64            // offset of the closing ']'
	empty bool             // the array has no element yet
	buf   []byte
	item  []byte
	// testHook runs before the cut ("cut") and before the append
	// ("append"): tests truncate the file there, as copytruncate could.
	testHook func(stage string)
}

// Start opens (or creates) the file and repairs it if a crash tore a write.
func (s *ArraySink) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open()
}

func (s *ArraySink) open() error {
	f, err := s.openFile()
	if err != nil {
		return err
	}
	end, empty, repaired, err := openArray(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("sink %s: %s: %w", s.name, s.cfg.Path, err)
	}
	if repaired != "" {
		s.log.Error(fmt.Sprintf("sink %s: repaired %s: %s (the records of that write will be written again)", s.name, s.cfg.Path, repaired))
	}
	s.f, s.end, s.empty = f, end, empty
	s.rot.opened = time.Now()
	return nil
}

// openArray finds the closing bracket of the array in f, creating "[]" in an
// empty file and repairing a torn tail. It returns the offset of ']', whether
// the array is empty, and a description of any repair.
func openArray(f *os.File) (end int64, empty bool, repaired string, err error) {
	size := fileSize(f)
	if size == 0 {
		if _, err := f.Write([]byte("[]")); err != nil {
			return 0, false, "", err
		}
		return 1, true, "", f.Sync()
	}
	// One streaming scan of the whole file checks its structure; only what
	// a torn append can leave (a file that stops after its last complete
	// element) is repaired, anything else is an error naming the offset.
	sc, err := scanArray(io.NewSectionReader(f, 0, size))
	if err != nil {
		return 0, false, "", err
	}
	if sc.closed {
		return sc.end, sc.n == 0, "", nil
	}
	if err := f.Truncate(sc.complete); err != nil {
		return 0, false, "", err
	}
	if _, err := f.Write([]byte("]")); err != nil { // O_APPEND: at sc.complete
		return 0, false, "", err
	}
	if err := f.Sync(); err != nil {
		return 0, false, "", err
	}
	return sc.complete, sc.n == 0, fmt.Sprintf("cut %d bytes of a torn write after element %d", size-sc.complete, sc.n), nil
}

// Write appends the batch in place and fsyncs.
func (s *ArraySink) Write(ctx context.Context, batch []*pipeline.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ensureOpen(); err != nil {
		return err
	}
	var be pipeline.BatchError
	buf := s.buf[:0]
	first := s.empty
	for i, r := range batch {
		item := r.Raw
		if s.enc != nil {
			var err error
			if s.item, err = s.enc.Append(s.item[:0], r); err != nil {
				be.Add(i, pipeline.Permanent(fmt.Errorf("encode %s: %w", s.cfg.Format, err)))
				continue
			}
			item = s.item
		} else if !rawjson.Valid(item) {
			be.Add(i, pipeline.Permanent(errors.New("the item is not valid JSON")))
			continue
		}
		if !first {
			buf = append(buf, ", "...)
		}
		first = false
		buf = appendOneLine(buf, item)
	}
	if len(buf) == 0 {
		return be.ErrOrNil()
	}
	buf = append(buf, ']')
	s.buf = buf
	if s.rot.due(s.end+1, int64(len(buf))) {
		if err := s.rotateLocked(); err != nil {
			return err
		}
		if buf[0] == ',' {
			buf = buf[2:] // the new array starts with this batch
		}
	}
	// Cut the closing bracket and append ", items…]" (the file is
	// O_APPEND, so the write lands at the cut).
	if s.testHook != nil {
		s.testHook("cut")
	}
	if err := s.f.Truncate(s.end); err != nil {
		return fmt.Errorf("write %s: %w", s.cfg.Path, err)
	}
	if s.testHook != nil {
		s.testHook("append")
	}
	if _, err := s.f.Write(buf); err != nil {
		s.restoreEnd()
		return fmt.Errorf("write %s: %w", s.cfg.Path, err)
	}
	end := s.end + int64(len(buf)) - 1
	// A copytruncate after the size check leaves the emptied file with NUL
	// bytes (the cut extended it) or a bare ", item…]" (it came after the
	// cut): either way the file starts with NUL or ',', so the array
	// starts again with this batch.
	var head [1]byte
	if n, _ := s.f.ReadAt(head[:], 0); n == 1 && (head[0] == 0 || head[0] == ',') {
		s.log.Info(fmt.Sprintf("sink %s: %s was truncated during a write (copytruncate?); starting a new JSON array", s.name, s.cfg.Path))
		fresh := append([]byte{'['}, bytes.TrimPrefix(buf, []byte(", "))...)
		if err := s.f.Truncate(0); err != nil {
			return fmt.Errorf("write %s: %w", s.cfg.Path, err)
		}
		if _, err := s.f.Write(fresh); err != nil {
			return fmt.Errorf("write %s: %w", s.cfg.Path, err)
		}
		end = int64(len(fresh)) - 1
	}
	if syncOn(s.cfg.Sync) {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", s.cfg.Path, err)
		}
	}
	s.end = end
	s.empty = false
	if cap(s.buf) > 8<<20 {
		s.buf = nil
	}
	return be.ErrOrNil()
}

// restoreEnd puts the array back to its last good state after a failed write.
func (s *ArraySink) restoreEnd() {
	if err := s.f.Truncate(s.end); err == nil {
		s.f.Write([]byte("]"))
	}
}

// ensureOpen opens the file when it is closed (start-up failed, SIGHUP) or
// was renamed away (logrotate's create mode: the new file starts a new
// array), and restarts the array in a file truncated under it
// (copytruncate): the next batch begins with "[" again, so the file never
// holds NUL bytes or a bare ", item]".
func (s *ArraySink) ensureOpen() error {
	if s.f != nil {
		moved, size := s.checkLocked()
		switch {
		case moved:
			s.log.Info(fmt.Sprintf("sink %s: %s was moved away (rotated); starting a new JSON array", s.name, s.cfg.Path))
			s.f.Close()
			s.f = nil
		case size < s.end+1:
			s.log.Info(fmt.Sprintf("sink %s: %s was truncated (copytruncate?) from %d to %d bytes; starting a new JSON array", s.name, s.cfg.Path, s.end+1, size))
			s.f.Close()
			s.f = nil
		}
	}
	if s.f == nil {
		return s.open()
	}
	return nil
}

// appendOneLine appends a JSON value with its newlines outside strings
// removed, so the array stays on one line as the seed's json.dump wrote it.
func appendOneLine(dst, v []byte) []byte {
	if bytes.IndexByte(v, '\n') < 0 {
		return append(dst, v...)
	}
	for _, c := range v {
		if c != '\n' && c != '\r' {
			dst = append(dst, c)
		}
	}
	return dst
}

func (s *ArraySink) rotateLocked() error { return s.handle.rotateLocked(s.open) }
