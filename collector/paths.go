package collector

import (
	"path/filepath"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/seed"
	"github.com/sophos-connect/sophos-connect/sinks"
)

// OutputPath is one place the collector writes to, for `validate`.
type OutputPath struct {
	What string // "state_dir", "log file", "sink NAME"
	Path string // absolute
	Dir  string // the directory that must be writable
}

// OutputPaths lists every place a run writes: the state directory, the log
// file and each file sink's file (all already absolute: config.Load
// resolves them against the config file's directory).
func OutputPaths(c *config.Config, streams []pipeline.Stream) []OutputPath {
	out := []OutputPath{{What: "state_dir", Path: c.StateDir, Dir: c.StateDir}}
	if lf := seed.LogFilePath(c); lf != "" {
		out = append(out, OutputPath{What: "log file", Path: lf, Dir: filepath.Dir(lf)})
	}
	for _, s := range append(seed.Sinks(c, streams), c.Sinks...) {
		for _, p := range sinks.Paths(s) {
			out = append(out, OutputPath{What: "sink " + s.Name, Path: p, Dir: filepath.Dir(p)})
		}
	}
	return out
}
