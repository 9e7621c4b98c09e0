package s3

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
)

func newSink(t testing.TB, c Config) *Sink {
	t.Helper()
	s, err := New("s3", c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func started(t testing.TB, c Config) *Sink {
	t.Helper()
	s := newSink(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConfigFromYAML(t *testing.T) {
	b, err := os.ReadFile("testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	if err := config.DecodeStrict(&n, &c, "sinks[0]", config.CommonKeys...); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Bucket != "soc-archive" || c.Region != "eu-west-1" || c.MaxRecords != 20000 || c.MaxAge.D() != 2*time.Minute ||
		c.RoleARN == "" || c.PartSize != 32<<20 {
		t.Fatalf("decoded %+v", c)
	}
}

func TestValidateNamesEachBadKey(t *testing.T) {
	c := DefaultConfig()
	c.Bucket = "s3://Bad_Bucket"
	c.Layout = "security_lake"
	c.MaxRecords = 0
	c.PartSize = 1 << 20
	c.AccessKeyID = "AKIA…"
	c.RoleARN = "role/x"
	err := c.Validate()
	var list config.Errors
	if !errors.As(err, &list) {
		t.Fatalf("want config.Errors, got %v", err)
	}
	want := []string{"bucket", "layout", "account_id", "region", "max_records", "part_size", "access_key_id", "role_arn"}
	if len(list) != len(want) {
		t.Fatalf("got %d errors, want %d: %v", len(list), len(want), err)
	}
	for i, e := range list {
		var fe *config.FieldError
		if !errors.As(e, &fe) || fe.Key != want[i] {
			t.Errorf("error %d = %v, want a FieldError for %s", i, e, want[i])
		}
	}
}

// TestObjectsReadBack: a batch of two tenants' events and alerts becomes one
// object per stream, tenant and day, every record read back with the SDK
// exactly once, under the documented keys.
func TestObjectsReadBack(t *testing.T) {
	w := startSeaweed(t)
	s := started(t, w.config())
	recs := outtest.Records(t, "obj", 300)
	other, err := pipeline.NewRecord(recs[0].Stream, "tenant-b", []byte(strings.Replace(string(recs[0].Raw), `"obj-0000000"`, `"other-tenant"`, 1)))
	if err != nil || other.ID != "other-tenant" {
		t.Fatalf("%v %q", err, other.ID)
	}
	recs = append(recs, &other)
	if err := s.Write(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	objs := w.objects("sophos-central/")
	got := map[string]int{}
	for key, lines := range objs {
		for _, l := range lines {
			got[outtest.RecordID(l)]++
		}
		if !strings.HasSuffix(key, ".ndjson.gz") || !strings.Contains(key, "/tenant=") || !strings.Contains(key, "/dt=2024-05-14/") {
			t.Errorf("key %s", key)
		}
	}
	for _, id := range outtest.IDs(recs) {
		if got[id] != 1 {
			t.Fatalf("%s read back %d times", id, got[id])
		}
	}
	// events and alerts of tenant A, events of tenant B
	if len(objs) != 3 || s.objects.Load() != 3 {
		t.Fatalf("%d objects: %v", len(objs), keys(objs))
	}
	if _, ok := objs["sophos-central/event/tenant=tenant-b/dt=2024-05-14/"+strings.TrimPrefix(onlyKey(t, objs, "tenant=tenant-b"), "sophos-central/event/tenant=tenant-b/dt=2024-05-14/")]; !ok {
		t.Fatalf("keys %v", keys(objs))
	}
}

// TestRetryOverwrites: writing the same batch again (a retry after a lost
// answer) produces the same keys: the objects overwrite themselves, no
// record is stored twice.
func TestRetryOverwrites(t *testing.T) {
	w := startSeaweed(t)
	c := w.config()
	c.MaxRecords = 50 // several objects per group
	s := started(t, c)
	recs := outtest.Records(t, "again", 400)
	for range 2 {
		if err := s.Write(t.Context(), recs); err != nil {
			t.Fatal(err)
		}
	}
	objs := w.objects("")
	got := map[string]int{}
	for _, lines := range objs {
		if len(lines) > 50 {
			t.Fatalf("an object of %d records, max_records 50", len(lines))
		}
		for _, l := range lines {
			got[outtest.RecordID(l)]++
		}
	}
	for _, id := range outtest.IDs(recs) {
		if got[id] != 1 {
			t.Fatalf("%s stored %d times", id, got[id])
		}
	}
}

// TestMultipart: an object larger than part_size is uploaded in parts and
// read back whole.
func TestMultipart(t *testing.T) {
	w := startSeaweed(t)
	c := w.config()
	c.PartSize = MinPartSize
	c.Format = "python-json" // less compressible than raw… still ~10×: use many records
	s := started(t, c)
	recs := outtest.Records(t, "big", 60000)
	// random-ish bytes that gzip cannot shrink, so the object passes 5 MiB
	for i, r := range recs {
		raw := strings.Replace(string(r.Raw), `"threat":"`, `"threat":"`+noise(i, 300), 1)
		nr, err := pipeline.NewRecord(r.Stream, r.Tenant, []byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = &nr
	}
	c.MaxRecords = 100000
	s.cfg.MaxRecords = 100000
	events := recs[:0:0]
	for _, r := range recs {
		if r.Stream == pipeline.Events {
			events = append(events, r)
		}
	}
	if err := s.Write(t.Context(), events); err != nil {
		t.Fatal(err)
	}
	// the records span two days (two objects); the first is over part_size
	big := 0
	for _, b := range w.rawObjects("") {
		if len(b) > MinPartSize {
			big++
		}
	}
	if big == 0 {
		t.Fatalf("no object over part_size (%d bytes in all): nothing went up in parts", s.lastBytes.Load())
	}
	got := map[string]int{}
	for _, lines := range w.objects("") {
		for _, l := range lines {
			got[outtest.RecordID(l)]++
		}
	}
	if n := outtest.ExactlyOnce(t, outtest.IDs(events), got, nil); n != 0 {
		t.Fatalf("%d records twice", n)
	}
}

// TestStartFailsWithFix: a missing bucket and wrong credentials fail the
// start-up check with the fix, without the secret.
func TestStartFailsWithFix(t *testing.T) {
	w := startSeaweed(t)
	c := w.config()
	c.Bucket = "no-such-bucket"
	if err := newSink(t, c).Start(t.Context()); err == nil || !strings.Contains(err.Error(), "check bucket") {
		t.Fatalf("missing bucket: %v", err)
	}
	c = w.config()
	c.SecretAccessKey = "wrong-secret-value-987"
	err := newSink(t, c).Start(t.Context())
	if err == nil || strings.Contains(err.Error(), "wrong-secret") {
		t.Fatalf("wrong secret: %v", err)
	}
}

// TestPipelineExactlyOnceThroughOutage runs the real pipeline into SeaweedFS
// and stops the store in the middle of the run, then starts it again: every
// record is read back exactly once and the checkpoint is committed.
func TestPipelineExactlyOnceThroughOutage(t *testing.T) {
	w := startSeaweed(t)
	c := w.config()
	c.Timeout = config.Duration(5 * time.Second)
	var failed, ok atomic.Int64
	s := &counting{Sink: started(t, c), failed: &failed, ok: &ok}
	run := outtest.RunPipeline(t, s, 5000, 120*time.Second, func() {
		for deadline := time.Now().Add(30 * time.Second); ok.Load() < 2; {
			if time.Now().After(deadline) {
				t.Error("nothing written")
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		w.stop()
		time.Sleep(time.Second)
		w.start()
	})
	if !run.Committed || run.Stats.DeadLettered != 0 {
		t.Fatalf("run %+v", run)
	}
	got := map[string]int{}
	for _, lines := range w.objects("") {
		for _, l := range lines {
			got[outtest.RecordID(l)]++
		}
	}
	if repeats := outtest.ExactlyOnce(t, run.Want, got, nil); repeats != 0 {
		t.Fatalf("%d records stored more than once", repeats)
	}
	if failed.Load() == 0 {
		t.Fatal("no write failed: the outage did not bite")
	}
	t.Logf("%d records through a SeaweedFS restart (%d failed writes)", len(run.Want), failed.Load())
}

type counting struct {
	*Sink
	failed, ok *atomic.Int64
}

func (c *counting) Write(ctx context.Context, batch []*pipeline.Record) error {
	err := c.Sink.Write(ctx, batch)
	if err != nil {
		c.failed.Add(1)
	} else {
		c.ok.Add(1)
	}
	return err
}

func keys(m map[string][][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func onlyKey(t *testing.T, m map[string][][]byte, part string) string {
	var found string
	for k := range m {
		if strings.Contains(k, part) {
			if found != "" {
				t.Fatalf("two keys with %s", part)
			}
			found = k
		}
	}
	return found
}

// noise is n letters that gzip cannot compress much (xorshift).
func noise(seed, n int) string {
	x := uint64(seed)*2654435761 + 1
	b := make([]byte, n)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = 'a' + byte(x%26)
	}
	return string(b)
}
