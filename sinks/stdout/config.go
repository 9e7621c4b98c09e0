// Package stdout writes one line per record to standard output, in any line
// format: for piping into another tool and for debugging.
package stdout

import (
	"github.com/sophos-connect/sophos-connect/config"
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
	// LEEF tunes format leef: version "2.0" (default) or "1.0".
	LEEF encoding.LEEFOptions `yaml:"leef"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{Format: "raw"} }

// Validate checks the format.
func (c *Config) Validate() error {
	if _, err := encoding.New(c.Format, encoding.Options{CEFStrict: c.CEFStrict, OCSF: c.OCSF, LEEF: c.LEEF}); err != nil {
		return &config.FieldError{Key: "format", Msg: err.Error()}
	}
	return nil
}
