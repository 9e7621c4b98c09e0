package collector

import (
	"errors"
	"fmt"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

// Check builds c's stages and sinks without side effects (nothing is
// created on disk, nothing is sent), for `validate` and before a run: every
// error of the components, each prefixed with the file name.
// want is the command line's choice of streams (nil: both).
func Check(c *config.Config, want []pipeline.Stream) error {
	as, err := Assemble(c, EnabledStreams(c, want), nil, true)
	if err != nil {
		return PrefixErrors(c.File, err)
	}
	as.Close()
	return nil
}

// PrefixErrors adds the file name to component errors ("line: key: msg").
func PrefixErrors(file string, err error) error {
	var out config.Errors
	var list config.Errors
	if !errors.As(err, &list) {
		list = config.Errors{err}
	}
	for _, e := range list {
		var nested config.Errors
		if errors.As(e, &nested) {
			for _, n := range nested {
				out = append(out, fmt.Errorf("%s:%s", file, n.Error()))
			}
			continue
		}
		out = append(out, fmt.Errorf("%s:%s", file, e.Error()))
	}
	return out
}
