//go:build !windows

package main

import "time"

func serviceInstall(serviceSpec) error        { return errNotWindows }
func serviceUninstall(string) error           { return errNotWindows }
func serviceStart(string) error               { return errNotWindows }
func serviceStop(string, time.Duration) error { return errNotWindows }

// runningAsService is false: only Windows starts the binary as a service.
func runningAsService() bool { return false }

func runService([]string) int { return exitRuntime }
