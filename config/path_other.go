//go:build !windows

package config

// defaultPath is the config file used without -c or $SOPHOS_CONNECT_CONFIG.
func defaultPath() string { return DefaultFile }
