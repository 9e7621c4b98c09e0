package file

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
)

// TxtSink appends one line per record.
type TxtSink struct {
	handle
	cfg  TxtConfig
	enc  encoding.Encoder
	size int64
	buf  []byte
}

// NewTxt builds a line-file sink.
func NewTxt(name string, c TxtConfig, log *slog.Logger) (*TxtSink, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	enc, err := encoding.New(c.Format, c.encodingOptions())
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &TxtSink{handle: handle{name: name, path: c.Path, log: log, mode: mustMode(c.FileMode), rot: rotator{path: c.Path, cfg: c.Rotate, now: time.Now}}, cfg: c, enc: enc}, nil
}

// Start opens the file (creating its directory) and cuts a torn last line
// left by a crash: that line's page was never acknowledged, so it will be
// written again whole.
func (s *TxtSink) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open()
}

func (s *TxtSink) open() error {
	f, err := s.openFile()
	if err != nil {
		return err
	}
	size, err := repairLines(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("sink %s: %s: %w", s.name, s.cfg.Path, err)
	}
	if cut := fileSize(f) - size; cut > 0 {
		s.log.Error(fmt.Sprintf("sink %s: %s ended with a partial line from an interrupted write; cut %d bytes (the records will be written again)", s.name, s.cfg.Path, cut))
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	s.f, s.size = f, size
	s.rot.opened = time.Now()
	return nil
}

func fileSize(f *os.File) int64 {
	st, err := f.Stat()
	if err != nil {
		return 0
	}
	return st.Size()
}

// repairLines returns the length of f up to and including its last newline.
func repairLines(f *os.File) (int64, error) {
	size := fileSize(f)
	if size == 0 {
		return 0, nil
	}
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	for end := size; end > 0; {
		start := max(end-chunk, 0)
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && err != io.EOF {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}

// Write encodes the batch, appends it with one write and fsyncs.
func (s *TxtSink) Write(ctx context.Context, batch []*pipeline.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ensureOpen(); err != nil {
		return err
	}
	var be pipeline.BatchError
	buf := s.buf[:0]
	for i, r := range batch {
		n := len(buf)
		var err error
		buf, err = s.enc.Append(buf, r)
		if err != nil {
			buf = buf[:n]
			be.Add(i, pipeline.Permanent(fmt.Errorf("encode %s: %w", s.cfg.Format, err)))
			continue
		}
		buf = append(buf, '\n')
	}
	s.buf = buf
	if s.rot.due(s.size, int64(len(buf))) {
		if err := s.rotateLocked(); err != nil {
			return err
		}
	}
	if _, err := s.f.Write(buf); err != nil {
		// Cut whatever part was written so the retry starts clean.
		s.f.Truncate(s.size)
		return fmt.Errorf("write %s: %w", s.cfg.Path, err)
	}
	if syncOn(s.cfg.Sync) {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", s.cfg.Path, err)
		}
	}
	s.size += int64(len(buf))
	if cap(s.buf) > 8<<20 {
		s.buf = nil // do not keep a huge buffer around
	}
	return be.ErrOrNil()
}

// ensureOpen opens the file when it is closed (start-up failed, SIGHUP) or
// was renamed away, and follows a truncation (copytruncate): the next lines
// start the truncated file again.
func (s *TxtSink) ensureOpen() error {
	if s.f != nil {
		moved, size := s.checkLocked()
		switch {
		case moved:
			s.log.Info(fmt.Sprintf("sink %s: %s was moved away (rotated); writing a new file", s.name, s.cfg.Path))
			s.f.Close()
			s.f = nil
		case size < s.size:
			s.log.Info(fmt.Sprintf("sink %s: %s was truncated (copytruncate?) from %d to %d bytes; appending from there", s.name, s.cfg.Path, s.size, size))
			s.f.Close()
			s.f = nil
		}
	}
	if s.f == nil {
		return s.open()
	}
	return nil
}

func (s *TxtSink) rotateLocked() error { return s.handle.rotateLocked(s.open) }
