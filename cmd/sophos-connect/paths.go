package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

// outputPath is one place the collector writes to, for `validate`.
type outputPath struct {
	what string // "state_dir", "log file", "sink NAME"
	path string // absolute
	dir  string // the directory that must be writable
}

// outputPaths lists every place a run writes: the state directory, the log
// file and each file sink's file (all already absolute: config.Load
// resolves them against the config file's directory).
func outputPaths(c *config.Config, streams []pipeline.Stream) []outputPath {
	out := []outputPath{{what: "state_dir", path: c.StateDir, dir: c.StateDir}}
	if lf := logFilePath(c); lf != "" {
		out = append(out, outputPath{what: "log file", path: lf, dir: filepath.Dir(lf)})
	}
	for _, s := range append(seedSinks(c, streams), c.Sinks...) {
		if s.Type != "txt" && s.Type != "json" {
			continue
		}
		p, _ := s.Fields["path"].(string)
		if s.Node != nil {
			for i := 0; i+1 < len(s.Node.Content); i += 2 {
				if s.Node.Content[i].Value == "path" {
					p = s.Node.Content[i+1].Value
				}
			}
		}
		if p != "" {
			out = append(out, outputPath{what: "sink " + s.Name, path: p, dir: filepath.Dir(p)})
		}
	}
	return out
}

// checkOutputPaths prints each path with "ok" or the reason it cannot be
// written, and returns the errors.
func checkOutputPaths(w io.Writer, paths []outputPath) config.Errors {
	var errs config.Errors
	fmt.Fprintln(w, "\npaths (relative ones resolved against the config file's directory):")
	for _, p := range paths {
		status := "ok"
		if err := config.CheckWritableDir(p.dir); err != nil {
			status = "NOT WRITABLE: " + err.Error()
			errs = append(errs, fmt.Errorf("%s %s: %v", p.what, p.path, err))
		}
		fmt.Fprintf(w, "  %-22s %s  %s\n", p.what, p.path, status)
	}
	return errs
}
