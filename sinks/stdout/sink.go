package stdout

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
)

// Sink writes lines to W (os.Stdout by default).
type Sink struct {
	W   io.Writer
	enc encoding.Encoder
	mu  sync.Mutex
	buf []byte
}

// New builds the sink.
func New(name string, c Config, log *slog.Logger) (*Sink, error) {
	enc, err := encoding.New(c.Format, encoding.Options{CEFStrict: c.CEFStrict, OCSF: c.OCSF, LEEF: c.LEEF})
	if err != nil {
		return nil, fmt.Errorf("format: %w", err)
	}
	return &Sink{W: os.Stdout, enc: enc}, nil
}

// Start does nothing: standard output is always there.
func (s *Sink) Start(ctx context.Context) error { return nil }

// Write writes the batch with one call.
func (s *Sink) Write(ctx context.Context, batch []*pipeline.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var be pipeline.BatchError
	buf := s.buf[:0]
	for i, r := range batch {
		n := len(buf)
		var err error
		if buf, err = s.enc.Append(buf, r); err != nil {
			buf = buf[:n]
			be.Add(i, pipeline.Permanent(err))
			continue
		}
		buf = append(buf, '\n')
	}
	s.buf = buf
	if _, err := s.W.Write(buf); err != nil {
		return fmt.Errorf("write to standard output: %w", err)
	}
	return be.ErrOrNil()
}

// Close does nothing.
func (s *Sink) Close() error { return nil }
