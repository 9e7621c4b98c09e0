package httpsink

import (
	"testing"

	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
	"github.com/sophos-connect/sophos-connect/sinks/httpsink/httpsinktest"
)

// BenchmarkHTTPSink writes batches of 1000 records (raw, NDJSON, gzip) to
// the in-process receiver, which decompresses, splits and parses every
// record.
//
//	go test -run '^$' -bench BenchmarkHTTPSink -benchtime 50x ./sinks/httpsink/
func BenchmarkHTTPSink(b *testing.B) {
	srv := httpsinktest.New(httpsinktest.Options{})
	defer srv.Close()
	c := testConfig(srv)
	c.Compression = "gzip"
	s := started(b, c)
	outtest.Bench(b, s.Write, func() int { return int(s.lastBytes.Load()) })
}
