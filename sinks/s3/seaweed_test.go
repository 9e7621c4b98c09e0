package s3

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sophos-connect/sophos-connect/config"
)

const (
	testKey    = "sophos-test-key"
	testSecret = "sophos-test-secret-0123456789"
	testBucket = "sophos-archive"
)

// seaweed is a real SeaweedFS (`weed mini`: master, volume, filer and the
// S3 gateway in one process, test/services/seaweedfs) on loopback.
type seaweed struct {
	t        testing.TB
	bin, dir string
	ports    []int // master, volume, filer, s3
	cmd      *exec.Cmd
	log      *bytes.Buffer
}

// startSeaweed runs $WEED_BIN (built by .ci/run); without it the test is
// skipped, or fails under CI.
func startSeaweed(t testing.TB) *seaweed {
	t.Helper()
	bin := weedBin(t)
	w := &seaweed{t: t, bin: bin, dir: t.TempDir(), ports: freePortPairs(t, 4)}
	w.start()
	t.Cleanup(func() {
		if w.cmd != nil {
			w.cmd.Process.Kill()
			w.cmd.Wait()
		}
	})
	return w
}

var (
	weedOnce sync.Once
	weedPath string
	weedWhy  string
)

// weedBin is $WEED_BIN, or the binary .ci/run is still building in the
// background: it writes "export WEED_BIN=…" to $WEED_ENV_FILE and then
// creates $WEED_ENV_FILE.done (or .failed). The tests wait for it at most
// $WEED_WAIT (default 3m: the package's tests must end within go test's 10m), in parallel with the other packages' tests;
// a build that is not done by then skips the tests and says so (a cold
// SeaweedFS build takes long on a small machine).
func weedBin(t testing.TB) string {
	t.Helper()
	weedOnce.Do(func() {
		if weedPath = os.Getenv("WEED_BIN"); weedPath != "" {
			return
		}
		env := os.Getenv("WEED_ENV_FILE")
		if env == "" {
			weedWhy = "no SeaweedFS: `eval \"$(bash test/services/gobuild.sh seaweedfs)\"` builds it and exports WEED_BIN"
			return
		}
		wait := 3 * time.Minute
		if d, err := time.ParseDuration(os.Getenv("WEED_WAIT")); err == nil {
			wait = d
		}
		for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
			if _, err := os.Stat(env + ".failed"); err == nil {
				weedWhy = "building SeaweedFS failed (see .ci/run's log): the S3 tests did not run"
				return
			}
			if _, err := os.Stat(env + ".done"); err == nil {
				b, _ := os.ReadFile(env)
				if _, p, ok := strings.Cut(strings.TrimSpace(string(b)), "WEED_BIN="); ok {
					weedPath = p
					return
				}
			}
		}
		weedWhy = fmt.Sprintf("SeaweedFS was still building after %s (a cold build of its Go modules is slow here; the next run finds it cached): the S3 tests did not run", wait)
	})
	if weedPath == "" {
		if os.Getenv("CI") != "" && os.Getenv("WEED_ENV_FILE") == "" {
			t.Fatal("WEED_BIN is not set: .ci/run builds SeaweedFS from test/services/seaweedfs in the background and sets WEED_ENV_FILE")
		}
		t.Skip(weedWhy)
	}
	return weedPath
}

// freePortPairs finds n ports p with p and p+10000 (SeaweedFS's gRPC port)
// both free.
func freePortPairs(t testing.TB, n int) []int {
	var out []int
	for tries := 0; len(out) < n && tries < 1000; tries++ {
		p := 20000 + rand.IntN(10000)
		ok := true
		for _, q := range []int{p, p + 10000} {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(q))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		for _, o := range out {
			if o == p {
				ok = false
			}
		}
		if ok {
			out = append(out, p)
		}
	}
	if len(out) < n {
		t.Fatal("no free ports")
	}
	return out
}

func (w *seaweed) endpoint() string { return fmt.Sprintf("http://127.0.0.1:%d", w.ports[3]) }

func (w *seaweed) start() {
	w.t.Helper()
	w.log = &bytes.Buffer{}
	w.cmd = exec.Command(w.bin, "mini", "-dir="+w.dir, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-master.port="+strconv.Itoa(w.ports[0]), "-volume.port="+strconv.Itoa(w.ports[1]),
		"-filer.port="+strconv.Itoa(w.ports[2]), "-s3.port="+strconv.Itoa(w.ports[3]),
		"-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false", "-master.telemetry=false")
	w.cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+testKey, "AWS_SECRET_ACCESS_KEY="+testSecret, "S3_BUCKET="+testBucket)
	w.cmd.Stdout, w.cmd.Stderr = w.log, w.log
	if err := w.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	c := w.client()
	for deadline := time.Now().Add(90 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := c.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(testBucket)})
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("SeaweedFS's S3 gateway did not come up at %s: %v\n%s", w.endpoint(), err, w.log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (w *seaweed) stop() {
	w.t.Helper()
	w.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- w.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		w.cmd.Process.Kill()
		<-done
	}
	w.cmd = nil
}

// config points a sink at the gateway with the test credentials.
func (w *seaweed) config() Config {
	c := DefaultConfig()
	c.Bucket, c.Endpoint, c.ForcePathStyle = testBucket, w.endpoint(), true
	c.AccessKeyID, c.SecretAccessKey = testKey, testSecret
	c.Timeout = config.Duration(30 * time.Second)
	return c
}

// client is an SDK client of its own, to read back what the sink wrote.
func (w *seaweed) client() *awss3.Client {
	c := w.config()
	s, err := New("reader", c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		w.t.Fatal(err)
	}
	return s.client
}

// objects reads every object under prefix back: key → its gunzipped lines.
func (w *seaweed) objects(prefix string) map[string][][]byte {
	w.t.Helper()
	c := w.client()
	ctx := context.Background()
	out := map[string][][]byte{}
	p := awss3.NewListObjectsV2Paginator(c, &awss3.ListObjectsV2Input{Bucket: aws.String(testBucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, o := range page.Contents {
			res, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(testBucket), Key: o.Key})
			if err != nil {
				w.t.Fatal(err)
			}
			zr, err := gzip.NewReader(res.Body)
			if err != nil {
				w.t.Fatalf("%s: %v", *o.Key, err)
			}
			b, err := io.ReadAll(zr)
			res.Body.Close()
			if err != nil {
				w.t.Fatalf("%s: %v", *o.Key, err)
			}
			out[*o.Key] = bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
		}
	}
	return out
}
