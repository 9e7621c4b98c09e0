package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// endpoint is a parsed address.
type endpoint struct {
	network string // "udp", "tcp" (plain or TLS) or "unix" (kind detected on dial)
	addr    string // host:port or socket path
	tls     bool
	relp    bool   // RELP over tcp (plain or TLS)
	scheme  string // lower case, for messages
	raw     string // as configured, for messages
}

// Default ports when the address omits one: 514 (RFC 5426, and the
// customary plain TCP port), 6514 (RFC 5425) and 2514 (rsyslog's RELP
// examples; RELP has no assigned port).
const (
	defaultPort     = "514"
	defaultTLSPort  = "6514"
	defaultRELPPort = "2514"
)

func parseAddress(s string) (endpoint, error) {
	if s == "" {
		return endpoint{}, errors.New("missing: set e.g. tcp+tls://siem.example:6514, tcp://host:514, udp://host:514, relp://host:2514 or unix:///dev/log")
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return endpoint{}, fmt.Errorf("%q is not a URL: write scheme://host:port (udp, tcp, tcp+tls, relp, relp+tls) or unix:///path", s)
	}
	ep := endpoint{raw: s, scheme: strings.ToLower(u.Scheme)}
	switch ep.scheme {
	case "unix":
		p := u.Path
		if p == "" {
			p = u.Opaque
		}
		if u.Host != "" || p == "" || !strings.HasPrefix(p, "/") {
			return endpoint{}, fmt.Errorf("%q: write an absolute socket path with three slashes, e.g. unix:///dev/log", s)
		}
		ep.network, ep.addr = "unix", p
		return ep, nil
	case "udp":
		ep.network = "udp"
	case "tcp":
		ep.network = "tcp"
	case "tcp+tls":
		ep.network, ep.tls = "tcp", true
	case "relp":
		ep.network, ep.relp = "tcp", true
	case "relp+tls":
		ep.network, ep.relp, ep.tls = "tcp", true, true
	default:
		return endpoint{}, fmt.Errorf("unknown scheme %q in %q: use udp://, tcp://, tcp+tls://, relp://, relp+tls:// or unix://", u.Scheme, s)
	}
	if u.Host == "" || u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return endpoint{}, fmt.Errorf("%q: write %s://host:port and nothing else", s, u.Scheme)
	}
	port := u.Port()
	switch {
	case port != "":
	case ep.relp:
		port = defaultRELPPort
	case ep.tls:
		port = defaultTLSPort
	default:
		port = defaultPort
	}
	ep.addr = net.JoinHostPort(u.Hostname(), port)
	return ep, nil
}

// dial connects to ep. For unix:// it tries a datagram socket first (like
// log/syslog and /dev/log) and falls back to a stream socket when the
// socket's type differs. dgram reports which kind was connected.
func dial(ctx context.Context, ep endpoint, timeout time.Duration, tc *tls.Config) (c net.Conn, dgram bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := &net.Dialer{KeepAlive: 30 * time.Second}
	switch {
	case ep.network == "unix":
		c, err = d.DialContext(ctx, "unixgram", ep.addr)
		if err == nil {
			return c, true, nil
		}
		if !errors.Is(err, syscall.EPROTOTYPE) {
			return nil, false, err
		}
		c, err = d.DialContext(ctx, "unix", ep.addr)
		return c, false, err
	case ep.tls:
		c, err = dialTLS(ctx, d, ep.addr, tc)
		return c, false, err
	case ep.network == "udp":
		c, err = d.DialContext(ctx, "udp", ep.addr)
		return c, true, err
	default:
		c, err = d.DialContext(ctx, "tcp", ep.addr)
		if err == nil && selfConnected(c) {
			c.Close()
			return nil, false, fmt.Errorf("dial tcp %s: connected to itself (nothing listens there, and the kernel picked that very port as the local one): not a receiver", ep.addr)
		}
		return c, false, err
	}
}

// selfConnected reports a TCP "simultaneous open" with itself: dialing a
// loopback port in the ephemeral range that nothing listens on can get that
// port as the local one, and the connection then accepts every write — the
// records would count as delivered while going nowhere.
func selfConnected(c net.Conn) bool {
	return c.LocalAddr().String() == c.RemoteAddr().String()
}

// dialTLS connects and completes the handshake. Under TLS 1.3 the client
// finishes its handshake before the server has checked the client
// certificate, so a receiver that rejects it (or wants one and got none)
// closes the session only afterwards, and whatever was written meanwhile
// is lost with no error. When the server asked for a certificate, wait
// about one round trip for such a rejection before calling the session
// usable.
func dialTLS(ctx context.Context, d *net.Dialer, addr string, tc *tls.Config) (net.Conn, error) {
	tc = tc.Clone()
	requested := false
	certs := tc.Certificates
	tc.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		requested = true
		for i := range certs {
			if cri.SupportsCertificate(&certs[i]) == nil {
				return &certs[i], nil
			}
		}
		if len(certs) > 0 {
			// Go would send none; sending ours gets the receiver's exact
			// reason (e.g. unknown CA) instead of "certificate required".
			return &certs[0], nil
		}
		return &tls.Certificate{}, nil
	}
	start := time.Now()
	c, err := (&tls.Dialer{NetDialer: d, Config: tc}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conn := c.(*tls.Conn)
	if !requested || conn.ConnectionState().Version != tls.VersionTLS13 {
		return conn, nil
	}
	// The dial took at least two round trips: long enough for the verdict.
	wait := min(max(time.Since(start), 50*time.Millisecond), time.Second)
	conn.SetReadDeadline(time.Now().Add(wait))
	var b [1]byte
	_, err = conn.Read(b[:])
	conn.SetReadDeadline(time.Time{})
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		return conn, nil // still open (or it talked, which syslog receivers do not)
	}
	conn.Close()
	if len(certs) == 0 {
		return nil, fmt.Errorf("the receiver wants a client certificate (set tls.cert_file and tls.key_file): %w", err)
	}
	return nil, fmt.Errorf("the receiver refused the client certificate (is it signed by a CA the receiver trusts?): %w", err)
}
