// Package file holds the file sinks: `txt` (one line per record in any
// line format — the seed's bracketed lines by default) and `json` (the seed's
// JSON array file, appended in place, or NDJSON lines). Both fsync each batch
// before it counts as delivered, repair a torn tail after a crash, and rotate
// by size and age.
package file

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
)

// Rotate says when a file is closed and a new one started.
type Rotate struct {
	MaxBytes config.ByteSize `yaml:"max_bytes"` // 0 = no size limit
	MaxAge   config.Duration `yaml:"max_age"`   // 0 = no age limit (age counts from when this process opened the file)
	Keep     int             `yaml:"keep"`      // rotated files kept; 0 = keep all
}

func (r Rotate) enabled() bool { return r.MaxBytes > 0 || r.MaxAge > 0 }

// String describes the rotation for `validate` ("" when off).
func (r Rotate) String() string {
	if !r.enabled() {
		return ""
	}
	return fmt.Sprintf(" rotate=max_bytes:%d,max_age:%s,keep:%d", r.MaxBytes, r.MaxAge, r.Keep)
}

// Validate checks the rotation settings.
func (r Rotate) Validate() error {
	if r.MaxBytes < 0 || r.MaxAge < 0 || r.Keep < 0 {
		return fmt.Errorf("rotate: max_bytes, max_age and keep must not be negative")
	}
	if r.Keep > 100000 {
		return fmt.Errorf("rotate: keep %d: use at most 100000 rotated files (0 = keep all)", r.Keep)
	}
	return nil
}

// TxtConfig configures a line file.
type TxtConfig struct {
	// Path is the file to append to (relative paths resolve beside the config file).
	Path   string `yaml:"path"`
	Format string `yaml:"format"` // txt (default) | cef | keyvalue | official-json | ecs | raw
	// CEFStrict escapes newlines in the cef format, as the CEF specification requires (default false).
	CEFStrict bool `yaml:"cef_strict"`
	// OCSF tunes format ocsf: raw_data: true keeps the API item in raw_data.
	OCSF encoding.OCSFOptions `yaml:"ocsf"`
	// Rotate closes the file and starts a new one at a size or age.
	Rotate Rotate `yaml:"rotate"`
	// Sync fsyncs after every batch (default true): a record is delivered
	// only once it is on disk.
	Sync *bool `yaml:"sync"`
	// FileMode is the permission of files this sink creates, octal (default: the top-level file_mode, 0640).
	FileMode config.FileMode `yaml:"file_mode"`
}

// DefaultTxtConfig returns the defaults.
func DefaultTxtConfig() TxtConfig { return TxtConfig{Format: "txt"} }

// Validate checks the settings.
func (c *TxtConfig) Validate() error {
	if strings.TrimSpace(c.Path) == "" {
		return fmt.Errorf("path: missing: the file to write, e.g. /var/log/sophos/alerts.log")
	}
	if _, err := c.FileMode.Mode(); err != nil {
		return err
	}
	if _, err := encoding.New(c.Format, c.encodingOptions()); err != nil {
		return fmt.Errorf("format: %w", err)
	}
	return c.Rotate.Validate()
}

// JSONConfig configures a JSON file.
type JSONConfig struct {
	// Path is the file to append to (relative paths resolve beside the config file).
	Path string `yaml:"path"`
	// Layout is array (the seed's file: one JSON array, appended in place)
	// or lines (NDJSON).
	Layout string `yaml:"layout"`
	// Format of each element. Empty means: for array, the API item exactly
	// as received (the seed's file); for lines, raw (item + datastream +
	// tenant_id). Any JSON format works: raw, ecs, official-json, and
	// python-json (the item as the seed's Python json.dump wrote it: the
	// seed's json file sinks use it), ocsf.
	Format string `yaml:"format"`
	// OCSF tunes format ocsf: raw_data: true keeps the API item in raw_data.
	OCSF encoding.OCSFOptions `yaml:"ocsf"`
	// Rotate closes the file and starts a new one at a size or age.
	Rotate Rotate `yaml:"rotate"`
	// Sync fsyncs after every batch (default true): a record is delivered
	// only once it is on disk.
	Sync *bool `yaml:"sync"`
	// FileMode is the permission of files this sink creates, octal (default: the top-level file_mode, 0640).
	FileMode config.FileMode `yaml:"file_mode"`
}

// DefaultJSONConfig returns the defaults.
func DefaultJSONConfig() JSONConfig { return JSONConfig{Layout: "array"} }

// Validate checks the settings.
func (c *JSONConfig) Validate() error {
	if strings.TrimSpace(c.Path) == "" {
		return fmt.Errorf("path: missing: the file to write, e.g. /var/log/sophos/events.json")
	}
	if _, err := c.FileMode.Mode(); err != nil {
		return err
	}
	switch c.Layout {
	case "array", "lines":
	default:
		return fmt.Errorf("layout: %q: use array (the seed's JSON file) or lines (NDJSON)", c.Layout)
	}
	switch c.Format {
	case "", "raw", "ecs", "official-json", "python-json":
	default:
		return fmt.Errorf("format: %q is not a JSON format: use raw, ecs, official-json or python-json (the seed's json.dump bytes), or leave it empty for the items as received", c.Format)
	}
	return c.Rotate.Validate()
}

func syncOn(p *bool) bool { return p == nil || *p }

// rotatedName inserts a UTC timestamp before the extension:
// sophos_events.json -> sophos_events-20261126T210501Z.json.
func rotatedName(path, stamp string) string {
	ext := filepath.Ext(path)
	base := strings.TrimSuffix(path, ext)
	return base + "-" + stamp + ext
}

// encodingOptions are the encoder options the line sink's keys set.
func (c *TxtConfig) encodingOptions() encoding.Options {
	return encoding.Options{CEFStrict: c.CEFStrict, OCSF: c.OCSF}
}
