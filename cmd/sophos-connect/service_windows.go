//go:build windows

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

// serviceInstall registers the service and reports whether its automatic
// start is delayed. The delay is set after CreateService, not through it: a
// service manager without SERVICE_CONFIG_DELAYED_AUTO_START_INFO (wine's
// answers ERROR_INVALID_LEVEL) keeps a plain automatic start instead of
// refusing the whole install.
func serviceInstall(spec serviceSpec) (bool, error) {
	m, err := mgr.Connect()
	if err != nil {
		return false, fmt.Errorf("service install: %w (run it from an elevated prompt: Run as administrator)", err)
	}
	defer m.Disconnect()
	if s, err := m.OpenService(spec.Name); err == nil {
		s.Close()
		return false, fmt.Errorf("service %s already exists: `sophos-connect service uninstall -name %s` first", spec.Name, spec.Name)
	}
	s, err := m.CreateService(spec.Name, spec.Exe, mgr.Config{
		DisplayName: spec.DisplayName, Description: spec.Description,
		StartType: mgr.StartAutomatic,
	}, spec.Args...)
	if err != nil {
		return false, fmt.Errorf("service install: %w", err)
	}
	defer s.Close()
	delayed := true
	info := windows.SERVICE_DELAYED_AUTO_START_INFO{IsDelayedAutoStartUp: 1}
	if err := windows.ChangeServiceConfig2(s.Handle, windows.SERVICE_CONFIG_DELAYED_AUTO_START_INFO, (*byte)(unsafe.Pointer(&info))); err != nil {
		if !errors.Is(err, windows.ERROR_INVALID_LEVEL) {
			s.Delete()
			return false, fmt.Errorf("service install: delayed automatic start: %w", err)
		}
		delayed = false
	}
	// Restart after a crash: 5 s, 30 s, then every minute.
	s.SetRecoveryActions([]mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 30 * time.Second},
		{Type: mgr.ServiceRestart, Delay: time.Minute},
	}, 24*60*60)
	if err := eventlog.InstallAsEventCreate(spec.Name, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil && !strings.Contains(err.Error(), "exists") {
		s.Delete()
		return false, fmt.Errorf("service install: event log source: %w", err)
	}
	return delayed, nil
}

func serviceUninstall(name string) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("service uninstall: %w (run it from an elevated prompt)", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("service %s is not installed", name)
	}
	defer s.Close()
	if err := s.Delete(); err != nil {
		return fmt.Errorf("service uninstall: %w", err)
	}
	eventlog.Remove(name)
	return nil
}

// serviceStart starts the service; already says it was running (an
// automatic service that the service manager started on its own).
func serviceStart(name string) (already bool, err error) {
	m, err := mgr.Connect()
	if err != nil {
		return false, err
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return false, fmt.Errorf("service %s is not installed: `sophos-connect service install -c FILE` first", name)
	}
	defer s.Close()
	if err := s.Start(); err != nil {
		if errors.Is(err, windows.ERROR_SERVICE_ALREADY_RUNNING) {
			return true, nil // an automatic service the manager started itself
		}
		return false, err
	}
	return false, nil
}

func serviceStop(name string, wait time.Duration) error {
	m, err := mgr.Connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("service %s is not installed", name)
	}
	defer s.Close()
	st, err := s.Control(svc.Stop)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(wait)
	for st.State != svc.Stopped {
		if time.Now().After(deadline) {
			return fmt.Errorf("service %s did not stop within %s (it drains in-flight pages first)", name, wait)
		}
		time.Sleep(300 * time.Millisecond)
		if st, err = s.Query(); err != nil {
			return err
		}
	}
	return nil
}

func runningAsService() bool {
	ok, err := svc.IsWindowsService()
	return err == nil && ok
}

// eventLogWriter sends each seed log line to the Windows event log too.
type eventLogWriter struct{ l *eventlog.Log }

func (w eventLogWriter) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\r\n")
	switch eventType(line) {
	case "error":
		w.l.Error(1, line)
	case "warning":
		w.l.Warning(1, line)
	default:
		w.l.Info(1, line)
	}
	return len(p), nil
}

type serviceHandler struct{ args []string }

func (h serviceHandler) Execute(_ []string, r <-chan svc.ChangeRequest, s chan<- svc.Status) (bool, uint32) {
	s <- svc.Status{State: svc.StartPending}
	a := &app{stdout: os.Stdout, stderr: os.Stderr}
	if l, err := eventlog.Open(serviceName); err == nil {
		defer l.Close()
		a.stderr = eventLogWriter{l}
	}
	stop := make(chan struct{})
	go func() {
		for c := range r {
			switch c.Cmd {
			case svc.Interrogate:
				s <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				close(stop)
				return
			}
		}
	}()
	code := serviceLoop(func(ctx context.Context) int { return a.main(ctx, h.args) }, stop, 40*time.Second, func(state string) {
		switch state {
		case "running":
			s <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
		case "stopping":
			s <- svc.Status{State: svc.StopPending, WaitHint: 45000}
		}
	})
	s <- svc.Status{State: svc.Stopped}
	return false, uint32(code)
}

// runService is main when the service manager started the binary.
func runService(args []string) int {
	if err := svc.Run(serviceName, serviceHandler{args: args}); err != nil {
		var errno windows.Errno
		if errors.As(err, &errno) {
			return int(errno)
		}
		return exitRuntime
	}
	return exitOK
}
