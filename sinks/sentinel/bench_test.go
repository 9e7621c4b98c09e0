package sentinel

import (
	"testing"

	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
	"github.com/sophos-connect/sophos-connect/sinks/sentinel/sentineltest"
)

// BenchmarkSentinel writes batches of 1000 records (format sentinel, gzip,
// calls under 1 MB) to the in-process Logs Ingestion API, which
// decompresses, parses and type-checks every row against the DCR.
//
//	go test -run '^$' -bench BenchmarkSentinel -benchtime 50x ./sinks/sentinel/
func BenchmarkSentinel(b *testing.B) {
	srv := testServer(b, sentineltest.Options{DiscardRows: true})
	s := started(b, testConfig(b, srv))
	outtest.Bench(b, s.Write, func() int { return int(s.lastBytes.Load()) })
}
