package syslog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gosyslog "github.com/influxdata/go-syslog/v3"
	"github.com/influxdata/go-syslog/v3/octetcounting"
	"github.com/influxdata/go-syslog/v3/rfc5424"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// sdID returns the record id carried in an RFC 5424 message.
func sdID(t *testing.T, msg []byte) string {
	t.Helper()
	m, err := rfc5424.NewParser().Parse(msg)
	if err != nil {
		t.Fatalf("rfc5424 parser: %v\n%q", err, msg)
	}
	sm := m.(*rfc5424.SyslogMessage)
	return (*sm.StructuredData)[DefaultSDID]["id"]
}

func TestUnixDatagram(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.sock")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := newTestSink(t, configFor("unix://"+path))
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n = 50
	recs := testRecords(t, 0, n)
	big := testRecord(t, n)
	big.Raw = []byte(strings.Replace(string(big.Raw), `"group":"MALWARE"`, `"group":"`+strings.Repeat("€", 4000)+`"`, 1))
	// Unix datagram queues are short (net.unix.max_dgram_qlen): read while
	// the sink writes, as a syslog daemon does.
	got := make(chan []byte, n+1)
	go func() {
		buf := make([]byte, 64<<10)
		l.SetReadDeadline(time.Now().Add(10 * time.Second))
		for range n + 1 {
			k, err := l.Read(buf)
			if err != nil {
				close(got)
				return
			}
			got <- append([]byte(nil), buf[:k]...) // no framing: the datagram is the message
		}
	}()
	// The big record is sent cut and reported for the dead-letter file.
	err = s.Write(context.Background(), append(recs, big))
	var be *pipeline.BatchError
	if !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Index != n || !pipeline.IsPermanent(be.Items[0].Err) ||
		!strings.HasPrefix(be.Items[0].Err.Error(), "truncated: ") {
		t.Fatalf("want the big record alone reported as truncated, got %v", err)
	}
	for i := range n + 1 {
		msg, ok := <-got
		if !ok {
			t.Fatalf("received %d datagrams of %d", i, n+1)
		}
		if i == n {
			if len(msg) > defaultDatagramMax || s.Truncated() != 1 {
				t.Fatalf("big message: %d bytes, truncated %d", len(msg), s.Truncated())
			}
			sdID(t, msg)
			continue
		}
		if id := sdID(t, msg); id != recs[i].ID {
			t.Fatalf("datagram %d carries %q, want %q", i, id, recs[i].ID)
		}
		if want := encodeMsg(t, testFormat(), recs[i]); !strings.HasSuffix(string(msg), "] "+want) {
			t.Fatalf("datagram %d MSG wrong: %q", i, msg)
		}
	}
}

func TestUnixStream(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lines := make(chan string, 100)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		sc := bufio.NewScanner(c)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	s := newTestSink(t, configFor("unix://"+path))
	const n = 30
	recs := testRecords(t, 0, n)
	if err := s.Write(context.Background(), recs); err != nil { // connects on demand
		t.Fatal(err)
	}
	for i := range n {
		select {
		case l := <-lines:
			if id := sdID(t, []byte(l)); id != recs[i].ID {
				t.Fatalf("line %d carries %q, want %q", i, id, recs[i].ID)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d lines of %d", i, n)
		}
	}
}

func TestUnixFramingMismatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.sock")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c := configFor("unix://" + path)
	c.Framing = "lf"
	err = newTestSink(t, c).Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "datagram socket") {
		t.Fatalf("want a framing error, got %v", err)
	}
}

func TestStartRefused(t *testing.T) {
	addr := fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t, "tcp"))
	err := newTestSink(t, configFor(addr)).Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), addr) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("want connection refused naming %s, got %v", addr, err)
	}
}

// stallingReceiver accepts connections on loopback. The first one reads
// readFirst bytes, stops reading until the sender is stuck, then resets the
// connection; later ones are read to the end and their frames parsed.
type stallingReceiver struct {
	l         net.Listener
	readFirst int
	mu        sync.Mutex
	ids       []string // record ids received on later connections
	errs      []error
	wg        sync.WaitGroup
}

func newStallingReceiver(t *testing.T, readFirst int) *stallingReceiver {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		// A small receive window makes the sender block early.
		return c.Control(func(fd uintptr) { setRcvBuf(fd, 8192) })
	}}
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &stallingReceiver{l: l, readFirst: readFirst}
	r.wg.Add(1)
	go r.serve()
	t.Cleanup(func() { l.Close(); r.wg.Wait() })
	return r
}

func (r *stallingReceiver) serve() {
	defer r.wg.Done()
	for first := true; ; first = false {
		c, err := r.l.Accept()
		if err != nil {
			return
		}
		if first {
			io.ReadFull(c, make([]byte, r.readFirst))
			time.Sleep(300 * time.Millisecond) // the sender fills its buffers and blocks
			c.(*net.TCPConn).SetLinger(0)      // close with a reset
			c.Close()
			continue
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer c.Close()
			octetcounting.NewParser(gosyslog.WithListener(func(res *gosyslog.Result) {
				r.mu.Lock()
				defer r.mu.Unlock()
				if res.Error != nil {
					r.errs = append(r.errs, res.Error)
					return
				}
				sm := res.Message.(*rfc5424.SyslogMessage)
				r.ids = append(r.ids, (*sm.StructuredData)[DefaultSDID]["id"])
			})).Parse(c)
		}()
	}
}

func (r *stallingReceiver) received() ([]string, []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...), append([]error(nil), r.errs...)
}

// TestWriteFailureReportsUnwritten resets the connection in the middle of
// a large batch: Write reports exactly the records it did not write (a
// suffix of the batch), and writing those again delivers them, once, over a
// new connection.
func TestWriteFailureReportsUnwritten(t *testing.T) {
	r := newStallingReceiver(t, 64<<10)
	c := configFor("tcp://" + r.l.Addr().String())
	c.Framing = framingOctet // the receiver parses octet counting
	s := newTestSink(t, c)
	const n = 6000 // ~8 MB: more than the socket buffers hold
	recs := testRecords(t, 0, n)
	err := s.Write(context.Background(), recs)
	var be *pipeline.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("want a *BatchError after a reset mid-batch, got %v", err)
	}
	first := be.Items[0].Index
	for k, it := range be.Items {
		if it.Index != first+k || pipeline.IsPermanent(it.Err) {
			t.Fatalf("failed records must be a suffix of transient errors; item %d = %d (%v)", k, it.Index, it.Err)
		}
	}
	if be.Items[len(be.Items)-1].Index != n-1 || first < 64<<10/1500 {
		t.Fatalf("failed %d…%d of %d", first, be.Items[len(be.Items)-1].Index, n)
	}
	t.Logf("reset after %d of %d records were written: %v", first, n, err)

	retry := recs[first:]
	if err := s.Write(context.Background(), retry); err != nil {
		t.Fatalf("retry: %v", err)
	}
	s.Close()
	var ids []string
	waitFor(t, 10*time.Second, "the retried records", func() bool {
		var errs []error
		ids, errs = r.received()
		if len(errs) > 0 {
			t.Fatalf("receiver: %v", errs)
		}
		return len(ids) >= len(retry)
	})
	for i, id := range ids {
		if i >= len(retry) || id != retry[i].ID {
			t.Fatalf("second connection got %s at %d", id, i)
		}
	}
	if s.Reconnects() != 1 {
		t.Errorf("Reconnects() = %d, want 1", s.Reconnects())
	}
}

// TestWriteHonoursContext: a receiver that stops reading does not hold
// Write beyond the caller's deadline.
func TestWriteHonoursContext(t *testing.T) {
	r := newStallingReceiver(t, 0)
	s := newTestSink(t, configFor("tcp://"+r.l.Addr().String()))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Write(ctx, testRecords(t, 0, 6000))
	if err == nil || !strings.Contains(err.Error(), "deadline") && !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("want a deadline error, got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Write returned after %v", d)
	}
}
