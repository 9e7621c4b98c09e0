package relp

import (
	"bufio"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// scripted serves one session: the open is accepted, then answer decides
// what follows each syslog frame (frames to send back; nil: nothing; stop:
// close the connection). Protocol paths a real imrelp does not produce on
// demand (refusals, serverclose mid-batch, a bogus rsp) are driven here;
// the normal paths are tested against rsyslog in the syslog package.
func scripted(t *testing.T, answer func(f Frame) (reply []string, stop bool)) net.Conn {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for {
			f, err := ReadFrame(r, 1<<20)
			if err != nil {
				return
			}
			if f.Command == "open" {
				c.Write(AppendFrame(nil, f.Txnr, "rsp", []byte("200 OK\nrelp_version=0\ncommands=syslog")))
				continue
			}
			reply, stop := answer(f)
			for _, s := range reply {
				c.Write([]byte(s))
			}
			if stop {
				return
			}
		}
	}()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { conn.Close() })
	return conn
}

func rsp(f Frame, data string) string { return string(AppendFrame(nil, f.Txnr, "rsp", []byte(data))) }

func msgs(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte("<13>m" + strings.Repeat("x", i))
	}
	return out
}

func TestSendRefusalIsPerMessage(t *testing.T) {
	conn := scripted(t, func(f Frame) ([]string, bool) {
		if len(f.Data) == 7 { // the third message
			return []string{rsp(f, "500 no space")}, false
		}
		return []string{rsp(f, "200 OK")}, false
	})
	c, err := Open(conn, 2)
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 5)
	if err := c.Send(msgs(5), errs); err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if (i == 2) != (e != nil) {
			t.Fatalf("errs = %v", errs)
		}
	}
	if !strings.Contains(errs[2].Error(), "500 no space") {
		t.Errorf("refusal: %v", errs[2])
	}
}

func TestSendServerCloseLeavesRestUnacknowledged(t *testing.T) {
	n := 0
	conn := scripted(t, func(f Frame) ([]string, bool) {
		n++
		if n == 4 {
			return []string{"0 serverclose 0\n"}, true
		}
		return []string{rsp(f, "200 OK")}, false
	})
	c, err := Open(conn, 3)
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 10)
	err = c.Send(msgs(10), errs)
	if err == nil || !strings.Contains(err.Error(), "serverclose") {
		t.Fatalf("Send: %v", err)
	}
	for i, e := range errs {
		if (i < 3) != (e == nil) || (e != nil && !errors.Is(e, ErrNotAcknowledged)) {
			t.Fatalf("errs[%d] = %v (all: %v)", i, e, errs)
		}
	}
	if err := c.Send(msgs(1), errs[:1]); err == nil {
		t.Error("a broken session sent again")
	}
}

func TestSendRejectsUnknownTransaction(t *testing.T) {
	conn := scripted(t, func(f Frame) ([]string, bool) {
		return []string{string(AppendFrame(nil, f.Txnr+100, "rsp", []byte("200 OK")))}, false
	})
	c, err := Open(conn, 4)
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 3)
	if err := c.Send(msgs(3), errs); !errors.Is(err, ErrFrame) {
		t.Fatalf("Send: %v", err)
	}
	for _, e := range errs {
		if e == nil {
			t.Fatal("a message counted as acknowledged by a bogus rsp")
		}
	}
}

// TestSendWindowAndWrap: the server answers only once the client stops
// sending, so each round shows how many frames were outstanding: exactly
// the window. Transaction numbers wrap from MaxTxnr to 1.
func TestSendWindowAndWrap(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rounds := make(chan []int, 100)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		var round []int
		for {
			c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			f, err := ReadFrame(r, 1<<20)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && r.Buffered() == 0 {
				rounds <- round
				for _, txnr := range round {
					c.Write(AppendFrame(nil, txnr, "rsp", []byte("200 OK")))
				}
				round = nil
				continue
			}
			if err != nil {
				close(rounds)
				return
			}
			if f.Command == "open" {
				c.Write(AppendFrame(nil, f.Txnr, "rsp", []byte("200 OK\nrelp_version=0\ncommands=syslog")))
				continue
			}
			round = append(round, f.Txnr)
		}
	}()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	c, err := Open(conn, 4)
	if err != nil {
		t.Fatal(err)
	}
	c.txnr = MaxTxnr - 2
	errs := make([]error, 10)
	if err := c.Send(msgs(10), errs); err != nil {
		t.Fatal(err)
	}
	var all []int
	for len(all) < 10 {
		round := <-rounds
		if len(round) > 4 {
			t.Fatalf("%d frames outstanding, window 4", len(round))
		}
		all = append(all, round...)
	}
	want := []int{MaxTxnr - 1, MaxTxnr, 1, 2, 3, 4, 5, 6, 7, 8}
	for i := range want {
		if all[i] != want[i] {
			t.Fatalf("transaction numbers %v, want %v", all, want)
		}
	}
}

func TestOpenRefusals(t *testing.T) {
	for _, tt := range []struct{ reply, want string }{
		{string(AppendFrame(nil, 1, "rsp", []byte("500 not accepted"))), "refused: 500 not accepted"},
		{string(AppendFrame(nil, 1, "rsp", []byte("200 OK\ncommands=other"))), "does not offer the syslog command"},
		{"0 serverclose 0\n", "serverclose"},
		{"garbage\n", "malformed RELP frame"},
	} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			ReadFrame(bufio.NewReader(c), 1<<20)
			c.Write([]byte(tt.reply))
			time.Sleep(100 * time.Millisecond)
			c.Close()
		}()
		conn, _ := net.Dial("tcp", l.Addr().String())
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = Open(conn, 1)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("reply %q: %v, want %q", tt.reply, err, tt.want)
		}
		conn.Close()
		l.Close()
	}
}
