package s3

import (
	"context"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
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

// BenchmarkS3Objects builds the objects of batches of 1000 records without
// uploading them (encoding, grouping, gzip or Parquet): the sink's own
// cost, measurable where no S3 server is at hand.
//
//	go test -run '^$' -bench BenchmarkS3Objects -benchtime 50x ./sinks/s3/
func BenchmarkS3Objects(b *testing.B) {
	for _, object := range []string{"ndjson.gz", "parquet"} {
		b.Run(object, func(b *testing.B) {
			c := DefaultConfig()
			c.Bucket, c.Region, c.AccessKeyID, c.SecretAccessKey = "bench", "us-east-1", "AKIDEXAMPLE", "example"
			c.Object = object
			if object == "parquet" {
				c.Format = "ocsf"
			}
			s := newSink(b, c)
			outtest.Bench(b, func(_ context.Context, batch []*pipeline.Record) error {
				s.lastBytes = 0
				be, objs := s.prepare(batch)
				if err := be.ErrOrNil(); err != nil {
					return err
				}
				for _, o := range objs {
					body, _, err := s.build(o)
					if err != nil {
						return err
					}
					s.lastBytes += len(body)
				}
				return nil
			}, func() int { return s.lastBytes })
		})
	}
}
