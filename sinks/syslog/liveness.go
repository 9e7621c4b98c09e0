//go:build unix

package syslog

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"syscall"
	"time"
)

// peerGone reports why the peer of an established stream connection is
// gone (io.EOF for an orderly close, ECONNRESET, …), or nil while it looks
// alive. A syslog receiver never sends application data, so anything
// readable is either a close or TLS housekeeping. It never blocks: the
// socket is peeked with MSG_DONTWAIT.
//
// Why: plain syslog has no acknowledgement. After a receiver restarts, the
// first write on the old connection still succeeds locally (the kernel
// takes the bytes, the peer answers with a reset) and the batch is lost
// without an error. Checking an idle connection before writing catches the
// close the receiver already sent.
func peerGone(c net.Conn) error {
	tc, isTLS := c.(*tls.Conn)
	raw := c
	if isTLS {
		raw = tc.NetConn()
	}
	sc, ok := raw.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	for range 8 { // bounded: each round consumes what the peer sent
		n, rerr := peek(rc)
		switch {
		case errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EWOULDBLOCK):
			return nil
		case rerr != nil:
			return rerr
		case n == 0:
			return io.EOF
		}
		if err := drain(c, isTLS); err != nil {
			return err
		}
	}
	return nil
}

// peek looks at one byte without consuming or waiting.
func peek(rc syscall.RawConn) (int, error) {
	var n int
	var rerr error
	var b [1]byte
	err := rc.Read(func(fd uintptr) bool {
		n, _, rerr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // never wait for readiness
	})
	if err != nil {
		return 0, err
	}
	return n, rerr
}

// drain consumes what the peer sent. Through TLS the bytes are records
// (session tickets, a close_notify alert) that only the TLS layer can read;
// the short deadline bounds a record that arrived in part.
func drain(c net.Conn, isTLS bool) error {
	var buf [512]byte
	wait := time.Millisecond
	if isTLS {
		wait = 20 * time.Millisecond
	}
	if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
		return err
	}
	defer c.SetReadDeadline(time.Time{})
	_, err := c.Read(buf[:])
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	return err
}
