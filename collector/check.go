package collector

import (
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
		return config.PrefixFile(c.File, err)
	}
	as.Close()
	return nil
}
