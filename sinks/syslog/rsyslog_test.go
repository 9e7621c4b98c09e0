package syslog

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// rsyslogd runs a real rsyslog in the foreground on loopback with its own
// configuration, writing every message it receives to a file, one line per
// message: "severity|hostname|app-name|msgid|structured-data|rawmsg".
type rsyslogd struct {
	t        testing.TB
	bin      string
	dir      string
	conf     string
	pidfile  string
	out      string // received messages
	tcpPort  int    // imtcp (plain or TLS); 0 = none
	udpPort  int    // imudp; 0 = none
	relpPort int    // imrelp; 0 = none

	mu     sync.Mutex
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{}
}

// rsyslogOptions selects the inputs.
type rsyslogOptions struct {
	tcp, udp bool
	tls      *testPKI // imtcp through the ossl driver, client certificates required
	discard  bool     // drop messages instead of writing them (benchmarks)
	relp     bool     // imrelp (Debian rsyslog-relp)
	relpTLS  *testPKI // imrelp with TLS (librelp's OpenSSL backend), client certificates required
	// direct runs the main queue in Direct mode, so imrelp's rsp 200 means
	// "written to the output file" instead of "queued in memory".
	direct bool
}

// needRsyslog returns the rsyslogd binary. Without it the test is skipped
// on a developer machine but fails under CI, which must install rsyslog.
func needRsyslog(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("rsyslogd")
	if err != nil {
		for _, p := range []string{"/usr/sbin/rsyslogd", "/sbin/rsyslogd"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
				break
			}
		}
	}
	if err != nil {
		missing(t, "rsyslogd not found: install it with apt-get install rsyslog")
	}
	return bin
}

// needOSSL checks for rsyslog's OpenSSL netstream driver (Debian package
// rsyslog-openssl). The GnuTLS driver (rsyslog-gnutls) works too but
// generates Diffie-Hellman parameters at every start: seconds of CPU on a
// busy machine, for each restart the tests make.
func needOSSL(t testing.TB) {
	t.Helper()
	for _, pattern := range []string{"/usr/lib/*/rsyslog/lmnsd_ossl.so", "/usr/lib/rsyslog/lmnsd_ossl.so", "/usr/lib64/rsyslog/lmnsd_ossl.so"} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return
		}
	}
	missing(t, "rsyslog's TLS driver lmnsd_ossl.so not found: install it with apt-get install rsyslog-openssl")
}

// needRELP checks for rsyslog's imrelp module (Debian package rsyslog-relp).
func needRELP(t testing.TB) {
	t.Helper()
	for _, pattern := range []string{"/usr/lib/*/rsyslog/imrelp.so", "/usr/lib/rsyslog/imrelp.so", "/usr/lib64/rsyslog/imrelp.so"} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return
		}
	}
	missing(t, "rsyslog's RELP input imrelp.so not found: install it with apt-get install rsyslog-relp")
}

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why + " (CI is set, so this is a failure)")
	}
	t.Skip(why)
}

// startRsyslog writes a configuration into a temporary directory, starts
// rsyslogd and waits until it listens.
func startRsyslog(t testing.TB, o rsyslogOptions) *rsyslogd {
	t.Helper()
	bin := needRsyslog(t)
	if o.tls != nil {
		needOSSL(t)
	}
	if o.relpTLS != nil {
		o.relp = true
	}
	if o.relp {
		needRELP(t)
	}
	r := &rsyslogd{t: t, bin: bin, dir: t.TempDir()}
	r.conf = filepath.Join(r.dir, "rsyslog.conf")
	r.pidfile = filepath.Join(r.dir, "rsyslogd.pid")
	r.out = filepath.Join(r.dir, "received.log")
	if o.tcp || o.tls != nil {
		r.tcpPort = freePort(t, "tcp")
	}
	if o.udp {
		r.udpPort = freePort(t, "udp")
	}
	if o.relp {
		r.relpPort = freePort(t, "tcp")
	}
	var c strings.Builder
	fmt.Fprintf(&c, "global(workDirectory=%q maxMessageSize=\"64k\"", r.dir)
	if o.tls != nil {
		fmt.Fprintf(&c, " defaultNetstreamDriver=\"ossl\" defaultNetstreamDriverCAFile=%q defaultNetstreamDriverCertFile=%q defaultNetstreamDriverKeyFile=%q",
			o.tls.caFile, o.tls.serverCert, o.tls.serverKey)
	}
	c.WriteString(")\n")
	if o.direct {
		c.WriteString(`main_queue(queue.type="Direct")` + "\n")
	}
	if r.relpPort != 0 {
		c.WriteString(`module(load="imrelp")` + "\n")
	}
	if r.tcpPort != 0 {
		if o.tls != nil {
			c.WriteString(`module(load="imtcp" streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="x509/certvalid")` + "\n")
		} else {
			c.WriteString(`module(load="imtcp")` + "\n")
		}
	}
	if r.udpPort != 0 {
		c.WriteString(`module(load="imudp")` + "\n")
	}
	c.WriteString(`template(name="received" type="string" string="%syslogseverity%|%hostname%|%app-name%|%msgid%|%structured-data%|%rawmsg%\n")` + "\n")
	if o.discard {
		c.WriteString("ruleset(name=\"in\") { stop }\n")
	} else {
		fmt.Fprintf(&c, "ruleset(name=\"in\") { action(type=\"omfile\" file=%q template=\"received\") }\n", r.out)
	}
	if r.tcpPort != 0 {
		fmt.Fprintf(&c, "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"%d\" ruleset=\"in\")\n", r.tcpPort)
	}
	if r.udpPort != 0 {
		fmt.Fprintf(&c, "input(type=\"imudp\" address=\"127.0.0.1\" port=\"%d\" ruleset=\"in\")\n", r.udpPort)
	}
	if r.relpPort != 0 && o.relpTLS != nil {
		fmt.Fprintf(&c, "input(type=\"imrelp\" address=\"127.0.0.1\" port=\"%d\" ruleset=\"in\" maxDataSize=\"64k\" tls=\"on\" tls.tlslib=\"openssl\" tls.cacert=%q tls.mycert=%q tls.myprivkey=%q tls.authmode=\"certvalid\")\n",
			r.relpPort, o.relpTLS.caFile, o.relpTLS.serverCert, o.relpTLS.serverKey)
	} else if r.relpPort != 0 {
		fmt.Fprintf(&c, "input(type=\"imrelp\" address=\"127.0.0.1\" port=\"%d\" ruleset=\"in\" maxDataSize=\"64k\")\n", r.relpPort)
	}
	// rsyslog's own messages, for the failure log.
	fmt.Fprintf(&c, "*.* action(type=\"omfile\" file=%q)\n", filepath.Join(r.dir, "internal.log"))
	if err := os.WriteFile(r.conf, []byte(c.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	r.start()
	t.Cleanup(func() {
		r.kill()
		if t.Failed() {
			r.dump()
		}
	})
	return r
}

// start runs rsyslogd (again, on the same ports) and waits for readiness.
func (r *rsyslogd) start() {
	r.t.Helper()
	os.Remove(r.pidfile)
	cmd := exec.Command(r.bin, "-n", "-f", r.conf, "-i", r.pidfile)
	stderr := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start rsyslogd: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	r.mu.Lock()
	r.cmd, r.stderr, r.done = cmd, stderr, done
	r.mu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-done:
			r.t.Fatalf("rsyslogd exited at start-up: %s", stderr)
		default:
		}
		if r.ready() {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("rsyslogd not ready after 15s: %s", stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ready polls the TCP port, or for UDP only looks for the bound socket.
func (r *rsyslogd) ready() bool {
	for _, port := range []int{r.tcpPort, r.relpPort} {
		if port == 0 {
			continue
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err != nil {
			return false
		}
		c.Close()
	}
	if r.udpPort != 0 {
		// A bound port cannot be bound again: that is rsyslog's.
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", r.udpPort))
		if err == nil {
			pc.Close()
			return false
		}
	}
	return true
}

// kill stops rsyslogd with SIGKILL (no clean shutdown) and waits for it.
func (r *rsyslogd) kill() {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		r.t.Errorf("rsyslogd did not exit after SIGKILL")
	}
}

// lines returns the received messages so far.
func (r *rsyslogd) lines() []receivedLine {
	b, err := os.ReadFile(r.out)
	if err != nil {
		return nil
	}
	// rsyslog may be writing a line right now: only whole lines count.
	if i := strings.LastIndexByte(string(b), '\n'); i >= 0 {
		b = b[:i+1]
	} else {
		b = nil
	}
	var out []receivedLine
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l == "" {
			continue
		}
		f := strings.SplitN(l, "|", 6)
		if len(f) != 6 {
			r.t.Fatalf("malformed received line %q", l)
		}
		out = append(out, receivedLine{severity: f[0], hostname: f[1], appName: f[2], msgID: f[3], sd: f[4], raw: f[5]})
	}
	return out
}

// waitLines waits until at least n messages arrived.
func (r *rsyslogd) waitLines(n int, timeout time.Duration) []receivedLine {
	r.t.Helper()
	var got []receivedLine
	waitFor(r.t, timeout, fmt.Sprintf("%d messages at rsyslog", n), func() bool {
		got = r.lines()
		return len(got) >= n
	})
	return got
}

func (r *rsyslogd) dump() {
	r.mu.Lock()
	stderr := r.stderr.String()
	r.mu.Unlock()
	conf, _ := os.ReadFile(r.conf)
	internal, _ := os.ReadFile(filepath.Join(r.dir, "internal.log"))
	r.t.Logf("rsyslog.conf:\n%s\nrsyslogd output:\n%s\ninternal log:\n%s", conf, stderr, internal)
}

type receivedLine struct {
	severity, hostname, appName, msgID, sd, raw string
}

// freePort finds a loopback port free for network ("tcp" or "udp").
func freePort(t testing.TB, network string) int {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return pc.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
