// Package winservice runs sophos-connect as a Windows service: it
// registers the binary with the Service Control Manager (Install,
// Uninstall, Start, Stop), runs the collector under it (Run) and sends the
// seed's log lines to the Windows event log too. Off Windows every call
// but Loop and EventType answers ErrNotWindows. This file is the part that
// is the same on every platform, so it is tested everywhere.
package winservice

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Name is the default service name.
const Name = "sophos-connect"

// Marker is the first argument of the service's registered command line: it
// tells the binary that the service manager started it. Go's
// svc.IsWindowsService guesses from the parent's session 0, which wine (and
// some Windows containers) do not give; the marker is certain.
const Marker = "-windows-service"

// Args strips Marker from the front of args; marked says it was there.
func Args(args []string) (rest []string, marked bool) {
	if len(args) > 0 && args[0] == Marker {
		return args[1:], true
	}
	return args, false
}

// Spec is what `service install` registers.
type Spec struct {
	Name, DisplayName, Description string
	Exe                            string   // absolute path of this binary
	Args                           []string // arguments the service manager starts it with (Marker first)
}

// NewSpec builds the registration for config (made absolute: a service
// starts in C:\Windows\System32, not where the user ran install).
func NewSpec(exe, config, name string) (Spec, error) {
	if name == "" {
		name = Name
	}
	abs, err := filepath.Abs(config)
	if err != nil {
		return Spec{}, err
	}
	if _, err := os.Stat(abs); err != nil {
		return Spec{}, fmt.Errorf("service install: config %s: %w", abs, err)
	}
	return Spec{
		Name:        name,
		DisplayName: "Sophos Central SIEM collector (" + name + ")",
		Description: "sophos-connect: pulls Sophos Central alerts and events into the configured sinks. Config: " + abs,
		Exe:         exe,
		Args:        []string{Marker, "-c", abs},
	}, nil
}

// DefaultConfig is where the service's config lives by default.
func DefaultConfig() string {
	base := os.Getenv("ProgramData")
	if base == "" {
		base = `C:\ProgramData`
	}
	return base + `\sophos-connect\sophos-connect.yaml`
}

// Loop runs the collector (run) until it returns or stop is closed; then it
// cancels the run and waits up to drain for it to finish (the pipeline
// drains in-flight pages and commits). report tells the service manager
// what is happening ("running", "stopping"). It returns the collector's
// exit code, or timeoutCode when the drain did not finish.
func Loop(run func(ctx context.Context) int, stop <-chan struct{}, drain time.Duration, timeoutCode int, report func(state string)) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- run(ctx) }()
	report("running")
	select {
	case code := <-done:
		return code
	case <-stop:
	}
	report("stopping")
	cancel()
	select {
	case code := <-done:
		return code
	case <-time.After(drain):
		return timeoutCode
	}
}

// EventType maps a seed log line to the Windows event log's three kinds.
func EventType(line string) string {
	switch {
	case strings.Contains(line, "] ERROR: "):
		return "error"
	case strings.Contains(line, "] WARN"):
		return "warning"
	}
	return "info"
}

// ErrNotWindows is every management call's answer off Windows.
var ErrNotWindows = errors.New("the service command manages a Windows service; on Linux run the systemd unit (examples/sophos-connect.service, or the .deb/.rpm package), see the README's Deploying section")
