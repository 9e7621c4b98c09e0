package relp

import (
	"bufio"
	"bytes"
	"net"
	"testing"
	"time"
)

// ackServer answers the open and every syslog frame with rsp 200, flushing
// when its input runs dry: what the client itself can do, without a
// receiver's processing.
func ackServer(tb testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r, w := bufio.NewReader(c), bufio.NewWriter(c)
				for {
					f, err := ReadFrame(r, 1<<20)
					if err != nil {
						return
					}
					data := []byte("200 OK")
					if f.Command == "open" {
						data = []byte("200 OK\nrelp_version=0\ncommands=syslog")
					}
					w.Write(AppendFrame(nil, f.Txnr, "rsp", data))
					if r.Buffered() == 0 {
						w.Flush()
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// BenchmarkClient measures Send with 500-message batches of 1 KiB.
func BenchmarkClient(b *testing.B) {
	conn, err := net.Dial("tcp", ackServer(b))
	if err != nil {
		b.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(time.Minute))
	c, err := Open(conn, 128)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(time.Second)
	msgs := make([][]byte, 500)
	for i := range msgs {
		msgs[i] = bytes.Repeat([]byte("x"), 1024)
	}
	errs := make([]error, len(msgs))
	b.ResetTimer()
	start := time.Now()
	for done := 0; done < b.N; done += len(msgs) {
		if err := c.Send(msgs, errs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}
