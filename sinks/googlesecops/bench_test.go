package googlesecops

import (
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
	"github.com/sophos-connect/sophos-connect/sinks/googlesecops/googlesecopstest"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
)

// BenchmarkGoogleSecOps writes batches of 1000 records (format raw,
// requests under 1 MB) through logs.import and through the v2
// batchCreate to an API that costs little: googlesecopstest in its
// CountOnly mode (tokens, paths, limits and answers as in the tests; the
// entries of each request counted, none decoded).
//
//	go test -run '^$' -bench 'BenchmarkGoogleSecOps$' -benchtime 50x ./sinks/googlesecops/
func BenchmarkGoogleSecOps(b *testing.B) {
	for _, api := range []string{"v1alpha", "v2"} {
		b.Run(api, func(b *testing.B) {
			srv := testServer(b, googlesecopstest.Options{CountOnly: true})
			s := started(b, testConfig(b, srv, api))
			outtest.Bench(b, s.Write, func() int { return int(s.lastBytes.Load()) })
			if want := (b.N + 1) * 1000; srv.Stats().Logs != want {
				b.Fatalf("the receiver counted %d entries, want %d", srv.Stats().Logs, want)
			}
		})
	}
}

// BenchmarkGoogleSecOpsEncode is the sink's encode path alone: 1000
// records (format raw) into the entries of logs.import and of the v2
// batchCreate.
//
//	go test -run '^$' -bench 'BenchmarkGoogleSecOpsEncode' -benchtime 200x ./sinks/googlesecops/
func BenchmarkGoogleSecOpsEncode(b *testing.B) {
	for _, api := range []string{"v1alpha", "v2"} {
		b.Run(api, func(b *testing.B) {
			enc, err := encoding.New("raw", encoding.Options{})
			if err != nil {
				b.Fatal(err)
			}
			s := &Sink{cfg: Config{API: api}, enc: enc}
			outtest.BenchEncode(b, func(batch []*pipeline.Record) {
				e, be := s.encode(batch)
				if len(be.Items) > 0 {
					b.Fatal(be)
				}
				s.batches.Release(e)
			})
		})
	}
}
