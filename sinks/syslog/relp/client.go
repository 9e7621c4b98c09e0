package relp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"time"
)

// Software is what the client offers as relp_software.
const Software = "sophos-connect,1,https://github.com/sophos-connect/sophos-connect"

// maxResponse bounds the DATA of frames the server sends (rsp and its
// offer are short; librelp's own limit is 128 KiB).
const maxResponse = 128 << 10

// ErrNotAcknowledged is the error of a message whose rsp never arrived.
var ErrNotAcknowledged = errors.New("no RELP acknowledgement received")

// Client is one RELP session on a connection. It is not safe for
// concurrent use.
type Client struct {
	conn   net.Conn
	r      *bufio.Reader
	w      *bufio.Writer
	window int
	txnr   int // the last transaction number used
	buf    []byte
	broken error
}

// Open starts a session on conn: it sends the offer and checks that the
// server accepts it and offers the syslog command. window is the number of
// messages Send keeps unacknowledged at most. The caller sets conn's
// deadlines.
func Open(conn net.Conn, window int) (*Client, error) {
	if window < 1 {
		window = 1
	}
	c := &Client{conn: conn, r: bufio.NewReaderSize(conn, 16<<10), w: bufio.NewWriterSize(conn, 64<<10), window: window}
	offer := []byte("relp_version=0\nrelp_software=" + Software + "\ncommands=syslog")
	txnr := c.next()
	if _, err := c.w.Write(AppendFrame(nil, txnr, "open", offer)); err != nil {
		return nil, err
	}
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	f, err := ReadFrame(c.r, maxResponse)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil, fmt.Errorf("RELP open: no answer to the offer (is this a RELP port? plain syslog receivers never answer): %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("RELP open: %w", err)
	}
	if f.Command == "serverclose" {
		return nil, errors.New("RELP open: the receiver closed the session (serverclose)")
	}
	if f.Command != "rsp" || f.Txnr != txnr {
		return nil, fmt.Errorf("RELP open: the receiver answered %q with transaction %d: is this a RELP port?", f.Command, f.Txnr)
	}
	rsp, err := ParseResponse(f.Data)
	if err != nil {
		return nil, fmt.Errorf("RELP open: %w", err)
	}
	if !rsp.OK() {
		return nil, fmt.Errorf("RELP open refused: %d %s", rsp.Code, rsp.Text)
	}
	if !offers(rsp.Data, "commands", "syslog") {
		return nil, fmt.Errorf("RELP open: the receiver does not offer the syslog command (offer %q)", rsp.Data)
	}
	return c, nil
}

// offers reports whether an offer (LF-separated name=value lines; values
// comma-separated) lists value under name.
func offers(offer []byte, name, value string) bool {
	for _, line := range bytes.Split(offer, []byte{'\n'}) {
		k, v, _ := bytes.Cut(line, []byte{'='})
		if string(bytes.TrimSpace(k)) != name {
			continue
		}
		for _, x := range bytes.Split(v, []byte{','}) {
			if string(bytes.TrimSpace(x)) == value {
				return true
			}
		}
	}
	return false
}

func (c *Client) next() int {
	c.txnr++
	if c.txnr > MaxTxnr {
		c.txnr = 1 // librelp wraps the same way
	}
	return c.txnr
}

// Send sends msgs as syslog commands, at most the window unacknowledged at
// a time, and waits for every rsp. Afterwards errs[i] is nil exactly when
// msgs[i] was answered "200 OK"; otherwise it says why (the receiver's
// refusal, or ErrNotAcknowledged). A non-nil result means the session is
// broken (connection error, serverclose, protocol error): the client must
// be closed, and the messages not acknowledged sent again on a new one.
func (c *Client) Send(msgs [][]byte, errs []error) error {
	for i := range errs {
		errs[i] = ErrNotAcknowledged
	}
	if c.broken != nil {
		return c.broken
	}
	pending := make(map[int]int, min(c.window, len(msgs))) // txnr → index
	sent := 0
	for sent < len(msgs) || len(pending) > 0 {
		for sent < len(msgs) && len(pending) < c.window {
			txnr := c.next()
			c.buf = AppendFrame(c.buf[:0], txnr, "syslog", msgs[sent])
			if _, err := c.w.Write(c.buf); err != nil {
				return c.fail(err)
			}
			pending[txnr] = sent
			sent++
		}
		if err := c.w.Flush(); err != nil {
			return c.fail(err)
		}
		// Read one response, then whatever else already arrived.
		for first := true; first || c.r.Buffered() > 0; first = false {
			f, err := ReadFrame(c.r, maxResponse)
			if err != nil {
				return c.fail(err)
			}
			switch f.Command {
			case "rsp":
				i, ok := pending[f.Txnr]
				if !ok {
					return c.fail(fmt.Errorf("%w: rsp for transaction %d, which is not outstanding", ErrFrame, f.Txnr))
				}
				delete(pending, f.Txnr)
				rsp, err := ParseResponse(f.Data)
				switch {
				case err != nil:
					return c.fail(err)
				case rsp.OK():
					errs[i] = nil
				default:
					errs[i] = fmt.Errorf("the RELP receiver answered %d %s", rsp.Code, rsp.Text)
				}
			case "serverclose":
				return c.fail(errors.New("the RELP receiver closed the session (serverclose)"))
			default:
				return c.fail(fmt.Errorf("%w: unexpected command %q from the receiver", ErrFrame, f.Command))
			}
		}
	}
	return nil
}

func (c *Client) fail(err error) error {
	c.broken = err
	return err
}

// Close ends the session politely (close, wait up to timeout for its rsp)
// and closes the connection.
func (c *Client) Close(timeout time.Duration) error {
	if c.broken == nil {
		c.conn.SetDeadline(time.Now().Add(timeout))
		txnr := c.next()
		if _, err := c.w.Write(AppendFrame(nil, txnr, "close", nil)); err == nil && c.w.Flush() == nil {
			for {
				f, err := ReadFrame(c.r, maxResponse)
				if err != nil || f.Command == "serverclose" || (f.Command == "rsp" && f.Txnr == txnr) {
					break
				}
			}
		}
		c.broken = errors.New("RELP session closed")
	}
	return c.conn.Close()
}
