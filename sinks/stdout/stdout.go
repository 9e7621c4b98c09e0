// Package stdout writes one line per record to standard output, in any line
// format: for piping into another tool and for debugging.
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

// Config configures the sink.
type Config struct {
	// Format is the line encoder (default raw).
	Format string `yaml:"format"`
	// CEFStrict escapes newlines in the cef format, as the CEF specification requires (default false).
	CEFStrict bool `yaml:"cef_strict"`
	// OCSF tunes format ocsf: raw_data: true keeps the API item in raw_data.
	OCSF encoding.OCSFOptions `yaml:"ocsf"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{Format: "raw"} }

// Validate checks the format.
func (c *Config) Validate() error {
	if _, err := encoding.New(c.Format, encoding.Options{CEFStrict: c.CEFStrict, OCSF: c.OCSF}); err != nil {
		return fmt.Errorf("format: %w", err)
	}
	return nil
}

// Sink writes lines to W (os.Stdout by default).
type Sink struct {
	W   io.Writer
	enc encoding.Encoder
	mu  sync.Mutex
	buf []byte
}

// New builds the sink.
func New(name string, c Config, log *slog.Logger) (*Sink, error) {
	enc, err := encoding.New(c.Format, encoding.Options{CEFStrict: c.CEFStrict, OCSF: c.OCSF})
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
