package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// fullDisk is a dead-letter file on a disk that is full while full is set:
// each write stores half of its bytes, then fails with ENOSPC (a torn write).
type fullDisk struct {
	*os.File
	full *atomic.Bool
}

func (f fullDisk) Write(b []byte) (int, error) {
	if f.full.Load() {
		n, _ := f.File.Write(b[:len(b)/2])
		return n, fmt.Errorf("write: %w", errors.New("no space left on device"))
	}
	return f.File.Write(b)
}

func openFullDisk(t *testing.T, dir string, full *atomic.Bool) *DeadLetter {
	t.Helper()
	d, err := OpenDeadLetter(dir)
	if err != nil {
		t.Fatal(err)
	}
	d.f.Close()
	d.open = func(p string) (dlFile, error) {
		f, err := openAppend(p)
		if err != nil {
			return nil, err
		}
		return fullDisk{f.(*os.File), full}, nil
	}
	if err := d.reopen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// failAll is a stage that fails on every record.
type failAll struct{}

func (failAll) Process(r *Record, out []*Record) ([]*Record, error) {
	return out, errors.New("cannot transform")
}

// A stage error whose dead-letter write fails must hold the page back: no
// commit, nothing lost. Once the disk has room the same records are
// dead-lettered and the page commits.
func TestDeadLetterWriteFailureHoldsPageBack(t *testing.T) {
	src := newListSource(1, 20, 10)
	src.parts = src.parts[:1]
	dir := t.TempDir()
	var full atomic.Bool
	full.Store(true)
	dlq := openFullDisk(t, dir, &full)
	cps, _ := OpenCheckpoints(dir)
	s := newRecordingSink()
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	_, err := Run(ctx, Options{Source: src, Checkpoints: cps, DeadLetter: dlq, Once: true,
		Stages: []StageSpec{{Name: "bad", Stage: failAll{}}}, Sinks: []SinkSpec{{Name: "s", Sink: s, Retry: fastRetry()}}})
	_ = err
	if cp, ok := cps.Get(src.parts[0].Key()); ok {
		t.Fatalf("the page was committed (%+v) although its records could not be dead-lettered: they are lost", cp)
	}
	// The file holds whole lines only: the torn halves were cut off.
	if b, _ := os.ReadFile(dlq.Path()); len(b) != 0 {
		t.Fatalf("failed writes left %d bytes in the dead-letter file: %q", len(b), b)
	}
	full.Store(false)
	st, _, _ := runOnce(t, src, []SinkSpec{{Name: "s", Sink: s}}, dir, StageSpec{Name: "bad", Stage: failAll{}})
	if st.DeadLettered != 20 {
		t.Fatalf("dead-lettered %d after the disk recovered, want 20", st.DeadLettered)
	}
	again, _ := OpenCheckpoints(dir)
	if cp, _ := again.Get(src.parts[0].Key()); cp.Cursor != "20" {
		t.Fatalf("checkpoint %+v after recovery", cp)
	}
}

// The same through a real full device: /dev/full fails every write with ENOSPC.
func TestDeadLetterOnDevFullHoldsPageBack(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full on this system")
	}
	dir := t.TempDir()
	if err := os.Symlink("/dev/full", filepath.Join(dir, DeadLetterName)); err != nil {
		t.Fatal(err)
	}
	src := newListSource(1, 5, 5)
	src.parts = src.parts[:1]
	dlq, err := OpenDeadLetter(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	cps, _ := OpenCheckpoints(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	Run(ctx, Options{Source: src, Checkpoints: cps, DeadLetter: dlq, Once: true,
		Stages: []StageSpec{{Name: "bad", Stage: failAll{}}}, Sinks: []SinkSpec{{Name: "s", Sink: newRecordingSink()}}})
	if cp, ok := cps.Get(src.parts[0].Key()); ok {
		t.Fatalf("committed %+v with the dead-letter device full", cp)
	}
}

func TestDeadLetterOpenCutsTornLine(t *testing.T) {
	dir := t.TempDir()
	good := `{"time":"2026-11-26T10:00:00Z","reason":"x","stream":"event","tenant":"t","id":"a","record":{"id":"a"}}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, DeadLetterName), []byte(good+`{"time":"2026-11-26T10:00:01Z","rea`), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := OpenDeadLetter(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Repaired != int64(len(`{"time":"2026-11-26T10:00:01Z","rea`)) {
		t.Fatalf("repaired %d bytes", d.Repaired)
	}
	rec, _ := NewRecord(Events, "t", []byte(`{"id":"b"}`))
	if err := d.Write("s", "", []*Record{&rec}, nil); err != nil {
		t.Fatal(err)
	}
	var ids []string
	if err := ReadDeadLetters(d.Path(), func(e DeadLetterEntry) error { ids = append(ids, e.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, ",") != "a,b" {
		t.Fatalf("entries %v", ids)
	}
}

func TestScanDeadLettersSkipsDamagedLines(t *testing.T) {
	p := filepath.Join(t.TempDir(), DeadLetterName)
	line := func(id string) string {
		return `{"time":"2026-11-26T10:00:00Z","reason":"x","stream":"event","tenant":"t","id":"` + id + `","record":{"id":"` + id + `"}}` + "\n"
	}
	os.WriteFile(p, []byte(line("a")+"{\"time\":\"2026-11-26T10:0\n"+"not json\n"+line("b")), 0o600)
	var ids []string
	var bad []DamagedLine
	if err := ScanDeadLetters(p, func(e DeadLetterEntry, raw []byte) error { ids = append(ids, e.ID); return nil }, func(l DamagedLine) { bad = append(bad, l) }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, ",") != "a,b" || len(bad) != 2 || bad[0].Line != 2 || bad[1].Line != 3 || bad[0].Offset != int64(len(line("a"))) {
		t.Fatalf("ids %v damaged %+v", ids, bad)
	}
	if err := ReadDeadLetters(p, func(DeadLetterEntry) error { return nil }); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("ReadDeadLetters error %v, want the damaged lines named", err)
	}
}

func TestDeadLetterRotatesWithoutDropping(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDeadLetter(dir, DeadLetterOptions{MaxBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		rec, _ := NewRecord(Events, "t", []byte(fmt.Sprintf(`{"id":"r%02d","pad":"%s"}`, i, strings.Repeat("x", 100))))
		if err := d.Write("s", "", []*Record{&rec}, nil); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	files, err := DeadLetterFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("%d files: the file did not rotate at 1000 bytes", len(files))
	}
	var ids []string
	for _, f := range files {
		st, _ := os.Stat(f)
		if st.Size() > 1000 {
			t.Fatalf("%s is %d bytes, max 1000", f, st.Size())
		}
		ReadDeadLetters(f, func(e DeadLetterEntry) error { ids = append(ids, e.ID); return nil })
	}
	if len(ids) != 50 {
		t.Fatalf("%d entries across the rotated files, want 50", len(ids))
	}
	for i, id := range ids {
		if id != fmt.Sprintf("r%02d", i) {
			t.Fatalf("entry %d is %s: rotated files are not in order", i, id)
		}
	}
}

// faultSource serves pages whose cursors are broken for one tenant.
type faultSource struct {
	*listSource
	bad   string // tenant whose cursor is faulty
	kind  string // "empty" or "same"
	mu    sync.Mutex
	calls int
}

func (s *faultSource) Fetch(ctx context.Context, p Partition, pos Position) (*Page, error) {
	page, err := s.listSource.Fetch(ctx, p, pos)
	if err != nil || p.Tenant != s.bad || pos.Cursor == "" {
		return page, err
	}
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	switch s.kind {
	case "empty":
		page.Cursor = ""
	case "same":
		page.Cursor, page.HasMore = pos.Cursor, true
	}
	return page, nil
}

func TestCursorFaultsFailOnlyThatPartition(t *testing.T) {
	for _, kind := range []string{"empty", "same"} {
		t.Run(kind, func(t *testing.T) {
			src := &faultSource{listSource: newListSource(2, 300, 100), bad: "t1", kind: kind}
			dir := t.TempDir()
			cps, _ := OpenCheckpoints(dir)
			dlq, _ := OpenDeadLetter(dir)
			defer dlq.Close()
			s := newRecordingSink()
			m := NewMetrics()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := Run(ctx, Options{Source: src, Checkpoints: cps, DeadLetter: dlq, Once: true, Metrics: m,
				Sinks: []SinkSpec{{Name: "s", Sink: s, Retry: fastRetry()}}})
			var pf *PartitionsFailedError
			if !errors.As(err, &pf) || len(pf.Partitions) != 2 || !strings.Contains(err.Error(), "t1 alerts") || !strings.Contains(err.Error(), "t1 events") {
				t.Fatalf("error %v, want both t1 partitions named", err)
			}
			for _, p := range src.parts {
				cp, _ := cps.Get(p.Key())
				want := "300"
				if p.Tenant == "t1" {
					want = "100" // the last good cursor: the first page's
				}
				if cp.Cursor != want {
					t.Fatalf("%s: checkpoint %q, want %q", p.Key(), cp.Cursor, want)
				}
			}
			if src.calls > 2*3 {
				t.Fatalf("%d fetches of faulty pages: the attempts are not bounded", src.calls)
			}
			if v := counterValue(t, m, "sophos_connect_partition_failures_total"); v != 2 {
				t.Fatalf("partition failures metric %v", v)
			}
		})
	}
}

// Malformed items a source could not decode are dead-lettered with their
// raw bytes; the page's good records are delivered and the cursor moves on.
type rejectingSource struct{ *listSource }

func (s rejectingSource) Fetch(ctx context.Context, p Partition, pos Position) (*Page, error) {
	page, err := s.listSource.Fetch(ctx, p, pos)
	if err == nil {
		page.Rejected = append(page.Rejected, Rejected{Raw: []byte(`{"type":"no id"}`), Reason: "malformed API item 3: item has no id"})
	}
	return page, err
}

func TestRejectedItemsAreDeadLettered(t *testing.T) {
	src := rejectingSource{newListSource(1, 30, 10)}
	src.parts = src.parts[:1]
	s := newRecordingSink()
	st, cps, dlq := runOnce(t, src, []SinkSpec{{Name: "s", Sink: s}}, t.TempDir())
	if s.count() != 30 || st.DeadLettered != 3 {
		t.Fatalf("delivered %d, dead-lettered %d", s.count(), st.DeadLettered)
	}
	if cp, _ := cps.Get(src.parts[0].Key()); cp.Cursor != "30" {
		t.Fatalf("checkpoint %+v", cp)
	}
	n := 0
	ReadDeadLetters(dlq.Path(), func(e DeadLetterEntry) error {
		n++
		if !bytes.Equal(e.Record, []byte(`{"type":"no id"}`)) || !strings.Contains(e.Reason, "no id") {
			t.Fatalf("entry %+v", e)
		}
		return nil
	})
	if n != 3 {
		t.Fatalf("%d entries", n)
	}
}

// Invalid UTF-8 from the API never reaches a sink raw: each bad byte becomes
// U+FFFD, as encoding/json does (json.Marshal is the oracle).
func TestInvalidUTF8BecomesReplacementChar(t *testing.T) {
	raw := "{\"id\":\"a\xffb\",\"k\":\"v\xc3\",\"ok\":\"é\"}"
	r, _, err := DecodeRecord(Events, "t", []byte(raw), 0)
	if err != nil {
		t.Fatal(err)
	}
	// A key that is not valid UTF-8 refuses the item (it is dead-lettered,
	// repaired, with the reason): a repaired key would be another field.
	if _, _, err := DecodeRecord(Events, "t", []byte("{\"id\":\"x\",\"k\xfe\":1}"), 0); err == nil || !strings.Contains(err.Error(), "not valid UTF-8") {
		t.Fatalf("a key with invalid UTF-8: %v", err)
	}
	if !utf8Valid(r.Raw) || !utf8Valid([]byte(r.ID)) {
		t.Fatalf("raw %q id %q still hold invalid UTF-8", r.Raw, r.ID)
	}
	enc, _ := json.Marshal("a\xffb")
	var want string
	json.Unmarshal(enc, &want)
	if r.ID != want {
		t.Fatalf("id %q, encoding/json gives %q", r.ID, want)
	}
	if !bytes.Contains(r.Raw, []byte("\"k\":\"v\uFFFD\"")) || !bytes.Contains(r.Raw, []byte("\"é\"")) {
		t.Fatalf("raw %q", r.Raw)
	}
}
func utf8Valid(b []byte) bool { return utf8.Valid(b) }

// A checkpoint commit that keeps failing (here: checkpoints.json replaced
// by a directory, so the rename fails as on a broken state disk) holds the
// pages in flight: pulling stops within MaxInflightPages pages, the failure
// is reported (gauge, CommitError for /readyz, ERROR), the age gauge keeps
// measuring from the last commit that reached disk, and once the disk is
// fixed everything commits.
func TestFailingCheckpointCommitStopsPulling(t *testing.T) {
	src := newListSource(1, 10, 10)
	src.parts = src.parts[:1]
	key := src.parts[0].Key()
	dir := t.TempDir()
	cps, _ := OpenCheckpoints(dir)
	dlq, _ := OpenDeadLetter(dir)
	defer dlq.Close()
	m := NewMetrics()
	var logs syncBuf
	sink := newRecordingSink()
	var mu sync.Mutex
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	broken := make(chan struct{})
	passes := 0
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Options{Source: src, Checkpoints: cps, DeadLetter: dlq, Metrics: m, Now: clock, MaxInflightPages: 3,
			Log: slog.New(slog.NewTextHandler(&logs, nil)), Sinks: []SinkSpec{{Name: "s", Sink: sink, Retry: fastRetry()}},
			NextPass: func() (bool, time.Duration) {
				passes++
				if passes == 1 {
					waitFor(t, func() bool { cp, ok := cps.Durable()[key]; return ok && cp.Cursor == "10" })
					os.Remove(cps.Path())
					os.MkdirAll(filepath.Join(cps.Path(), "x"), 0o700) // a rename onto it fails
					src.mu.Lock()
					for i := 0; i < 100; i++ {
						src.items[key] = append(src.items[key], fmt.Sprintf("late-%d", i))
					}
					src.mu.Unlock()
					mu.Lock()
					now = now.Add(time.Hour)
					mu.Unlock()
					close(broken)
				}
				return true, time.Millisecond
			}})
		done <- err
	}()
	<-broken
	waitFor(t, func() bool { return m.CommitError() != "" })
	time.Sleep(300 * time.Millisecond)
	src.mu.Lock()
	f1 := src.fetches
	src.mu.Unlock()
	time.Sleep(300 * time.Millisecond)
	src.mu.Lock()
	f2 := src.fetches
	src.mu.Unlock()
	if f2 != f1 || sink.count() > 10+3*10 {
		t.Fatalf("pulling went on while commits failed: fetches %d → %d, delivered %d", f1, f2, sink.count())
	}
	if v := counterValue(t, m, "sophos_connect_checkpoint_commit_failing"); v != 1 {
		t.Fatalf("commit-failing gauge %v", v)
	}
	if !strings.Contains(logs.String(), "checkpoints cannot be committed") {
		t.Fatalf("no ERROR:\n%s", logs.String())
	}
	if cp := cps.Durable()[key]; cp.Cursor != "10" {
		t.Fatalf("durable checkpoint %+v", cp)
	}
	// Fix the disk: the pages commit and pulling resumes.
	os.RemoveAll(cps.Path())
	waitFor(t, func() bool { cp := cps.Durable()[key]; return cp.Cursor == "110" })
	if m.CommitError() != "" {
		t.Fatalf("still failing: %s", m.CommitError())
	}
	cancel()
	<-done
	if sink.count() != 110 {
		t.Fatalf("delivered %d, want 110", sink.count())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}
