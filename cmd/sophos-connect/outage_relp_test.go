package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// relpPeer is rsyslogd receiving RELP (imrelp, Debian rsyslog-relp) with
// its main queue in Direct mode, so that an rsp 200 means "written". Unlike
// the plain syslog peer it is taken down with SIGKILL: with
// acknowledgements, a receiver dying mid-stream must not lose anything.
type relpPeer struct{ rsyslogPeer }

func newRELPPeer(t *testing.T) *relpPeer {
	base := rsyslogdBinary(t)
	matches, _ := filepath.Glob("/usr/lib/*/rsyslog/imrelp.so")
	if len(matches) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("rsyslog's imrelp is not installed: .ci/syslog.sh installs it with apt-get install rsyslog-relp")
		}
		t.Skip("rsyslog's imrelp is not installed (apt-get install rsyslog-relp)")
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	p := &relpPeer{rsyslogPeer{bin: base, dir: dir, conf: filepath.Join(dir, "rsyslog.conf"), out: filepath.Join(dir, "received.log"), port: port}}
	conf := fmt.Sprintf(`global(workDirectory=%q maxMessageSize="64k")
main_queue(queue.type="Direct")
module(load="imrelp")
template(name="msg" type="string" string="%%msg%%\n")
ruleset(name="in") { action(type="omfile" file=%q template="msg") }
input(type="imrelp" address="127.0.0.1" port="%d" ruleset="in" maxDataSize="64k")
`, dir, p.out, port)
	if err := os.WriteFile(p.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p.up(t)
	t.Cleanup(func() { p.down(t) })
	return p
}

// rsyslogdBinary finds rsyslogd as newRsyslogPeer does.
func rsyslogdBinary(t *testing.T) string {
	if bin, err := exec.LookPath("rsyslogd"); err == nil {
		return bin
	}
	if _, err := os.Stat("/usr/sbin/rsyslogd"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("rsyslogd is not installed: .ci/run installs it with apt-get install rsyslog")
		}
		t.Skip("rsyslogd is not installed (apt-get install rsyslog)")
	}
	return "/usr/sbin/rsyslogd"
}

func (p *relpPeer) sinkYAML() string {
	return fmt.Sprintf(`  - name: siem
    type: syslog
    address: relp://127.0.0.1:%d
    format: raw
    max_message_bytes: 65535
    buffer: {type: disk}
    retry: {initial: 50ms, max: 200ms}
`, p.port)
}

// down kills rsyslogd with SIGKILL: no clean shutdown, no queue drained.
func (p *relpPeer) down(t *testing.T) {
	if p.cmd != nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
		p.cmd = nil
	}
}

// TestOutageRELPDiskBuffer: the outage scenario over RELP, the receiver
// SIGKILLed instead of stopped: every record still arrives.
func TestOutageRELPDiskBuffer(t *testing.T) { runOutage(t, newRELPPeer(t)) }
