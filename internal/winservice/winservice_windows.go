//go:build windows

package winservice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

// Install registers spec (automatic start, delayed where the service
// manager has it; restart after a crash) and its event log source, and
// reports whether the start is delayed. The delay is set after
// CreateService, not through it: a service manager without
// SERVICE_CONFIG_DELAYED_AUTO_START_INFO (wine's answers
// ERROR_INVALID_LEVEL) keeps a plain automatic start instead of refusing
// the whole install.
func Install(spec Spec) (delayed bool, err error) {
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
	delayed = true
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

// withService connects to the Service Control Manager, opens service name
// and runs fn on it. connectHint follows a failed connection's error
// ("" = none); notInstalled is the error when there is no such service.
func withService(name, connectHint, notInstalled string, fn func(s *mgr.Service) error) error {
	m, err := mgr.Connect()
	if err != nil {
		if connectHint != "" {
			return fmt.Errorf("%s: %w (run it from an elevated prompt)", connectHint, err)
		}
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return errors.New(notInstalled)
	}
	defer s.Close()
	return fn(s)
}

// Uninstall removes the service and its event log source.
func Uninstall(name string) error {
	return withService(name, "service uninstall", fmt.Sprintf("service %s is not installed", name), func(s *mgr.Service) error {
		if err := s.Delete(); err != nil {
			return fmt.Errorf("service uninstall: %w", err)
		}
		eventlog.Remove(name)
		return nil
	})
}

// Start starts the installed service.
// Start starts the service; already says it was running (an automatic
// service the manager started on its own: wine boots the prefix again
// after an idle moment and starts it).
func Start(name string) (already bool, err error) {
	err = withService(name, "", fmt.Sprintf("service %s is not installed: `sophos-connect service install -c FILE` first", name),
		func(s *mgr.Service) error {
			if err := s.Start(); err != nil {
				if errors.Is(err, windows.ERROR_SERVICE_ALREADY_RUNNING) {
					already = true
					return nil
				}
				return err
			}
			return nil
		})
	return already, err
}

// Stop stops the service and waits up to wait for it to stop.
func Stop(name string, wait time.Duration) error {
	return withService(name, "", fmt.Sprintf("service %s is not installed", name), func(s *mgr.Service) error { return stop(s, name, wait) })
}

func stop(s *mgr.Service, name string, wait time.Duration) error {
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

// Running says whether the service manager started this process.
func Running() bool {
	ok, err := svc.IsWindowsService()
	return err == nil && ok
}

// eventLogWriter sends each seed log line to the Windows event log too.
type eventLogWriter struct{ l *eventlog.Log }

func (w eventLogWriter) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\r\n")
	switch EventType(line) {
	case "error":
		w.l.Error(1, line)
	case "warning":
		w.l.Warning(1, line)
	default:
		w.l.Info(1, line)
	}
	return len(p), nil
}

type handler struct {
	name     string
	main     func(ctx context.Context, stderr io.Writer) int
	failCode int
}

func (h handler) Execute(_ []string, r <-chan svc.ChangeRequest, s chan<- svc.Status) (bool, uint32) {
	s <- svc.Status{State: svc.StartPending}
	var stderr io.Writer = os.Stderr
	if l, err := eventlog.Open(h.name); err == nil {
		defer l.Close()
		stderr = eventLogWriter{l}
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
	code := Loop(func(ctx context.Context) int { return h.main(ctx, stderr) }, stop, 40*time.Second, h.failCode, func(state string) {
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

// Run is main when the service manager started the binary: it runs main
// (with the event log as its stderr) under the service name until the
// manager stops it. failCode is the exit code when the service cannot run
// or the drain times out.
func Run(name string, main func(ctx context.Context, stderr io.Writer) int, failCode int) int {
	if err := svc.Run(name, handler{name: name, main: main, failCode: failCode}); err != nil {
		var errno windows.Errno
		if errors.As(err, &errno) {
			return int(errno)
		}
		return failCode
	}
	return 0
}
