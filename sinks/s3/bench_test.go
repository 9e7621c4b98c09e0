package s3

import (
	"testing"

	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
)

// BenchmarkS3 writes batches of 1000 records to a real SeaweedFS S3 gateway
// on loopback (skipped without $WEED_BIN): ndjson.gz objects of format raw,
// and Parquet objects of format ocsf. B/record is the object bytes.
//
//	go test -run '^$' -bench BenchmarkS3 -benchtime 50x ./sinks/s3/
func BenchmarkS3(b *testing.B) {
	for _, object := range []string{"ndjson.gz", "parquet"} {
		b.Run(object, func(b *testing.B) {
			w := startSeaweed(b)
			c := w.config()
			c.Object = object
			if object == "parquet" {
				c.Format = "ocsf"
			}
			s := started(b, c)
			outtest.Bench(b, s.Write, func() int { return s.lastBytes })
		})
	}
}
