package s3

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"testing"

	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
)

// TestConcurrentWrites: 4 batches in Write at once (as the pipeline's
// worker has them for this ConcurrentSink), each cut into objects of 50
// records, every S3 call of all of them through one limiter of 4: each
// batch builds its objects in its own buffers, and every record is stored
// exactly once.
func TestConcurrentWrites(t *testing.T) {
	st, url := newStubS3(t)
	c := DefaultConfig()
	c.Bucket, c.Endpoint, c.ForcePathStyle, c.Region = testBucket, url, true, "us-east-1"
	c.AccessKeyID, c.SecretAccessKey = testKey, testSecret
	c.MaxRecords = 50
	c.Request.Concurrency = 4
	s := started(t, c)
	s.lim.ResetMaxInFlight()
	received := func() map[string]int {
		st.mu.Lock()
		defer st.mu.Unlock()
		got := map[string]int{}
		for key, body := range st.objects {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			lines, err := io.ReadAll(zr)
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			sc := bufio.NewScanner(bytes.NewReader(lines))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				got[outtest.RecordID(sc.Bytes())]++
			}
		}
		return got
	}
	outtest.ConcurrentWrites(t, s, outtest.Records(t, "conc", 1000), 4, received, s.lim.MaxInFlight, 4)
}
