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

// seaweed is a real SeaweedFS on loopback: `weed s3stack` (master, volume
// server, and a filer with its S3 gateway in one process; the S3-only build
// of test/services/seaweedfs).
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

// weedBin is $WEED_BIN, or the binary .ci/run is building in the
// background: it writes "export WEED_BIN=…" to $WEED_ENV_FILE and then
// creates $WEED_ENV_FILE.done (or .failed). The tests wait for it at most
// $WEED_WAIT (default: until 5 minutes before the package's deadline, at
// least 4m — the package's tests must end within go test's 10m), in
// parallel with the other packages' tests. Without a SeaweedFS the
// tests skip, saying why, except under CI (CI set), where they fail: CI
// builds it (the trimmed build takes a few minutes cold) and must run them.
func weedBin(t testing.TB) string {
	t.Helper()
	weedOnce.Do(func() {
		if weedPath = os.Getenv("WEED_BIN"); weedPath != "" {
			return
		}
		env := os.Getenv("WEED_ENV_FILE")
		if env == "" {
			weedWhy = "no SeaweedFS: `eval \"$(bash test/services/gobuild.sh seaweedfs)\"` builds it and exports WEED_BIN (.ci/run builds it and sets WEED_ENV_FILE)"
			return
		}
		wait := 4 * time.Minute
		// As long as the package's deadline (go test's -timeout, 10m by
		// default) leaves the s3 tests their time: 2–2.5 minutes under
		// -race, twice that kept for a loaded CI machine.
		if dl, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
			if d, ok := dl.Deadline(); ok {
				wait = max(wait, time.Until(d)-5*time.Minute)
			}
		}
		if d, err := time.ParseDuration(os.Getenv("WEED_WAIT")); err == nil {
			wait = d
		}
		weedPath, weedWhy = waitForWeed(env, wait)
	})
	if weedPath == "" {
		if os.Getenv("CI") != "" {
			t.Fatal(weedWhy)
		}
		t.Skip(weedWhy)
	}
	return weedPath
}

// waitForWeed waits at most wait for the background build that reports to
// env: the binary's path, or why there is none.
func waitForWeed(env string, wait time.Duration) (path, why string) {
	for deadline := time.Now().Add(wait); ; time.Sleep(time.Second) {
		if _, err := os.Stat(env + ".failed"); err == nil {
			return "", "building SeaweedFS (test/services/gobuild.sh seaweedfs) failed: see .ci/run's log"
		}
		if _, err := os.Stat(env + ".done"); err == nil {
			b, _ := os.ReadFile(env)
			if _, p, ok := strings.Cut(strings.TrimSpace(string(b)), "WEED_BIN="); ok {
				return p, ""
			}
			return "", fmt.Sprintf("%s says done but names no WEED_BIN: %q", env, b)
		}
		if time.Now().After(deadline) {
			return "", fmt.Sprintf("SeaweedFS was still building after %s (WEED_WAIT): the S3 tests did not run", wait)
		}
	}
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
	ip, master := "-ip=127.0.0.1", "-master=127.0.0.1:"+strconv.Itoa(w.ports[0])
	port := func(i int) string { return "-port=" + strconv.Itoa(w.ports[i]) }
	w.cmd = exec.Command(w.bin, "s3stack",
		"--", "master", ip, "-ip.bind=127.0.0.1", port(0), "-peers=none", "-mdir="+w.dir, "-volumeSizeLimitMB=64", "-telemetry=false",
		"--", "volume", ip, "-ip.bind=127.0.0.1", port(1), "-dir="+w.dir, master,
		"--", "filer", ip, "-ip.bind=127.0.0.1", port(2), master, "-defaultStoreDir="+w.dir,
		"-s3", "-s3.port="+strconv.Itoa(w.ports[3]), "-s3.port.iceberg=0", "-s3.port.lance=0")
	// the gateway's admin identity
	w.cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+testKey, "AWS_SECRET_ACCESS_KEY="+testSecret)
	w.cmd.Stdout, w.cmd.Stderr = w.log, w.log
	if err := w.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	c := w.client()
	for deadline := time.Now().Add(90 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := c.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(testBucket)})
		if err != nil && strings.Contains(err.Error(), "NotFound") {
			// up, and new: make the bucket (a restarted one still has it)
			_, err = c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(testBucket)})
		}
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

// TestWaitForWeed: the harness takes the background build's binary when it
// is done, and says why there is none when it failed or is late (which CI
// turns into a failure).
func TestWaitForWeed(t *testing.T) {
	dir := t.TempDir()
	env := dir + "/weed.env"
	if p, why := waitForWeed(env, 1500*time.Millisecond); p != "" || !strings.Contains(why, "still building") {
		t.Fatalf("late build: %q, %q", p, why)
	}
	os.WriteFile(env+".failed", nil, 0o644)
	if p, why := waitForWeed(env, time.Minute); p != "" || !strings.Contains(why, "failed") {
		t.Fatalf("failed build: %q, %q", p, why)
	}
	os.Remove(env + ".failed")
	go func() {
		time.Sleep(500 * time.Millisecond)
		os.WriteFile(env, []byte("export WEED_BIN=/cache/seaweedfs\n"), 0o644)
		os.WriteFile(env+".done", nil, 0o644)
	}()
	if p, why := waitForWeed(env, time.Minute); p != "/cache/seaweedfs" {
		t.Fatalf("done build: %q, %q", p, why)
	}
}
