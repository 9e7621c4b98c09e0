//go:build !windows

package main

import (
	"fmt"
	"os"
	"time"
)

func serviceInstall(serviceSpec) (bool, error) { return false, errNotWindows }
func serviceUninstall(string) error            { return errNotWindows }
func serviceStart(string) (bool, error)        { return false, errNotWindows }
func serviceStop(string, time.Duration) error  { return errNotWindows }

// runningAsService is false: only Windows starts the binary as a service.
func runningAsService() bool { return false }

// runService refuses: only the Windows service manager passes serviceMarker.
func runService([]string) int {
	fmt.Fprintln(os.Stderr, "sophos-connect:", errNotWindows)
	return exitUsage
}
