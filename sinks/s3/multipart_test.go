package s3

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
)

// stubS3 answers the calls the sink makes (HeadBucket, PutObject and the
// multipart upload: create, parts, complete, abort), keeps what was
// completed, and can refuse completions: to check what only a store that
// misbehaves on cue shows. The real-store tests run against SeaweedFS.
type stubS3 struct {
	mu           sync.Mutex
	objects      map[string][]byte
	uploads      map[string]map[int][]byte
	failComplete bool
	aborted      int
	next         int
}

func newStubS3(t *testing.T) (*stubS3, string) {
	st := &stubS3{objects: map[string][]byte{}, uploads: map[string]map[int][]byte{}}
	srv := httptest.NewServer(st)
	t.Cleanup(srv.Close)
	return st, srv.URL
}

func (st *stubS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st.mu.Lock()
	defer st.mu.Unlock()
	q := r.URL.Query()
	key := strings.TrimPrefix(r.URL.Path, "/"+testBucket+"/")
	body, _ := io.ReadAll(r.Body)
	switch {
	case r.Method == http.MethodHead:
	case r.Method == http.MethodPost && q.Has("uploads"):
		st.next++
		id := fmt.Sprintf("upload-%d", st.next)
		st.uploads[id] = map[int][]byte{}
		fmt.Fprintf(w, `<InitiateMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId></InitiateMultipartUploadResult>`, testBucket, key, id)
	case r.Method == http.MethodPut && q.Has("uploadId"):
		var n int
		fmt.Sscan(q.Get("partNumber"), &n)
		st.uploads[q.Get("uploadId")][n] = body
		w.Header().Set("ETag", fmt.Sprintf(`"etag-%d"`, n))
	case r.Method == http.MethodPost && q.Has("uploadId"):
		if st.failComplete {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>`)
			return
		}
		parts := st.uploads[q.Get("uploadId")]
		var nums []int
		for n := range parts {
			nums = append(nums, n)
		}
		sort.Ints(nums)
		var whole []byte
		for _, n := range nums {
			whole = append(whole, parts[n]...)
		}
		st.objects[key] = whole
		delete(st.uploads, q.Get("uploadId"))
		fmt.Fprintf(w, `<CompleteMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><ETag>"x"</ETag></CompleteMultipartUploadResult>`, testBucket, key)
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		delete(st.uploads, q.Get("uploadId"))
		st.aborted++
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPut:
		st.objects[key] = body
		w.Header().Set("ETag", `"x"`)
	default:
		w.WriteHeader(http.StatusNotImplemented)
	}
}

// TestMultipartCompletionDecidesDelivery: a large object goes up in parts,
// and its records count as delivered only when the completion succeeded.
// A refused completion fails every record of the object (to be retried,
// not dead-lettered), aborts the upload and leaves no object; the retry
// writes the object under the same key, every record once.
func TestMultipartCompletionDecidesDelivery(t *testing.T) {
	st, url := newStubS3(t)
	c := DefaultConfig()
	c.Bucket, c.Endpoint, c.ForcePathStyle, c.Region = testBucket, url, true, "us-east-1"
	c.AccessKeyID, c.SecretAccessKey = testKey, testSecret
	c.PartSize = MinPartSize
	s := started(t, c)
	var recs []*pipeline.Record
	for i, r := range outtest.Records(t, "mp", 30000) {
		if r.Stream != pipeline.Events {
			continue
		}
		raw := strings.Replace(string(r.Raw), `"threat":"`, `"threat":"`+noise(i, 400), 1)
		nr, err := pipeline.NewRecord(r.Stream, r.Tenant, []byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &nr)
	}
	st.failComplete = true
	err := s.Write(t.Context(), recs)
	var be *pipeline.BatchError
	if !errors.As(err, &be) || len(be.Items) != len(recs) || pipeline.IsPermanent(be.Items[0].Err) {
		t.Fatalf("refused completion (object of %d bytes): %v", s.lastBytes.Load(), err)
	}
	if s.lastBytes.Load() <= MinPartSize || st.aborted != 1 || len(st.objects) != 0 || len(st.uploads) != 0 {
		t.Fatalf("%d bytes, %d aborted, %d objects, %d open uploads: want one aborted multipart upload and no object", s.lastBytes.Load(), st.aborted, len(st.objects), len(st.uploads))
	}
	st.failComplete = false
	if err := s.Write(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	if len(st.objects) != 1 {
		t.Fatalf("%d objects", len(st.objects))
	}
	for key, b := range st.objects {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		all, _ := io.ReadAll(zr)
		got := map[string]int{}
		for _, l := range bytes.Split(bytes.TrimSuffix(all, []byte("\n")), []byte("\n")) {
			got[outtest.RecordID(l)]++
		}
		if n := outtest.ExactlyOnce(t, outtest.IDs(recs), got, nil); n != 0 {
			t.Fatalf("%d repeats", n)
		}
	}
}
