package collector

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// TestReloadWhileASinkFails: SIGHUP with a changed, valid config while a
// sink is failing used to end the run with "pages were not delivered"
// after the drain time — the collector exited instead of applying the new
// config. Those pages were never committed, so the new run pulls them
// again: Run returns the reload.
func TestReloadWhileASinkFails(t *testing.T) {
	emu, err := emulator.New(emulator.Options{Events: 200, Alerts: 20, ClientID: "id", ClientSecret: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close() // nothing listens: the syslog sink fails every write
	dir := t.TempDir()
	write := func(name, sink string) *config.Config {
		p := filepath.Join(dir, name)
		y := "sophos:\n  client_id: id\n  client_secret: secret\n  auth_url: " + emu.AuthURL() + "\n  api_host: " + emu.URL() + "\n  from_date_offset_minutes: 0\n" +
			"state_dir: " + filepath.Join(dir, "state") + "\nsave_file_location: " + dir + "\nlog_level: ERROR\npull_time: 1\n" +
			"txt_file_creation: false\njson_file_creation: false\nsinks:\n" + sink
		if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	failing := write("a.yaml", "  - name: siem\n    type: syslog\n    address: tcp://"+dead+"\n    retry: {initial: 50ms, max: 100ms}\n")
	fixed := write("b.yaml", "  - name: out\n    type: json\n    layout: lines\n    path: "+filepath.Join(dir, "out.ndjson")+"\n")

	hup := make(chan os.Signal, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, failing, Options{Hup: hup, ReloadOnHUP: func() (*config.Config, error) { return fixed, nil },
			Timeout: 20 * time.Second, Log: slog.New(slog.DiscardHandler)})
	}()
	time.Sleep(1500 * time.Millisecond) // pulling, and the sink failing
	hup <- syscall.SIGHUP
	select {
	case err := <-done:
		var rr ReloadRequest
		if !errors.As(err, &rr) || rr.Cfg != fixed {
			t.Fatalf("Run returned %v, want the reload to the new config", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after SIGHUP")
	}
}
