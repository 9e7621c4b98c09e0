// Package relp is a client of the Reliable Event Logging Protocol as
// rsyslog's imrelp (librelp) speaks it: frames "TXNR SP COMMAND SP DATALEN
// [SP DATA] LF", a session opened with an offer (relp_version=0,
// commands=syslog), syslog messages sent as "syslog" commands inside a
// window of unacknowledged transactions, each answered by "rsp" with the
// same transaction number and "200 OK", "close" to end the session, and
// "serverclose" (transaction number 0) when the server goes away.
//
// No well-kept Go RELP library exists; this one is small on purpose: a
// frame parser (fuzzed), and a Client whose Send reports, per message,
// whether its rsp 200 arrived. Resending what was not acknowledged is the
// caller's job (the syslog sink returns those records to the pipeline,
// which retries them over a new session).
package relp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Limits from librelp: TXNR and DATALEN have at most 9 digits, command
// names at most 32 characters.
const (
	MaxTxnr       = 999999999
	maxDigits     = 9
	maxCommandLen = 32
)

// Frame is one RELP frame.
type Frame struct {
	Txnr    int
	Command string
	Data    []byte
}

// AppendFrame appends the encoding of (txnr, command, data) to dst.
func AppendFrame(dst []byte, txnr int, command string, data []byte) []byte {
	dst = strconv.AppendInt(dst, int64(txnr), 10)
	dst = append(dst, ' ')
	dst = append(dst, command...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(len(data)), 10)
	if len(data) > 0 {
		dst = append(dst, ' ')
		dst = append(dst, data...)
	}
	return append(dst, '\n')
}

// ErrFrame is wrapped by every malformed-frame error.
var ErrFrame = errors.New("malformed RELP frame")

func bad(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrFrame, fmt.Sprintf(format, a...))
}

// ReadFrame reads one frame. maxData bounds DATALEN (a frame announcing
// more is an error, so a broken peer cannot make the client allocate
// without limit). io.EOF means the peer closed between frames.
func ReadFrame(r *bufio.Reader, maxData int) (Frame, error) {
	var f Frame
	txnr, err := readNumber(r, ' ', true)
	if err != nil {
		return f, err
	}
	f.Txnr = txnr
	cmd, err := readCommand(r)
	if err != nil {
		return f, err
	}
	f.Command = cmd
	n, sep, err := readDataLen(r)
	if err != nil {
		return f, err
	}
	if n > maxData {
		return f, bad("DATALEN %d over the limit %d", n, maxData)
	}
	if n == 0 {
		if sep != '\n' {
			return f, bad("DATALEN 0 followed by %q, want LF", sep)
		}
		return f, nil
	}
	if sep != ' ' {
		return f, bad("DATALEN %d followed by %q, want SP", n, sep)
	}
	f.Data = make([]byte, n)
	if _, err := io.ReadFull(r, f.Data); err != nil {
		return f, unexpected(err)
	}
	c, err := r.ReadByte()
	if err != nil {
		return f, unexpected(err)
	}
	if c != '\n' {
		return f, bad("frame trailer %q, want LF", c)
	}
	return f, nil
}

// ParseFrame parses one frame from the start of b, returning it and its
// length (for the fuzz test and for tests reading frames from a buffer).
func ParseFrame(b []byte, maxData int) (Frame, int, error) {
	r := bufio.NewReader(bytes.NewReader(b))
	f, err := ReadFrame(r, maxData)
	if err != nil {
		return f, 0, err
	}
	return f, len(b) - r.Buffered(), nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readNumber reads 1-9 digits ended by end. first allows a clean io.EOF
// before any byte.
func readNumber(r *bufio.Reader, end byte, first bool) (int, error) {
	n, digits := 0, 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			if err == io.EOF && first && digits == 0 {
				return 0, io.EOF
			}
			return 0, unexpected(err)
		}
		switch {
		case c >= '0' && c <= '9':
			if digits == maxDigits {
				return 0, bad("number longer than %d digits", maxDigits)
			}
			n = n*10 + int(c-'0')
			digits++
		case c == end && digits > 0:
			return n, nil
		default:
			return 0, bad("unexpected byte %q in a number", c)
		}
	}
}

// readDataLen reads DATALEN, ended by SP (data follows) or LF (no data).
func readDataLen(r *bufio.Reader) (n int, sep byte, err error) {
	digits := 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			return 0, 0, unexpected(err)
		}
		switch {
		case c >= '0' && c <= '9':
			if digits == maxDigits {
				return 0, 0, bad("DATALEN longer than %d digits", maxDigits)
			}
			n = n*10 + int(c-'0')
			digits++
		case (c == ' ' || c == '\n') && digits > 0:
			return n, c, nil
		default:
			return 0, 0, bad("unexpected byte %q in DATALEN", c)
		}
	}
}

// readCommand reads 1-32 ASCII letters ended by SP.
func readCommand(r *bufio.Reader) (string, error) {
	var b [maxCommandLen]byte
	n := 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			return "", unexpected(err)
		}
		switch {
		case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
			if n == maxCommandLen {
				return "", bad("command longer than %d characters", maxCommandLen)
			}
			b[n] = c
			n++
		case c == ' ' && n > 0:
			return string(b[:n]), nil
		default:
			return "", bad("unexpected byte %q in a command", c)
		}
	}
}

// Response is the DATA of an rsp frame: "CODE SP TEXT [LF DATA]".
type Response struct {
	Code int
	Text string
	Data []byte // the offer in an open's rsp
}

// OK reports a 200 response.
func (r Response) OK() bool { return r.Code == 200 }

// ParseResponse parses an rsp frame's data.
func ParseResponse(data []byte) (Response, error) {
	line, rest, _ := bytes.Cut(data, []byte{'\n'})
	code, text, _ := bytes.Cut(line, []byte{' '})
	if len(code) != 3 {
		return Response{}, bad("rsp data %.40q does not start with a 3-digit code", data)
	}
	c, err := strconv.Atoi(string(code))
	if err != nil || c < 100 {
		return Response{}, bad("rsp data %.40q does not start with a 3-digit code", data)
	}
	return Response{Code: c, Text: string(text), Data: rest}, nil
}
