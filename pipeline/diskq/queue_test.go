package diskq

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRoundTripManySegments appends entries of varied sizes in varied
// batches over many small segments, reads them in varied chunks and acks:
// every entry comes back once, in order, and delivered segments go.
func TestRoundTripManySegments(t *testing.T) {
	dir := t.TempDir()
	q := openQ(t, dir, Options{SegmentBytes: 4096})
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := make([]int, 2000)
	for i := range sizes {
		sizes[i] = 12 + rng.IntN(300)
	}
	sizes[100] = 5000 // one entry larger than a segment
	size := func(i int) int { return sizes[i] }

	var got []Entry
	maxSegs := 0
	for i := 0; i < len(sizes); {
		n := 1 + rng.IntN(40)
		appendRange(t, q, i, min(i+n, len(sizes)), n, size)
		i += n
		reads := 3
		if i < len(sizes)/2 {
			reads = 0 // let a backlog build up over many segments first
		}
		for range reads {
			es, err := q.Read(1 + rng.IntN(30))
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, es...)
			if len(es) > 0 {
				if err := q.Ack(es[len(es)-1].Pos); err != nil {
					t.Fatal(err)
				}
			}
		}
		maxSegs = max(maxSegs, len(segFiles(t, dir)))
	}
	rest := readAll(t, q)
	got = append(got, rest...)
	checkEntries(t, got, seq(0, len(sizes)), size)

	st := q.Stats()
	if st.Entries != int64(len(rest)) || st.Unread != 0 || st.Last != uint64(len(sizes)) {
		t.Fatalf("before the last ack: %+v (read %d not acked)", st, len(rest))
	}
	if err := q.Ack(got[len(got)-1].Pos); err != nil {
		t.Fatal(err)
	}
	st = q.Stats()
	if st.Entries != 0 || st.Bytes != 0 || st.Segments != 1 || st.Acked != uint64(len(sizes)) {
		t.Fatalf("after acking everything: %+v", st)
	}
	if files := segFiles(t, dir); len(files) != 1 {
		t.Fatalf("segment files left after delivering everything: %v", files)
	}
	if maxSegs < 20 {
		t.Fatalf("test did not span many segments at once (max %d)", maxSegs)
	}
	if lastSize := st.DiskBytes; lastSize > 4096+frameSize(5000) {
		t.Fatalf("active segment of %d bytes exceeds SegmentBytes", lastSize)
	}
}

// TestRestartResumesAfterAck: after a clean close or an abandoned process,
// delivery resumes right after the last acknowledged entry; positions keep
// growing.
func TestRestartResumesAfterAck(t *testing.T) {
	for _, sync := range []SyncPolicy{SyncAlways, SyncInterval} {
		t.Run(map[SyncPolicy]string{SyncAlways: "always", SyncInterval: "interval"}[sync], func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SegmentBytes: 2048, Sync: sync, SyncEvery: 20 * time.Millisecond}
			q := openQ(t, dir, opts)
			appendRange(t, q, 0, 100, 7, fixed(90))
			es, err := q.Read(60)
			if err != nil || len(es) != 60 {
				t.Fatalf("Read: %d entries, %v", len(es), err)
			}
			if err := q.Ack(40); err != nil {
				t.Fatal(err)
			}
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}

			q = openQ(t, dir, opts)
			if rec := q.Recovery(); !rec.Clean() || rec.Entries != 60 || rec.Acked != 40 {
				t.Fatalf("recovery after a clean close: %+v", rec)
			}
			checkEntries(t, readAll(t, q), seq(40, 100), fixed(90))
			if err := q.Ack(70); err != nil {
				t.Fatal(err)
			}
			if sync == SyncInterval { // the syncer writes the ack position within SyncEvery
				deadline := time.Now().Add(10 * time.Second)
				for {
					q.ackMu.Lock()
					synced := q.ackSynced
					q.ackMu.Unlock()
					if synced == 70 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("ack position not written by the syncer (at %d)", synced)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			appendRange(t, q, 100, 110, 4, fixed(90))
			abandon(q)

			q = openQ(t, dir, opts)
			if rec := q.Recovery(); !rec.Clean() {
				t.Fatalf("recovery after abandon: %+v", rec)
			}
			checkEntries(t, readAll(t, q), seq(70, 110), fixed(90))
			if st := q.Stats(); st.Entries != 40 || st.Last != 110 || st.Acked != 70 {
				t.Fatalf("stats: %+v", st)
			}
		})
	}
}

// TestDeletesDeliveredSegments: exactly the segments whose entries are all
// acknowledged are deleted, both by Ack and by Open.
func TestDeletesDeliveredSegments(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 400}
	q := openQ(t, dir, opts)
	appendRange(t, q, 0, 60, 3, fixed(100)) // 120-byte frames: 3 per segment
	bases := func() []uint64 {
		var b []uint64
		for _, f := range segFiles(t, dir) {
			n, _ := parseSegName(filepath.Base(f))
			b = append(b, n)
		}
		return b
	}
	all := bases()
	if len(all) != 20 {
		t.Fatalf("want 20 segments of 3 entries, got %v", all)
	}
	if _, err := q.Read(31); err != nil {
		t.Fatal(err)
	}
	if err := q.Ack(25); err != nil { // segments 1-3 … 22-24 delivered; 25-27 holds 26, 27
		t.Fatal(err)
	}
	if got := bases(); got[0] != 25 || len(got) != 12 {
		t.Fatalf("after ack 25: %v", got)
	}
	if err := q.Ack(27); err != nil {
		t.Fatal(err)
	}
	if got := bases(); got[0] != 28 {
		t.Fatalf("after ack 27: %v", got)
	}
	// Ack 30 persists; the reader is inside 31-33, so 28-30 goes, not 31-33.
	if err := q.Ack(30); err != nil {
		t.Fatal(err)
	}
	q.Close()
	q = openQ(t, dir, opts)
	if got := bases(); got[0] != 31 {
		t.Fatalf("after reopen: %v", got)
	}
	if rec := q.Recovery(); rec.Removed != 0 || rec.Entries != 30 {
		t.Fatalf("recovery: %+v", rec)
	}
	// A crash between the ack write and the deletion leaves delivered files:
	// Open deletes them.
	es := readAll(t, q)
	if err := q.Ack(es[len(es)-1].Pos); err != nil {
		t.Fatal(err)
	}
	q.Close()
	stale := appendSegHeader(nil) // a delivered segment the crash left behind
	for p := uint64(1); p <= 3; p++ {
		stale = appendFrame(stale, p, payload(int(p-1), 100))
	}
	os.WriteFile(filepath.Join(dir, segName(1)), stale, 0o600)
	q = openQ(t, dir, opts)
	if rec := q.Recovery(); rec.Removed != 1 || rec.Entries != 0 || !rec.Clean() {
		t.Fatalf("recovery: %+v", rec)
	}
	// The write segment (58-60, all delivered) is emptied too, and named
	// after the next entry.
	if got := bases(); len(got) != 1 || got[0] != 61 {
		t.Fatalf("after reopen: %v", got)
	}
	if fi, err := os.Stat(filepath.Join(dir, segName(61))); err != nil || fi.Size() != segHeaderSize {
		t.Fatalf("the emptied write segment: %v, %v", fi, err)
	}
}

// TestBlockWhenFull: Append waits while MaxBytes is reached and goes on
// once an Ack frees space; ctx and Close end the wait.
func TestBlockWhenFull(t *testing.T) {
	frame := frameSize(80)
	q := openQ(t, t.TempDir(), Options{MaxBytes: 10 * frame, SegmentBytes: 4 * frame})
	appendRange(t, q, 0, 10, 5, fixed(80))
	if st := q.Stats(); st.Bytes != 10*frame || st.Entries != 10 {
		t.Fatalf("stats: %+v", st)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := q.Append(ctx, [][]byte{payload(10, 80)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Append on a full queue: %v, want it to wait until the deadline", err)
	}
	big := make([][]byte, 11)
	for i := range big {
		big[i] = payload(20+i, 80)
	}
	if err := q.Append(context.Background(), big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a batch larger than MaxBytes: %v", err)
	}

	done := make(chan error, 1)
	go func() { done <- q.Append(context.Background(), [][]byte{payload(10, 80), payload(11, 80)}) }()
	es, err := q.Read(3)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Ack(es[0].Pos); err != nil { // frees one frame: not enough for two
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("Append returned (%v) with room for one of its two entries", err)
	case <-time.After(20 * time.Millisecond):
	}
	if err := q.Ack(es[2].Pos); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkEntries(t, readAll(t, q), seq(3, 12), fixed(80))

	go func() {
		done <- q.Append(context.Background(), [][]byte{payload(12, 80), payload(13, 80), payload(14, 80), payload(15, 80)})
	}()
	time.Sleep(10 * time.Millisecond)
	q.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Append blocked across Close: %v", err)
	}
}

// TestDropNewestWhenFull: a batch that does not fit is refused whole with
// ErrFull; after an Ack it fits.
func TestDropNewestWhenFull(t *testing.T) {
	frame := frameSize(50)
	q := openQ(t, t.TempDir(), Options{MaxBytes: 4 * frame, WhenFull: DropNewest})
	appendRange(t, q, 0, 3, 3, fixed(50))
	err := q.Append(context.Background(), [][]byte{payload(3, 50), payload(4, 50)})
	if !errors.Is(err, ErrFull) {
		t.Fatalf("want ErrFull, got %v", err)
	}
	if st := q.Stats(); st.Entries != 3 || st.Last != 3 {
		t.Fatalf("a refused batch left entries: %+v", st)
	}
	if _, err := q.Read(1); err != nil {
		t.Fatal(err)
	}
	if err := q.Ack(1); err != nil {
		t.Fatal(err)
	}
	if err := q.Append(context.Background(), [][]byte{payload(3, 50), payload(4, 50)}); err != nil {
		t.Fatal(err)
	}
	checkEntries(t, readAll(t, q), seq(1, 5), fixed(50))
}

// TestFeederAndDrainer runs the intended pattern: one goroutine appends,
// another waits with Next, acks and sometimes rewinds, with a small cap so
// the writer blocks often. Run with -race.
func TestFeederAndDrainer(t *testing.T) {
	const total = 6000
	q := openQ(t, t.TempDir(), Options{SegmentBytes: 8 << 10, MaxBytes: 32 << 10, Sync: SyncInterval, SyncEvery: 5 * time.Millisecond})
	size := func(i int) int { return 20 + i%200 }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	werr := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < total && err == nil; i += 25 {
			var ps [][]byte
			for j := i; j < min(i+25, total); j++ {
				ps = append(ps, payload(j, size(j)))
			}
			err = q.Append(ctx, ps)
		}
		werr <- err
	}()
	var got []Entry
	for call := 0; len(got) < total; call++ {
		es, err := q.Next(ctx, 1+call%97)
		if err != nil {
			t.Fatalf("Next after %d entries: %v", len(got), err)
		}
		if call%7 == 3 { // a failed delivery: read them again
			q.Rewind()
			continue
		}
		got = append(got, es...)
		if err := q.Ack(es[len(es)-1].Pos); err != nil {
			t.Fatal(err)
		}
		_ = q.Stats()
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	checkEntries(t, got, seq(0, total), size)
	if st := q.Stats(); st.Entries != 0 || st.Bytes != 0 || st.Segments != 1 {
		t.Fatalf("stats at the end: %+v", st)
	}
}

// TestNextWaits: Next returns as soon as an entry is appended, and ends on
// ctx or Close.
func TestNextWaits(t *testing.T) {
	q := openQ(t, t.TempDir(), Options{})
	got := make(chan []Entry, 1)
	go func() {
		es, _ := q.Next(context.Background(), 10)
		got <- es
	}()
	time.Sleep(10 * time.Millisecond)
	appendRange(t, q, 0, 2, 2, fixed(30))
	checkEntries(t, <-got, seq(0, 2), fixed(30))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := q.Next(ctx, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on an empty queue: %v", err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := q.Next(context.Background(), 10)
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	q.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("Next across Close: %v", err)
	}
	if err := q.Append(context.Background(), [][]byte{{1}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if _, err := q.Read(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
}

// TestRewindAndAckRules: Rewind returns the unacknowledged entries again;
// acking beyond what was read is refused; old acks are no-ops.
func TestRewindAndAckRules(t *testing.T) {
	q := openQ(t, t.TempDir(), Options{SegmentBytes: 300})
	appendRange(t, q, 0, 20, 20, fixed(40))
	q.Read(8)
	if err := q.Ack(9); err == nil {
		t.Fatal("ack beyond the last read entry accepted")
	}
	if err := q.Ack(5); err != nil {
		t.Fatal(err)
	}
	if err := q.Ack(3); err != nil {
		t.Fatalf("an older ack: %v", err)
	}
	q.Rewind()
	checkEntries(t, readAll(t, q), seq(5, 20), fixed(40))
	q.Rewind()
	es, _ := q.Read(100)
	checkEntries(t, es, seq(5, 20), fixed(40))
	if st := q.Stats(); st.Entries != 15 || st.Unread != 0 || st.Bytes != 15*frameSize(40) {
		t.Fatalf("stats: %+v", st)
	}
}

// TestOpenRules: a second Open of the same directory is refused; a segment
// of an unknown format version is refused and left untouched.
func TestOpenRules(t *testing.T) {
	dir := t.TempDir()
	q := openQ(t, dir, Options{})
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v", err)
	}
	appendRange(t, q, 0, 3, 3, fixed(30))
	q.Close()

	path := segFiles(t, dir)[0]
	b, _ := os.ReadFile(path)
	future := append(appendSegHeaderVersion(nil, 2), b[segHeaderSize:]...)
	os.WriteFile(path, future, 0o600)
	if _, err := Open(dir, Options{}); err == nil {
		t.Fatal("a segment of format version 2 was accepted")
	}
	if after, _ := os.ReadFile(path); string(after) != string(future) {
		t.Fatal("Open changed a segment it refused")
	}
	// The directory is usable again once that file is dealt with.
	os.Remove(path)
	q = openQ(t, dir, Options{})
	q.Close()
}

func appendSegHeaderVersion(dst []byte, v uint32) []byte {
	h := appendSegHeader(nil)
	binary.LittleEndian.PutUint32(h[8:12], v)
	binary.LittleEndian.PutUint32(h[12:16], crc32.Checksum(h[:12], castagnoli))
	return append(dst, h...)
}

// TestAppendRollback: an Append that fails half way (here: the next
// segment's name is taken) keeps none of its batch; the queue goes on.
func TestAppendRollback(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 600}
	q := openQ(t, dir, opts)
	appendRange(t, q, 0, 2, 2, fixed(150)) // 170-byte frames, 3 per segment
	// The next batch writes entry 3 to this segment, then needs segment 4.
	blocker := filepath.Join(dir, segName(4))
	os.Mkdir(blocker, 0o700)
	err := q.Append(context.Background(), [][]byte{payload(2, 150), payload(3, 150), payload(4, 150)})
	if err == nil {
		t.Fatal("Append succeeded with the next segment's name taken")
	}
	if st := q.Stats(); st.Last != 2 || st.Entries != 2 || st.Segments != 1 {
		t.Fatalf("a failed Append left something: %+v", st)
	}
	if fi, _ := os.Stat(segFiles(t, dir)[0]); fi.Size() != segHeaderSize+2*frameSize(150) {
		t.Fatalf("segment not cut back: %d bytes", fi.Size())
	}
	os.Remove(blocker)
	appendRange(t, q, 2, 6, 3, fixed(150))
	q.Close()
	q = openQ(t, dir, opts)
	if rec := q.Recovery(); !rec.Clean() {
		t.Fatalf("recovery: %+v", rec)
	}
	checkEntries(t, readAll(t, q), seq(0, 6), fixed(150))
}

func TestParseFullPolicy(t *testing.T) {
	for in, want := range map[string]FullPolicy{"": Block, "block": Block, "Drop_Newest": DropNewest} {
		if got, err := ParseFullPolicy(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseFullPolicy("drop_oldest"); err == nil {
		t.Error("drop_oldest accepted")
	}
}
