package syslog

import (
	"net"
	"testing"
)

// TestSelfConnectRefused: a TCP connection whose local and remote
// addresses are the same (a loopback self-connect to a port nothing
// listens on) is not a receiver: every write would succeed into nowhere.
func TestSelfConnectRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if selfConnected(c) {
		t.Fatal("an ordinary connection judged self-connected")
	}
	// A real self-connect: bind the local port and dial that same port.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().(*net.TCPAddr)
	probe.Close()
	d.LocalAddr = addr
	self, err := d.Dial("tcp", addr.String())
	if err != nil {
		t.Skipf("this kernel did not allow a self-connect: %v", err)
	}
	defer self.Close()
	if !selfConnected(self) {
		t.Fatalf("self-connect %s -> %s not detected", self.LocalAddr(), self.RemoteAddr())
	}
}
