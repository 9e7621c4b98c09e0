// Package encoding turns records into the bytes a destination receives. The
// encoders are shared by every sink.
package encoding

import (
	"github.com/sophos-connect/sophos-connect/pipeline"
)

// Encoder appends one record's encoding to dst and returns the extended
// buffer. Line-oriented sinks add their own line terminator; encoders never
// write one. Encoders keep no per-record state and are safe for one
// goroutine at a time (each sink owns its encoder).
type Encoder interface {
	Append(dst []byte, r *pipeline.Record) ([]byte, error)
}

// Options tune the official script's encoders.
type Options struct {
	// CEFStrict also escapes newlines and carriage returns in CEF values
	// (\n, \r) as the CEF specification requires; the official script does not.
	CEFStrict bool `yaml:"cef_strict"`
}

// Formats lists the accepted format names.
var Formats = []string{"raw", "ecs", "cef", "keyvalue", "official-json", "txt"}
