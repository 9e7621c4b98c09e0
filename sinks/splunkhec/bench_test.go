package splunkhec

import (
	"fmt"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
	"github.com/sophos-connect/sophos-connect/sinks/splunkhec/splunkhectest"
)

// BenchmarkSplunkHEC writes batches of 1000 records (raw format, gzip) to
// the in-process HEC, which decompresses and parses every envelope; with
// ack the sink also waits for each request's acknowledgement (polled every
// 5 ms here; a real indexer takes longer, see the README).
//
//	go test -run '^$' -bench BenchmarkSplunkHEC -benchtime 50x ./sinks/splunkhec/
func BenchmarkSplunkHEC(b *testing.B) {
	for _, ack := range []bool{false, true} {
		b.Run(fmt.Sprintf("ack=%v", ack), func(b *testing.B) {
			srv := splunkhectest.New(splunkhectest.Options{DiscardEvents: true, Tokens: map[string]splunkhectest.Token{"t": {Ack: ack}}})
			defer srv.Close()
			c := testConfig(srv, "t")
			c.Ack, c.AckPollInterval = ack, config.Duration(5*time.Millisecond)
			s := started(b, c)
			outtest.Bench(b, s.Write, func() int { return int(s.lastBytes.Load()) })
		})
	}
}
