package dedupe

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/internal/cputime"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/transforms/internal/samples"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2024, 5, 14, 8, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func rec(stream pipeline.Stream, id string) *pipeline.Record {
	return &pipeline.Record{Stream: stream, Tenant: "t", ID: id, Raw: []byte(`{"id":"` + id + `"}`)}
}

func open(t testing.TB, dir string, c *clock, mod func(*Config)) *Dedupe {
	t.Helper()
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	d, err := newDedupe("test", cfg, dir, slog.New(slog.DiscardHandler), c.now)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// forwarded runs records through Process and returns the ids that passed.
func forwarded(t testing.TB, d *Dedupe, recs ...*pipeline.Record) []*pipeline.Record {
	t.Helper()
	var out []*pipeline.Record
	for _, r := range recs {
		var err error
		if out, err = d.Process(r, out); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func ids(rs []*pipeline.Record) string {
	var s []string
	for _, r := range rs {
		s = append(s, string(r.Stream[0])+":"+r.ID)
	}
	return strings.Join(s, " ")
}

// TestSequence walks the stage through pass, pending repeats, delivery,
// TTL expiry and the stream being part of the key.
func TestSequence(t *testing.T) {
	type step struct {
		advance time.Duration
		process []*pipeline.Record
		want    string // forwarded
		deliver []*pipeline.Record
	}
	a, b := rec(pipeline.Events, "a"), rec(pipeline.Events, "b")
	aAlert := rec(pipeline.Alerts, "a")
	steps := []step{
		{process: []*pipeline.Record{a, b, a}, want: "e:a e:b"}, // a repeat within one page: pending
		{process: []*pipeline.Record{aAlert}, want: "a:a"},      // same id, other stream
		{process: []*pipeline.Record{a}, want: "", deliver: []*pipeline.Record{a, b, aAlert}},
		{advance: time.Hour, process: []*pipeline.Record{a, b, aAlert}, want: ""}, // remembered
		{advance: 24*time.Hour - 2*time.Second, process: []*pipeline.Record{a}, want: ""},
		{advance: 3 * time.Second, process: []*pipeline.Record{a, b}, want: "e:a e:b"}, // 25 h after delivery: expired
		{process: []*pipeline.Record{a}, want: ""},                                     // pending again
	}
	c := newClock()
	d := open(t, "", c, nil)
	for i, s := range steps {
		c.add(s.advance)
		if got := ids(forwarded(t, d, s.process...)); got != s.want {
			t.Fatalf("step %d: forwarded %q, want %q", i, got, s.want)
		}
		if s.deliver != nil {
			d.Delivered(s.deliver)
		}
	}
}

func TestPendingExpires(t *testing.T) {
	c := newClock()
	d := open(t, "", c, func(c *Config) { c.TTL = config.Duration(time.Hour) })
	a := rec(pipeline.Events, "a")
	forwarded(t, d, a) // never delivered (lost downstream)
	c.add(30 * time.Minute)
	if got := forwarded(t, d, a); len(got) != 0 {
		t.Fatal("a pending id must be a repeat within the TTL")
	}
	c.add(31 * time.Minute)
	if got := forwarded(t, d, a); len(got) != 1 {
		t.Fatal("a pending id older than the TTL must not block the record forever")
	}
	c.add(2 * time.Hour)
	d.Delivered(nil) // runs the pending GC
	if _, p := d.Len(); p != 0 {
		t.Errorf("%d stale pending ids kept", p)
	}
}

func TestAbandoned(t *testing.T) {
	d := open(t, "", newClock(), nil)
	a, b := rec(pipeline.Events, "a"), rec(pipeline.Events, "b")
	forwarded(t, d, a, b)
	d.Delivered([]*pipeline.Record{b})
	d.Abandoned([]*pipeline.Record{a, b}) // the page is fetched again
	if got := ids(forwarded(t, d, a, b)); got != "e:a" {
		t.Errorf("after Abandoned forwarded %q, want e:a (b was delivered)", got)
	}
}

func TestDryRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not-created")
	d, err := NewDryRun("x", DefaultConfig(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := "dedupe(ttl=25h0m0s, max_entries=2000000, state=" + filepath.Join(dir, "dedupe-x.db") + ")"; d.String() != want {
		t.Errorf("String() = %q, want %q", d.String(), want)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("a dry run touched state_dir: %v", err)
	}
	if d.Close() != nil || d.Path() != "" {
		t.Error("a dry run has no state file")
	}
}

func TestEviction(t *testing.T) {
	const max = 1000
	c := newClock()
	d := open(t, "", c, func(c *Config) { c.MaxEntries = max })
	var all []*pipeline.Record
	for i := range 3 * max {
		r := rec(pipeline.Events, fmt.Sprint("id-", i))
		all = append(all, r)
		forwarded(t, d, r)
		d.Delivered([]*pipeline.Record{r})
		if n, _ := d.Len(); n > max {
			t.Fatalf("after %d ids: %d remembered, max_entries %d", i+1, n, max)
		}
		c.add(time.Second)
	}
	n, _ := d.Len()
	if n < max-max/16 {
		t.Errorf("%d remembered: eviction forgot more than the oldest 1/16", n)
	}
	// The newest n are still known, everything older was evicted first.
	for i, r := range all {
		seen := len(forwarded(t, d, r)) == 0
		if want := i >= len(all)-n; seen != want {
			t.Fatalf("id %d: seen=%v, want %v (remembered %d)", i, seen, want, n)
		}
	}
}

func TestEvictionExpiredFirst(t *testing.T) {
	const max = 100
	c := newClock()
	d := open(t, "", c, func(c *Config) { c.MaxEntries = max; c.TTL = config.Duration(time.Hour) })
	deliver := func(prefix string, n int) {
		for i := range n {
			r := rec(pipeline.Events, fmt.Sprint(prefix, i))
			forwarded(t, d, r)
			d.Delivered([]*pipeline.Record{r})
		}
	}
	deliver("old", 60)
	c.add(2 * time.Hour) // old ids expire
	deliver("new", 60)
	n, _ := d.Len()
	if n != 60 {
		t.Errorf("remembered %d, want the 60 new ids after dropping the expired", n)
	}
}

// TestPersistence: only delivered ids survive a restart.
func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	d := open(t, dir, c, nil)
	var delivered, undelivered []*pipeline.Record
	for i := range 500 {
		delivered = append(delivered, rec(pipeline.Events, fmt.Sprint("d-", i)))
		undelivered = append(undelivered, rec(pipeline.Alerts, fmt.Sprint("u-", i)))
	}
	if got := forwarded(t, d, delivered...); len(got) != 500 {
		t.Fatal(len(got))
	}
	d.Delivered(delivered)
	// These pass Process but Delivered is never called for them.
	if got := forwarded(t, d, undelivered...); len(got) != 500 {
		t.Fatal(len(got))
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	c.add(time.Hour)

	d2 := open(t, dir, c, nil)
	if got := forwarded(t, d2, delivered...); len(got) != 0 {
		t.Errorf("after restart %d delivered ids were forwarded again", len(got))
	}
	if got := forwarded(t, d2, undelivered...); len(got) != 500 {
		t.Errorf("after restart only %d of 500 undelivered ids were forwarded: a replay must not drop them", len(got))
	}
	d2.Close()

	// A day later everything has expired.
	c.add(25 * time.Hour)
	d3 := open(t, dir, c, nil)
	if n, _ := d3.Len(); n != 0 {
		t.Errorf("%d ids loaded after the TTL", n)
	}
	if got := forwarded(t, d3, delivered...); len(got) != 500 {
		t.Errorf("expired ids still dropped: %d forwarded", len(got))
	}
}

// TestCrashWithoutClose: without Close, the ids flushed by the batching
// policy (every 4096 ids or once a second) survive; the unflushed tail may
// be forgotten (a repeat, never a loss).
func TestCrashWithoutClose(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	d := open(t, dir, c, nil)
	var first []*pipeline.Record
	for i := range flushIDs {
		first = append(first, rec(pipeline.Events, fmt.Sprint("a-", i)))
	}
	forwarded(t, d, first...)
	d.Delivered(first) // 4096 ids: flushed at once
	b := rec(pipeline.Events, "b")
	forwarded(t, d, b)
	d.Delivered([]*pipeline.Record{b}) // < 1 s later: waits
	c.add(1100 * time.Millisecond)
	cc := rec(pipeline.Events, "c")
	forwarded(t, d, cc)
	d.Delivered([]*pipeline.Record{cc}) // ≥ 1 s: flushes b and c
	late := rec(pipeline.Events, "late")
	forwarded(t, d, late)
	d.Delivered([]*pipeline.Record{late}) // not flushed yet
	// No Close: the process "crashed".

	d2 := open(t, dir, c, nil)
	if got := forwarded(t, d2, first...); len(got) != 0 {
		t.Errorf("%d of the first batch forwarded again", len(got))
	}
	if got := ids(forwarded(t, d2, b, cc, late)); got != "e:late" {
		t.Errorf("after the crash forwarded %q, want only the unflushed e:late", got)
	}
}

func TestDamagedFile(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	d := open(t, dir, c, nil)
	a, b := rec(pipeline.Events, "a"), rec(pipeline.Events, "b")
	forwarded(t, d, a, b)
	d.Delivered([]*pipeline.Record{a})
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	// A torn append: a chunk header promising more than the file holds.
	f, _ := os.OpenFile(d.Path(), os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte{200, 0, 0, 0, 1, 2, 3, 4, 5})
	f.Close()
	d2 := open(t, dir, c, nil)
	if got := ids(forwarded(t, d2, a, b)); got != "e:b" {
		t.Errorf("with a torn tail forwarded %q, want e:b", got)
	}
	// The file was rewritten clean.
	data, _ := os.ReadFile(d.Path())
	if _, torn, err := decodeFile(data, func(entry) {}); torn || err != nil {
		t.Errorf("file not repaired: torn=%v err=%v", torn, err)
	}

	// An unreadable file is moved aside; the stage starts empty.
	os.WriteFile(d.Path(), []byte("garbage"), 0o600)
	d3 := open(t, dir, c, nil)
	if got := forwarded(t, d3, a); len(got) != 1 {
		t.Error("a corrupt state file must not drop records")
	}
	m, _ := filepath.Glob(d.Path() + ".corrupt-*")
	if len(m) != 1 {
		t.Errorf("corrupt file not moved aside: %v", m)
	}
}

func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	d := open(t, dir, c, func(cfg *Config) { cfg.TTL = config.Duration(time.Hour) })
	// Many flushes of ids that then expire: the file must not grow forever.
	for round := range 20 {
		var rs []*pipeline.Record
		for i := range flushIDs {
			rs = append(rs, rec(pipeline.Events, fmt.Sprint(round, "-", i)))
		}
		forwarded(t, d, rs...)
		d.Delivered(rs)
		c.add(2 * time.Hour)
	}
	st, _ := os.Stat(d.Path())
	if st.Size() > 4*flushIDs*20 {
		t.Errorf("state file %d bytes for at most %d live ids: not compacted", st.Size(), flushIDs)
	}
	d.Close()
	data, _ := os.ReadFile(d.Path())
	n, _, _ := decodeFile(data, func(entry) {})
	if n != 0 {
		t.Errorf("snapshot after expiry holds %d ids", n)
	}
}

func TestChunkRoundTrip(t *testing.T) {
	var es []entry
	for i := range 1000 {
		es = append(es, entry{hashKey("event", fmt.Sprint(i)), uint32(1715670000 + i*37)})
	}
	buf := appendChunk([]byte(magic), es[:400])
	buf = appendChunk(buf, es[400:])
	var got []entry
	n, torn, err := decodeFile(buf, func(e entry) { got = append(got, e) })
	if err != nil || torn || n != 1000 || fmt.Sprint(got) != fmt.Sprint(es) {
		t.Fatalf("n=%d torn=%v err=%v", n, torn, err)
	}
	if per := float64(len(buf)) / 1000; per > 20 {
		t.Errorf("%.1f bytes per id on disk", per)
	}
	// Every truncation is detected, never misread.
	for cut := len(magic); cut < len(buf); cut += 7 {
		m, torn, _ := decodeFile(buf[:cut], func(entry) {})
		if !torn && cut != len(magic) || m > 1000 {
			t.Fatalf("cut at %d: %d entries, torn=%v", cut, m, torn)
		}
	}
	flipped := bytes.Clone(buf)
	flipped[len(flipped)-3] ^= 1
	if m, torn, _ := decodeFile(flipped, func(entry) {}); !torn || m != 400 {
		t.Errorf("bit flip in chunk 2: %d entries, torn=%v", m, torn)
	}
}

func TestHashKey(t *testing.T) {
	// The hash is part of the state file format: pin it.
	if got, want := fmt.Sprintf("%016x%08x", hashKey("event", "4c9e2b17-83a5-4f0d-b6e1-9a27d5c3f804").hi, hashKey("event", "4c9e2b17-83a5-4f0d-b6e1-9a27d5c3f804").mid), pinnedHash; got != want {
		t.Errorf("hashKey changed: %s, was %s (this forgets every persisted id)", got, want)
	}
	if hashKey("event", "a") == hashKey("alert", "a") || hashKey("ab", "c") == hashKey("a", "bc") || hashKey("", "") == hashKey("", "\x00") {
		t.Error("parts are not kept apart")
	}
	if n := testing.AllocsPerRun(100, func() { hashKey("event", "4c9e2b17-83a5-4f0d-b6e1-9a27d5c3f804") }); n != 0 {
		t.Errorf("hashKey allocates %v times", n)
	}
	// 256Ki UUID-like ids differing in a few characters: no collision, and
	// their home slots spread evenly over a table.
	seen := make(map[key]bool, 1<<18)
	tab := newTable(1 << 14)
	counts := make([]int, len(tab.slots))
	for i := range 1 << 18 {
		k := hashKey("event", fmt.Sprintf("%08x-83a5-4f0d-b6e1-9a27d5c3f804", i))
		if seen[k] {
			t.Fatalf("collision at %d", i)
		}
		seen[k] = true
		counts[tab.home(k)]++
	}
	// Expect 16 per slot; a chi-square far above its degrees of freedom
	// would mean a skewed hash.
	chi := 0.0
	for _, c := range counts {
		d := float64(c) - 16
		chi += d * d / 16
	}
	if df := float64(len(counts) - 1); chi > 1.1*df {
		t.Errorf("home slots skewed: chi-square %.0f for %0.f degrees of freedom", chi, df)
	}
}

const pinnedHash = "2574e5077f0646d99a844ac9"

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{TTL: 0, MaxEntries: 10}, "ttl: 0s is too short"},
		{Config{TTL: config.Duration(400 * 24 * time.Hour), MaxEntries: 10}, "ttl: 9600h0m0s is longer than a year"},
		{Config{TTL: config.Duration(time.Hour), MaxEntries: 0}, "max_entries: 0 is out of range"},
	} {
		if err := c.cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	d := DefaultConfig()
	if err := d.Validate(); err != nil || d.TTL.D() != 25*time.Hour {
		t.Errorf("defaults: %v %v", d, err)
	}
}

func TestString(t *testing.T) {
	dir := t.TempDir()
	d, err := New("transforms[2]", DefaultConfig(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	want := "dedupe(ttl=25h0m0s, max_entries=2000000, state=" + filepath.Join(dir, "dedupe-transforms_2_.db") + ")"
	if d.String() != want {
		t.Errorf("String() = %q, want %q", d.String(), want)
	}
	m, _ := New("x", DefaultConfig(), "", nil)
	if m.String() != "dedupe(ttl=25h0m0s, max_entries=2000000, memory only)" {
		t.Errorf("String() = %q", m.String())
	}
}

// TestConcurrent exercises Process and Delivered from several goroutines
// (run with -race): each id is forwarded exactly once.
func TestConcurrent(t *testing.T) {
	d := open(t, t.TempDir(), newClock(), nil)
	var mu sync.Mutex
	passed := map[string]int{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				r := rec(pipeline.Events, fmt.Sprint((i*7+w)%3000))
				out, _ := d.Process(r, nil)
				if len(out) == 1 {
					mu.Lock()
					passed[r.ID]++
					mu.Unlock()
					d.Delivered(out)
				}
			}
		})
	}
	wg.Wait()
	for id, n := range passed {
		if n != 1 {
			t.Errorf("%s forwarded %d times", id, n)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkMemory remembers 1M ids and reports the heap per id, and the
// wall and CPU time per record (Process + Delivered per page of 1000; CPU
// time is what to read on a shared machine).
func BenchmarkMemory(b *testing.B) {
	const n = 1_000_000
	recs := make([]*pipeline.Record, n)
	for i := range recs {
		recs[i] = rec(pipeline.Events, fmt.Sprintf("%08x-83a5-4f0d-b6e1-9a27d5c3f804", i))
	}
	var perID, wall, cpu float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		d, _ := New("bench", DefaultConfig(), "", nil)
		start, cpu0 := time.Now(), cpuTime()
		var out []*pipeline.Record
		for i := 0; i < n; i += 1000 {
			out = out[:0]
			for _, r := range recs[i : i+1000] {
				out, _ = d.Process(r, out)
			}
			d.Delivered(out)
		}
		wall += float64(time.Since(start).Nanoseconds()) / n
		cpu += float64((cpuTime() - cpu0).Nanoseconds()) / n
		runtime.GC()
		runtime.ReadMemStats(&after)
		perID = float64(after.HeapAlloc-before.HeapAlloc) / n
		if got, _ := d.Len(); got != n {
			b.Fatalf("remembered %d", got)
		}
		runtime.KeepAlive(d)
	}
	b.ReportMetric(perID, "bytes/id")
	b.ReportMetric(wall/float64(b.N), "ns/record")
	b.ReportMetric(cpu/float64(b.N), "cpu-ns/record")
}

// cpuTime is the process's user+system CPU time (kept per package so the
// benchmarks read as before).
var cpuTime = cputime.Self

// BenchmarkProcess: a stream of mostly new ids with 10% repeats, delivered
// per page of 1000, persisted to a state file.
func BenchmarkProcess(b *testing.B) {
	d := open(b, b.TempDir(), newClock(), nil)
	defer d.Close()
	evs := samples.Records(pipeline.Events)
	page := make([]*pipeline.Record, 0, 1000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := *evs[i%len(evs)]
		if i%10 == 9 {
			r.ID = fmt.Sprint(i - 5)
		} else {
			r.ID = fmt.Sprint(i)
		}
		page, _ = d.Process(&r, page)
		if len(page) == cap(page) {
			d.Delivered(page)
			page = page[:0]
		}
		i++
	}
}

func TestSetGrowsAndFinds(t *testing.T) {
	s := NewSet()
	now := time.Now()
	for i := range 5000 {
		s.Add("event", fmt.Sprintf("id-%d", i), now)
	}
	if s.Len() != 5000 {
		t.Fatalf("Len %d", s.Len())
	}
	for i := range 5000 {
		if !s.Has("event", fmt.Sprintf("id-%d", i)) {
			t.Fatalf("id-%d lost after growing", i)
		}
	}
	if s.Has("alert", "id-1") || s.Has("event", "id-5000") {
		t.Fatal("found a key never added")
	}
}
