package googlesecops

import (
	"testing"

	"github.com/sophos-connect/sophos-connect/sinks/googlesecops/googlesecopstest"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
)

// BenchmarkGoogleSecOps writes batches of 1000 records (format raw,
// requests under 1 MB) through logs.import and through the v2
// batchCreate to the in-process API, which decodes and checks every entry.
//
//	go test -run '^$' -bench BenchmarkGoogleSecOps -benchtime 50x ./sinks/googlesecops/
func BenchmarkGoogleSecOps(b *testing.B) {
	for _, api := range []string{"v1alpha", "v2"} {
		b.Run(api, func(b *testing.B) {
			srv := testServer(b, googlesecopstest.Options{DiscardLogs: true})
			s := started(b, testConfig(b, srv, api))
			outtest.Bench(b, s.Write, func() int { return int(s.lastBytes.Load()) })
		})
	}
}
