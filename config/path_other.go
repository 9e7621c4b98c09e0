//go:build !windows

package config

import (
	"errors"
	"os"
	"runtime"
)

// PackagedFile is the .deb's and .rpm's config file.
const PackagedFile = "/etc/sophos-connect/sophos-connect.yaml"

// defaultPath is the config file used without -c or $SOPHOS_CONNECT_CONFIG:
// ./sophos-connect.yaml, or on Linux, when there is none, the packaged
// /etc/sophos-connect/sophos-connect.yaml if it exists.
func defaultPath() string {
	if runtime.GOOS == "linux" {
		if _, err := os.Stat(DefaultFile); errors.Is(err, os.ErrNotExist) {
			if _, err := os.Stat(PackagedFile); err == nil {
				return PackagedFile
			}
		}
	}
	return DefaultFile
}
