package relp

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		txnr int
		cmd  string
		data string
		want string
	}{
		{1, "open", "relp_version=0\ncommands=syslog", "1 open 30 relp_version=0\ncommands=syslog\n"},
		{2, "rsp", "200 OK", "2 rsp 6 200 OK\n"},
		{0, "serverclose", "", "0 serverclose 0\n"},
		{MaxTxnr, "syslog", "<13>msg\nwith LF", "999999999 syslog 15 <13>msg\nwith LF\n"},
	} {
		b := AppendFrame(nil, tt.txnr, tt.cmd, []byte(tt.data))
		if string(b) != tt.want {
			t.Errorf("AppendFrame = %q, want %q", b, tt.want)
		}
		f, n, err := ParseFrame(append(b, "junk"...), 1<<20)
		if err != nil || n != len(b) || f.Txnr != tt.txnr || f.Command != tt.cmd || string(f.Data) != tt.data {
			t.Errorf("ParseFrame(%q) = %+v, %d, %v", b, f, n, err)
		}
	}
}

func TestFrameErrors(t *testing.T) {
	for _, in := range []string{
		"x rsp 0\n", "1 rsp 0 \n", "1  rsp 0\n", "1 rsp 6 200 OK", "1 rsp 6 200 OKX", "1 rsp 3\n",
		"1234567890 rsp 0\n", "1 rsp 1234567890 x\n", "1 r5p 0\n", "1 " + string(bytes.Repeat([]byte("a"), 33)) + " 0\n",
		"1 rsp 99 short\n", "1 rsp", "1 rsp 2000 " + string(bytes.Repeat([]byte("x"), 2000)) + "\n",
	} {
		if f, _, err := ParseFrame([]byte(in), 1000); err == nil {
			t.Errorf("ParseFrame(%.40q) accepted %+v", in, f)
		} else if !errors.Is(err, ErrFrame) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("ParseFrame(%.40q): %v is neither ErrFrame nor unexpected EOF", in, err)
		}
	}
	if _, _, err := ParseFrame(nil, 10); err != io.EOF {
		t.Errorf("empty input: %v, want io.EOF", err)
	}
}

func TestParseResponse(t *testing.T) {
	r, err := ParseResponse([]byte("200 OK\nrelp_version=0\ncommands=syslog"))
	if err != nil || !r.OK() || r.Text != "OK" || !offers(r.Data, "commands", "syslog") {
		t.Fatalf("%+v %v", r, err)
	}
	r, err = ParseResponse([]byte("500 data too long"))
	if err != nil || r.OK() || r.Code != 500 || r.Text != "data too long" {
		t.Fatalf("%+v %v", r, err)
	}
	for _, in := range []string{"", "OK", "20 OK", "abc x"} {
		if _, err := ParseResponse([]byte(in)); err == nil {
			t.Errorf("ParseResponse(%q) accepted", in)
		}
	}
	if offers([]byte("commands=foo, syslog2"), "commands", "syslog") || !offers([]byte("x=1\ncommands=foo, syslog"), "commands", "syslog") {
		t.Error("offers")
	}
}

// FuzzReadFrame: the parser never panics, never reads past the frame it
// returns, honours the data limit, and what it accepts re-encodes to the
// same bytes.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte("1 rsp 6 200 OK\n"))
	f.Add([]byte("0 serverclose 0\n"))
	f.Add([]byte("1 open 30 relp_version=0\ncommands=syslog\n2 rsp 0\n"))
	f.Add([]byte("999999999 syslog 3 a\nb\n"))
	f.Add([]byte("12 rsp 99999 x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := ParseFrame(b, 4096)
		if err != nil {
			return
		}
		if n > len(b) || len(fr.Data) > 4096 {
			t.Fatalf("n %d of %d, data %d", n, len(b), len(fr.Data))
		}
		if re := AppendFrame(nil, fr.Txnr, fr.Command, fr.Data); !bytes.Equal(re, b[:n]) {
			// Only leading zeros may differ ("01 rsp 0" reads as 1).
			g, _, err := ParseFrame(re, 4096)
			if err != nil || g.Txnr != fr.Txnr || g.Command != fr.Command || !bytes.Equal(g.Data, fr.Data) {
				t.Fatalf("re-encoding %q gives %q", b[:n], re)
			}
		}
	})
}
