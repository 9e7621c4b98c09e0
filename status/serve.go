package status

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sophos-connect/sophos-connect/internal/redact"
)

// Auth protects the status server: Basic (Username and Password) or a
// bearer Token. The zero value is no authentication.
type Auth struct {
	Username, Password string
	Token              string
}

// Enabled reports whether requests must authenticate.
func (a Auth) Enabled() bool { return a.Password != "" || a.Token != "" }

// LoadAuth reads metrics_auth: typ "basic" (username, password from
// passwordFile) or "bearer" (token from tokenFile); "" is none. A secret
// file's trailing newline is not part of the secret.
func LoadAuth(typ, username, passwordFile, tokenFile string) (Auth, error) {
	read := func(key, path string) (string, error) {
		if path == "" {
			return "", fmt.Errorf("metrics_auth.%s is required for type %s", key, typ)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("metrics_auth.%s: %w", key, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if len(v) < 8 {
			return "", fmt.Errorf("metrics_auth.%s: %s holds %d characters; use at least 8", key, path, len(v))
		}
		redact.Add(v)
		return v, nil
	}
	switch typ {
	case "":
		return Auth{}, nil
	case "basic":
		if username == "" {
			return Auth{}, errors.New("metrics_auth.username is required for type basic")
		}
		p, err := read("password_file", passwordFile)
		return Auth{Username: username, Password: p}, err
	case "bearer":
		t, err := read("token_file", tokenFile)
		return Auth{Token: t}, err
	}
	return Auth{}, fmt.Errorf("metrics_auth.type %q: want basic or bearer", typ)
}

func (a Auth) allows(r *http.Request) bool {
	if !a.Enabled() {
		return true
	}
	eq := func(x, y string) bool { return subtle.ConstantTimeCompare([]byte(x), []byte(y)) == 1 }
	if a.Token != "" {
		h := r.Header.Get("Authorization")
		return len(h) > 7 && strings.EqualFold(h[:7], "bearer ") && eq(h[7:], a.Token)
	}
	u, p, ok := r.BasicAuth()
	return ok && eq(u, a.Username) && eq(p, a.Password)
}

// ServerOptions configure Serve.
type ServerOptions struct {
	Addr string
	Auth Auth
	// MaxConns bounds open connections (default 64): a flood of idle
	// clients must not take the file descriptors checkpoint commits need.
	MaxConns int
	Log      *slog.Logger
	// Timeouts; zero takes the defaults below (tests shorten them).
	ReadHeaderTimeout, IdleTimeout time.Duration
}

// Timeouts of the status server: a client must send its headers within
// ReadHeaderTimeout and may keep an idle keep-alive connection IdleTimeout.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 10 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 30 * time.Second
)

// Open routes are answered without authentication (orchestrator probes).
var openRoutes = map[string]bool{"/healthz": true, "/readyz": true}

// Server is the running status server.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Addr is the address it listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops it, waiting up to 2 s for requests in progress.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
}

// Serve listens on o.Addr and serves h with timeouts, a connection limit,
// an optional authentication (every route but /healthz and /readyz), a Host
// check against DNS rebinding, and every response passed through the
// redactor. It warns when it listens beyond loopback without auth.
func Serve(o ServerOptions, h http.Handler) (*Server, error) {
	if o.MaxConns <= 0 {
		o.MaxConns = 64
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = ReadHeaderTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = IdleTimeout
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("metrics_addr %s: %w", o.Addr, err)
	}
	if !o.Auth.Enabled() && !isLoopback(ln.Addr()) {
		o.Log.Warn(fmt.Sprintf("metrics_addr %s listens beyond loopback without metrics_auth: anyone who can reach it sees the status page (tenants, errors) and /metrics; set metrics_auth or bind 127.0.0.1", o.Addr))
	}
	listenHost, _, _ := net.SplitHostPort(o.Addr)
	guarded := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(r.Host, listenHost) {
			http.Error(w, "unexpected Host header (DNS rebinding protection): use the collector's IP address or localhost", http.StatusMisdirectedRequest)
			return
		}
		if !openRoutes[r.URL.Path] && !o.Auth.allows(r) {
			if o.Auth.Token != "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="sophos-connect"`)
			} else {
				w.Header().Set("WWW-Authenticate", `Basic realm="sophos-connect"`)
			}
			http.Error(w, "authentication required (metrics_auth)", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(redactingWriter{w}, r)
	})
	srv := &http.Server{Handler: guarded, ReadHeaderTimeout: o.ReadHeaderTimeout, ReadTimeout: ReadTimeout,
		WriteTimeout: WriteTimeout, IdleTimeout: o.IdleTimeout, MaxHeaderBytes: 16 << 10}
	l := &limitListener{Listener: ln, sem: make(chan struct{}, o.MaxConns), closed: make(chan struct{})}
	go srv.Serve(l)
	return &Server{srv: srv, ln: ln}, nil
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// hostAllowed accepts an IP literal, localhost, or the host metrics_addr
// names: a browser tricked into sending a page of another name here (DNS
// rebinding) is refused.
func hostAllowed(hostport, listenHost string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "" || net.ParseIP(host) != nil || strings.EqualFold(host, "localhost") {
		return true
	}
	if listenHost != "" && strings.EqualFold(host, listenHost) {
		return true
	}
	name, err := os.Hostname()
	return err == nil && strings.EqualFold(host, name)
}

// redactingWriter passes every response body through the redactor.
type redactingWriter struct{ http.ResponseWriter }

func (w redactingWriter) Write(p []byte) (int, error) {
	if _, err := w.ResponseWriter.Write(redact.Bytes(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// limitListener keeps at most cap(sem) connections open; beyond that new
// ones wait in the kernel's backlog.
type limitListener struct {
	net.Listener
	sem    chan struct{}
	closed chan struct{}
	once   sync.Once
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.closed:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: sync.OnceFunc(func() { <-l.sem })}, nil
}

type limitConn struct {
	net.Conn
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
