package collector

import (
	"errors"
	"sort"
	"strings"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

// LoadChecked loads the config at path and, even when the file has errors,
// builds its stages and sinks without side effects, so that validate and
// run report the same list: every error of the file, sorted by line, as a
// ConfigError. want is the command line's choice of streams (nil: the
// config's).
func LoadChecked(path string, want []pipeline.Stream) (*config.Config, error) {
	c, err := config.Load(path)
	if c == nil {
		return nil, ConfigError{err}
	}
	var all config.Errors
	if err == nil {
		err = c.CheckFiles() // the CA bundle the run opens
	}
	if err != nil {
		var list config.Errors
		if !errors.As(err, &list) {
			list = config.Errors{err}
		}
		all = append(all, list...)
	}
	if cerr := Check(c, want); cerr != nil {
		var list config.Errors
		errors.As(cerr, &list)
		all = append(all, list...)
	}
	if len(all) == 0 {
		return c, nil
	}
	return nil, ConfigError{sortByFileLine(c.File, all)}
}

// sortByFileLine orders "file:line: …" messages by line (stable; those
// without a line last) and drops repeats.
func sortByFileLine(file string, errs config.Errors) config.Errors {
	line := func(e error) int {
		rest, ok := strings.CutPrefix(e.Error(), file+":")
		if !ok {
			return 1 << 30
		}
		n := 0
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			n = n*10 + int(rest[i]-'0')
			i++
		}
		if i == 0 || i >= len(rest) || rest[i] != ':' {
			return 1 << 30
		}
		return n
	}
	seen := map[string]bool{}
	var out config.Errors
	for _, e := range errs {
		if !seen[e.Error()] {
			seen[e.Error()] = true
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return line(out[i]) < line(out[j]) })
	return out
}
