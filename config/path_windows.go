//go:build windows

package config

import (
	"os"
	"path/filepath"
)

// defaultPath is ./sophos-connect.yaml when it exists, else the installed
// location %ProgramData%\sophos-connect\sophos-connect.yaml (where the
// service's config, state and log live).
func defaultPath() string {
	if _, err := os.Stat(DefaultFile); err == nil {
		return DefaultFile
	}
	base := os.Getenv("ProgramData")
	if base == "" {
		base = `C:\ProgramData`
	}
	return filepath.Join(base, "sophos-connect", DefaultFile)
}

// PackagedFile is the Linux packages' config file (none on Windows).
const PackagedFile = ""
