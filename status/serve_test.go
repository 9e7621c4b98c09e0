package status

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/internal/redact"
)

func testMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ready") })
	mux.HandleFunc("/status.json", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"last_error":"receiver said: Splunk 5a1e7c3d-9b2f-4e6a-8c1d-0f2e3a4b5c6d"}`)
	})
	return mux
}

func get(t *testing.T, url string, set func(*http.Request)) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if set != nil {
		set(req)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// Idle and header-less connections are closed by the server, and at most
// MaxConns are open at once (3,000 idle keep-alive connections were held
// for 90 s before, until the file descriptors ran out).
func TestStatusServerTimeoutsAndConnectionLimit(t *testing.T) {
	s, err := Serve(ServerOptions{Addr: "127.0.0.1:0", MaxConns: 4, ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: 200 * time.Millisecond}, testMux())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A client that connects and sends nothing is cut off.
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	start := time.Now()
	if _, err := c.Read(make([]byte, 1)); err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("a silent connection was kept %s (err %v)", time.Since(start), err)
	}
	c.Close()
	// An idle keep-alive connection is closed after IdleTimeout.
	c, _ = net.Dial("tcp", s.Addr())
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	start = time.Now()
	if _, err := br.ReadByte(); err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("an idle keep-alive connection was kept %s", time.Since(start))
	}
	c.Close()
	// Beyond MaxConns, a new connection is not served until one closes.
	var held []net.Conn
	for range 4 {
		c, _ := net.Dial("tcp", s.Addr())
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n") // headers never finished
		held = append(held, c)
	}
	time.Sleep(50 * time.Millisecond)
	extra, _ := net.Dial("tcp", s.Addr())
	defer extra.Close()
	fmt.Fprintf(extra, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	extra.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _ := extra.Read(make([]byte, 1)); n > 0 {
		t.Fatal("a connection beyond MaxConns was served while 4 were open")
	}
	for _, c := range held {
		c.Close()
	}
	extra.SetReadDeadline(time.Now().Add(3 * time.Second))
	if res, err := http.ReadResponse(bufio.NewReader(extra), nil); err != nil || res.StatusCode != 200 {
		t.Fatalf("after the others closed: %v", err)
	}
}

func TestStatusServerAuthHostAndRedaction(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tok"), []byte("s3cret-bearer-token\n"), 0o600)
	auth, err := LoadAuth("bearer", "", "", filepath.Join(dir, "tok"))
	if err != nil {
		t.Fatal(err)
	}
	redact.Add("5a1e7c3d-9b2f-4e6a-8c1d-0f2e3a4b5c6d")
	s, err := Serve(ServerOptions{Addr: "127.0.0.1:0", Auth: auth}, testMux())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := "http://" + s.Addr()
	if code, _ := get(t, base+"/status.json", nil); code != http.StatusUnauthorized {
		t.Fatalf("without the token: %d, want 401", code)
	}
	if code, _ := get(t, base+"/status.json", func(r *http.Request) { r.Header.Set("Authorization", "Bearer wrong") }); code != http.StatusUnauthorized {
		t.Fatalf("with a wrong token: %d", code)
	}
	code, body := get(t, base+"/status.json", func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret-bearer-token") })
	if code != 200 || strings.Contains(body, "5a1e7c3d") || !strings.Contains(body, redact.Marker) {
		t.Fatalf("with the token: %d %s", code, body)
	}
	if code, _ := get(t, base+"/healthz", nil); code != 200 {
		t.Fatalf("/healthz needs no auth (probes): %d", code)
	}
	if code, _ := get(t, base+"/healthz", func(r *http.Request) { r.Host = "evil.example:9464" }); code != http.StatusMisdirectedRequest {
		t.Fatalf("a foreign Host header: %d, want 421", code)
	}
	if _, err := LoadAuth("basic", "ops", filepath.Join(dir, "missing"), ""); err == nil {
		t.Fatal("a missing password file was accepted")
	}
}

func TestStatusServerWarnsBeyondLoopbackWithoutAuth(t *testing.T) {
	for _, tc := range []struct {
		addr string
		auth Auth
		warn bool
	}{{"127.0.0.1:0", Auth{}, false}, {"0.0.0.0:0", Auth{}, true}, {"0.0.0.0:0", Auth{Token: "abcdefghij"}, false}} {
		var logs bytes.Buffer
		s, err := Serve(ServerOptions{Addr: tc.addr, Auth: tc.auth, Log: slog.New(slog.NewTextHandler(&logs, nil))}, testMux())
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if got := strings.Contains(logs.String(), "beyond loopback without metrics_auth"); got != tc.warn {
			t.Errorf("%s auth %v: warned %v, want %v: %s", tc.addr, tc.auth.Enabled(), got, tc.warn, logs.String())
		}
	}
}
