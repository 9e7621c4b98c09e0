package syslog

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// syslogNG runs a real syslog-ng (Debian syslog-ng-core, unpacked from its
// .deb by .ci/syslog.sh because Debian marks it as conflicting with
// rsyslog) in the foreground on loopback with its own configuration: the
// stock network() source for tcp and udp, the syslog() source (RFC 5425)
// for TLS, and every message written to a file as
// "HOST|PROGRAM|RAWMSG" (flags(store-raw-message)).
type syslogNG struct {
	t                         testing.TB
	dir, out                  string
	tcpPort, udpPort, tlsPort int
	cmd                       *exec.Cmd
	stderr                    *lockedBuffer
	done                      chan struct{}
}

// needSyslogNG returns the unpacked package's root: $SYSLOG_NG_ROOT, the
// CI script's cache folder, or / when syslog-ng is installed normally.
func needSyslogNG(t testing.TB) string {
	t.Helper()
	roots := []string{os.Getenv("SYSLOG_NG_ROOT"), "/var/cache/sophos-connect-tests/syslog-ng", "/"}
	for _, r := range roots {
		if r == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(r, "usr/sbin/syslog-ng")); err == nil {
			return r
		}
	}
	missing(t, "syslog-ng not found: run .ci/syslog.sh (it unpacks Debian's syslog-ng-core into /var/cache/sophos-connect-tests/syslog-ng) or set SYSLOG_NG_ROOT")
	return ""
}

// startSyslogNG starts syslog-ng with tcp, udp and (with pki) TLS sources.
func startSyslogNG(t testing.TB, pki *testPKI) *syslogNG {
	t.Helper()
	root := needSyslogNG(t)
	mods, _ := filepath.Glob(filepath.Join(root, "usr/lib/syslog-ng/3.*"))
	if len(mods) == 0 {
		t.Fatalf("no module folder under %s/usr/lib/syslog-ng", root)
	}
	n := &syslogNG{t: t, dir: t.TempDir()}
	n.out = filepath.Join(n.dir, "received.log")
	n.tcpPort, n.udpPort = freePort(t, "tcp"), freePort(t, "udp")
	var c strings.Builder
	c.WriteString("@version: 3.38\n")
	c.WriteString("options { keep-hostname(yes); log-msg-size(65536); };\n")
	fmt.Fprintf(&c, "source s_tcp { network(ip(\"127.0.0.1\") port(%d) transport(\"tcp\") flags(store-raw-message)); };\n", n.tcpPort)
	fmt.Fprintf(&c, "source s_udp { network(ip(\"127.0.0.1\") port(%d) transport(\"udp\") flags(store-raw-message)); };\n", n.udpPort)
	sources := "source(s_tcp); source(s_udp);"
	if pki != nil {
		n.tlsPort = freePort(t, "tcp")
		fmt.Fprintf(&c, "source s_tls { syslog(ip(\"127.0.0.1\") port(%d) transport(\"tls\") flags(store-raw-message) tls(key-file(%q) cert-file(%q) peer-verify(optional-untrusted))); };\n",
			n.tlsPort, pki.serverKey, pki.serverCert)
		sources += " source(s_tls);"
	}
	fmt.Fprintf(&c, "destination d_out { file(%q template(\"${HOST}|${PROGRAM}|${RAWMSG}\\n\") flush-lines(1)); };\n", n.out)
	fmt.Fprintf(&c, "log { %s destination(d_out); };\n", sources)
	conf := filepath.Join(n.dir, "syslog-ng.conf")
	if err := os.WriteFile(conf, []byte(c.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(root, "usr/sbin/syslog-ng"), "-F", "-e", "-f", conf,
		"--module-path="+mods[0], "--persist-file="+filepath.Join(n.dir, "persist"),
		"--pidfile="+filepath.Join(n.dir, "pid"), "--control="+filepath.Join(n.dir, "ctl"))
	cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+filepath.Join(root, "usr/lib/syslog-ng"))
	n.stderr = &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = n.stderr, n.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start syslog-ng: %v", err)
	}
	n.cmd, n.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(n.done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		<-n.done
		if t.Failed() {
			t.Logf("syslog-ng.conf:\n%s\nsyslog-ng output:\n%s", c.String(), n.stderr)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-n.done:
			t.Fatalf("syslog-ng exited at start-up: %s", n.stderr)
		default:
		}
		if n.ready() {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("syslog-ng not ready after 15s: %s", n.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (n *syslogNG) ready() bool {
	for _, p := range []int{n.tcpPort, n.tlsPort} {
		if p == 0 {
			continue
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p), time.Second)
		if err != nil {
			return false
		}
		c.Close()
	}
	pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", n.udpPort))
	if err == nil {
		pc.Close()
		return false
	}
	return true
}

// lines returns the received messages so far.
func (n *syslogNG) lines() []receivedLine {
	b, err := os.ReadFile(n.out)
	if err != nil {
		return nil
	}
	var out []receivedLine
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l == "" {
			continue
		}
		f := strings.SplitN(l, "|", 3)
		if len(f) != 3 {
			n.t.Fatalf("malformed received line %q", l)
		}
		out = append(out, receivedLine{hostname: f[0], appName: f[1], raw: f[2]})
	}
	return out
}
