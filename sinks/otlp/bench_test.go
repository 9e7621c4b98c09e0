package otlp

import (
	"testing"

	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
	"github.com/sophos-connect/sophos-connect/sinks/otlp/otlptest"
)

// BenchmarkOTLP writes batches of 1000 records (format raw, gzip, 4 MiB
// requests) to the in-process OTLP/HTTP receiver, which decompresses and
// decodes every request.
//
//	go test -run '^$' -bench BenchmarkOTLP -benchtime 50x ./sinks/otlp/
func BenchmarkOTLP(b *testing.B) {
	for _, enc := range []string{"proto", "json"} {
		b.Run(enc, func(b *testing.B) {
			srv := testServer(b, otlptest.Options{})
			c := testConfig(srv.URL)
			c.Encoding = enc
			s := started(b, c)
			outtest.Bench(b, s.Write, func() int { return s.lastBytes })
		})
	}
}
