package s3

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
)

// The benchmarks report records/s, the sink's process's CPU µs per record,
// the real peer's (peer-cpu-µs/record) and object bytes per record
// (B/record).
//
// BenchmarkS3 writes batches of 1000 and of 10000 records (the sink gathers
// up to max_records, 50000, per write) to a real SeaweedFS S3 gateway on
// loopback (skipped without $WEED_BIN): ndjson.gz objects of format raw,
// and Parquet objects of format ocsf.
//
//	go test -run '^$' -bench 'BenchmarkS3$' -benchtime 20x ./sinks/s3/
func BenchmarkS3(b *testing.B) {
	for _, object := range []string{"ndjson.gz", "parquet"} {
		for _, batch := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("%s/batch=%d", object, batch), func(b *testing.B) {
				w := startSeaweed(b)
				c := w.config()
				c.Object = object
				if object == "parquet" {
					c.Format = "ocsf"
				}
				s := started(b, c)
				// the gateway's first write sets up the bucket's volumes
				if err := s.Write(context.Background(), outtest.Records(b, "warm-up", 10)); err != nil {
					b.Fatal(err)
				}
				cpu0 := outtest.ProcessCPU(w.cmd.Process.Pid)
				outtest.BenchBatch(b, batch, s.Write, func() int { return int(s.lastBytes.Load()) })
				outtest.ReportPeerCPU(b, w.cmd.Process.Pid, cpu0, b.N*batch)
			})
		}
	}
}

// BenchmarkS3Discard writes batches of 1000 records (ndjson.gz) to an S3
// stub on loopback that reads each PUT and answers it with its ETag, without
// storing: the sink's own ceiling, uploads included.
//
//	go test -run '^$' -bench BenchmarkS3Discard -benchtime 200x ./sinks/s3/
func BenchmarkS3Discard(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := md5.New()
		io.Copy(h, r.Body)
		if r.Method == http.MethodPut {
			w.Header().Set("ETag", `"`+hex.EncodeToString(h.Sum(nil))+`"`)
		}
	}))
	b.Cleanup(srv.Close)
	c := DefaultConfig()
	c.Bucket, c.Endpoint, c.ForcePathStyle = "bench", srv.URL, true
	c.AccessKeyID, c.SecretAccessKey = "AKIDEXAMPLE", "example"
	s := started(b, c)
	outtest.Bench(b, s.Write, func() int { return int(s.lastBytes.Load()) })
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
				w, be, objs := s.prepare(batch)
				defer s.release(w)
				if err := be.ErrOrNil(); err != nil {
					return err
				}
				size := 0
				for _, o := range objs {
					body, _, err := s.build(w, o)
					if err != nil {
						return err
					}
					size += len(body)
				}
				s.lastBytes.Store(int64(size))
				return nil
			}, func() int { return int(s.lastBytes.Load()) })
		})
	}
}
