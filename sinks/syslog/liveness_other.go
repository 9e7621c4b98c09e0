//go:build !unix

package syslog

import "net"

// peerGone cannot peek without blocking on this platform; the write error
// on the next batch reveals a closed peer instead.
func peerGone(net.Conn) error { return nil }
