package diskq

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// logFixture is a closed queue's directory, to damage copies of.
type logFixture struct {
	snap  map[string][]byte
	segs  []string         // segment file names, in order
	nums  map[string][]int // entry numbers in each segment
	acked int              // entries 0..acked-1 are acknowledged
	total int
	size  func(int) int
}

var fixtureOpts = Options{SegmentBytes: 600, Sync: SyncInterval, SyncEvery: time.Hour}

func buildFixture(t *testing.T, total, acked int) logFixture {
	t.Helper()
	dir := memDir(t)
	size := func(i int) int { return 30 + (i*7)%50 }
	q := openQ(t, dir, fixtureOpts)
	appendRange(t, q, 0, total, 5, size)
	if acked > 0 {
		if _, err := q.Read(acked); err != nil {
			t.Fatal(err)
		}
		if err := q.Ack(uint64(acked)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	fx := logFixture{snap: snapshot(t, dir), nums: map[string][]int{}, acked: acked, total: total, size: size}
	for _, p := range segFiles(t, dir) {
		name := filepath.Base(p)
		fx.segs = append(fx.segs, name)
		b := fx.snap[name]
		for _, off := range frameOffsets(t, b) {
			_, s, _, _ := parseFrameHeader(b[off:])
			fx.nums[name] = append(fx.nums[name], int(s-1))
		}
	}
	if len(fx.segs) < 4 {
		t.Fatalf("fixture has only %d segments", len(fx.segs))
	}
	return fx
}

// damaged opens a copy of the fixture in which change altered the files.
func (fx logFixture) damaged(t *testing.T, change func(files map[string][]byte)) (*Queue, string) {
	t.Helper()
	files := map[string][]byte{}
	for k, v := range fx.snap {
		files[k] = slices.Clone(v)
	}
	change(files)
	dir := restore(t, files)
	for k := range fx.snap { // change may delete files
		if _, ok := files[k]; !ok {
			os.Remove(filepath.Join(dir, k))
		}
	}
	var logs strings.Builder
	q, err := Open(dir, Options{SegmentBytes: fixtureOpts.SegmentBytes, Sync: SyncInterval, SyncEvery: time.Hour, Log: slogTo(&logs)})
	if err != nil {
		t.Fatalf("Open of a damaged log failed: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q, logs.String()
}

// without lists the fixture's unacknowledged entries minus lost ones.
func (fx logFixture) without(lost ...int) []int {
	var want []int
	for i := fx.acked; i < fx.total; i++ {
		if !slices.Contains(lost, i) {
			want = append(want, i)
		}
	}
	return want
}

func checkDamage(t *testing.T, rec Recovery, want ...Damage) {
	t.Helper()
	if !slices.Equal(rec.Damage, want) {
		t.Fatalf("damage reported:\n got %v\nwant %v", rec.Damage, want)
	}
	var entries, bytes int64
	for _, d := range want {
		entries += d.Entries
		bytes += d.Bytes
	}
	if rec.LostEntries != entries || rec.LostBytes != bytes {
		t.Fatalf("totals: lost %d entries / %d bytes, want %d / %d", rec.LostEntries, rec.LostBytes, entries, bytes)
	}
}

// TestTornTailEveryOffset cuts the last segment at every byte offset within
// its last three entries: Open keeps every whole entry, cuts the partial
// one, reports it, and the queue goes on appending after the last intact
// entry.
func TestTornTailEveryOffset(t *testing.T) {
	fx := buildFixture(t, 40, 4)
	last := fx.segs[len(fx.segs)-1]
	seg := fx.snap[last]
	offs := frameOffsets(t, seg)
	if len(offs) < 3 {
		t.Fatalf("last segment has %d frames", len(offs))
	}
	ends := append(slices.Clone(offs[1:]), int64(len(seg)))
	for cut := offs[len(offs)-3]; cut < int64(len(seg)); cut++ {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			q, _ := fx.damaged(t, func(f map[string][]byte) { f[last] = f[last][:cut] })
			intact := 0
			for _, e := range ends {
				if e <= cut {
					intact++
				}
			}
			boundary := int64(segHeaderSize)
			if intact > 0 {
				boundary = ends[intact-1]
			}
			lostNums := fx.nums[last][intact:]
			rec := q.Recovery()
			if cut == boundary {
				checkDamage(t, rec)
			} else {
				checkDamage(t, rec, Damage{Segment: last, Offset: boundary, Bytes: cut - boundary,
					Entries: 1, Truncated: true, Reason: frameShort.String()})
			}
			if fi, _ := os.Stat(filepath.Join(q.Dir(), last)); fi.Size() != boundary {
				t.Fatalf("file is %d bytes after recovery, want %d", fi.Size(), boundary)
			}
			checkEntries(t, readAll(t, q), fx.without(lostNums...), fx.size)
			// Appending goes on after the last intact entry.
			next := fx.total - len(lostNums)
			appendRange(t, q, next, next+1, 1, fx.size)
			checkEntries(t, readAll(t, q), []int{next}, fx.size)
		})
	}
}

// TestCutSealedSegmentEveryOffset cuts a segment in the middle of the log at
// every offset within its last two entries: the later segments are
// untouched, and the loss is exact (sequence numbers around the gap).
func TestCutSealedSegmentEveryOffset(t *testing.T) {
	fx := buildFixture(t, 40, 4)
	mid := fx.segs[2]
	seg := fx.snap[mid]
	offs := frameOffsets(t, seg)
	ends := append(slices.Clone(offs[1:]), int64(len(seg)))
	for cut := offs[len(offs)-2]; cut < int64(len(seg)); cut++ {
		q, _ := fx.damaged(t, func(f map[string][]byte) { f[mid] = f[mid][:cut] })
		intact := 0
		for _, e := range ends {
			if e <= cut {
				intact++
			}
		}
		boundary := ends[intact-1]
		lostNums := fx.nums[mid][intact:]
		rec := q.Recovery()
		if cut == boundary { // whole entries gone: found by the gap in numbers
			next := fx.segs[3]
			checkDamage(t, rec, Damage{Segment: next, Offset: segHeaderSize, Entries: int64(len(lostNums)),
				Reason: fmt.Sprintf("entries %d..%d missing (a segment file was removed?)", lostNums[0]+1, lostNums[len(lostNums)-1]+1)})
		} else {
			checkDamage(t, rec, Damage{Segment: mid, Offset: boundary, Bytes: cut - boundary,
				Entries: int64(len(lostNums)), Truncated: true, Reason: frameShort.String()})
		}
		checkEntries(t, readAll(t, q), fx.without(lostNums...), fx.size)
		q.Close()
	}
}

// TestFlippedByteEveryOffset flips each byte of one entry (marker, length,
// sequence number, checksum, payload): Open skips exactly that entry and
// keeps the ones after it in the same segment.
func TestFlippedByteEveryOffset(t *testing.T) {
	fx := buildFixture(t, 40, 4)
	mid := fx.segs[2]
	offs := frameOffsets(t, fx.snap[mid])
	if len(offs) < 3 {
		t.Fatalf("segment has %d frames", len(offs))
	}
	victim := offs[1]
	size := offs[2] - offs[1]
	num := fx.nums[mid][1]
	for i := victim; i < victim+size; i++ {
		q, logs := fx.damaged(t, func(f map[string][]byte) { f[mid][i] ^= 0x5A })
		rec := q.Recovery()
		if len(rec.Damage) != 1 {
			t.Fatalf("flip at %d: damage %v", i, rec.Damage)
		}
		d := rec.Damage[0]
		if d.Segment != mid || d.Offset != victim || d.Bytes != size || d.Entries != 1 || d.Truncated {
			t.Fatalf("flip at %d: damage %v", i, d)
		}
		if rec.LostEntries != 1 || rec.LostBytes != size {
			t.Fatalf("flip at %d: totals %+v", i, rec)
		}
		if !strings.Contains(logs, "damaged data found") || !strings.Contains(logs, "entries_lost=1") {
			t.Fatalf("flip at %d: damage not logged:\n%s", i, logs)
		}
		checkEntries(t, readAll(t, q), fx.without(num), fx.size)
		q.Close()
	}
}

// TestFlippedLastEntries: damage to the last entry of a sealed segment is
// cut (nothing intact follows in that file) and counted exactly; damage to
// the log's last entry is cut and counted from what is left of it.
func TestFlippedLastEntries(t *testing.T) {
	fx := buildFixture(t, 40, 4)
	for _, name := range []string{fx.segs[1], fx.segs[len(fx.segs)-1]} {
		offs := frameOffsets(t, fx.snap[name])
		victim := offs[len(offs)-1]
		size := int64(len(fx.snap[name])) - victim
		num := fx.nums[name][len(offs)-1]
		for _, i := range []int64{victim, victim + 5, victim + 9, victim + 17, victim + size - 1} {
			q, _ := fx.damaged(t, func(f map[string][]byte) { f[name][i] ^= 0x01 })
			rec := q.Recovery()
			if len(rec.Damage) != 1 {
				t.Fatalf("%s flip at %d: %v", name, i, rec.Damage)
			}
			d := rec.Damage[0]
			if d.Offset != victim || d.Bytes != size || d.Entries != 1 || !d.Truncated {
				t.Fatalf("%s flip at %d: %v", name, i, d)
			}
			checkEntries(t, readAll(t, q), fx.without(num), fx.size)
			q.Close()
		}
	}
}

// TestManyDamages: flips in several segments, a damaged segment header and
// an acknowledged entry damaged, all in one log: every intact entry is
// kept and each span is reported.
func TestManyDamages(t *testing.T) {
	fx := buildFixture(t, 60, 4)
	s0, s2, s3, s5 := fx.segs[0], fx.segs[2], fx.segs[3], fx.segs[5]
	o0, o2, o5 := frameOffsets(t, fx.snap[s0]), frameOffsets(t, fx.snap[s2]), frameOffsets(t, fx.snap[s5])
	q, _ := fx.damaged(t, func(f map[string][]byte) {
		f[s0][o0[1]+25] ^= 0xFF // entry 1: acknowledged, so nothing undelivered is lost
		f[s2][o2[0]+3] ^= 0xFF  // first entry of segment 2: marker
		f[s2][o2[2]+30] ^= 0xFF // third: payload
		f[s3][2] ^= 0xFF        // header of segment 3: its entries are still read
		f[s5][o5[1]+6] ^= 0xFF  // length field
	})
	rec := q.Recovery()
	size := func(s string, o []int64, i int) int64 {
		if i+1 < len(o) {
			return o[i+1] - o[i]
		}
		return int64(len(fx.snap[s])) - o[i]
	}
	checkDamage(t, rec,
		Damage{Segment: s0, Offset: o0[1], Bytes: size(s0, o0, 1), Entries: 0, Reason: frameBadCRC.String()},
		Damage{Segment: s2, Offset: o2[0], Bytes: size(s2, o2, 0), Entries: 1, Reason: frameBadMagic.String()},
		Damage{Segment: s2, Offset: o2[2], Bytes: size(s2, o2, 2), Entries: 1, Reason: frameBadCRC.String()},
		Damage{Segment: s3, Offset: 0, Bytes: segHeaderSize, Entries: 0, Reason: "damaged segment header"},
		Damage{Segment: s5, Offset: o5[1], Bytes: size(s5, o5, 1), Entries: 1, Reason: rec.Damage[4].Reason},
	)
	checkEntries(t, readAll(t, q), fx.without(fx.nums[s2][0], fx.nums[s2][2], fx.nums[s5][1]), fx.size)
	// The spans skipped in place stay in their files: the next Open finds
	// them again but marks them reported before, so no loss counts twice.
	appendRange(t, q, 60, 62, 2, fx.size)
	dir := q.Dir()
	q.Close()
	q = openQ(t, dir, Options{SegmentBytes: 600})
	rec2 := q.Recovery()
	if len(rec2.Damage) != len(rec.Damage) || rec2.LostEntries != 0 || rec2.LostBytes != 0 {
		t.Fatalf("after reopen: %+v", rec2)
	}
	for i, d := range rec2.Damage {
		if want := rec.Damage[i]; !d.Repeat || d.Segment != want.Segment || d.Offset != want.Offset {
			t.Fatalf("after reopen, span %d: %v, want a repeat of %v", i, d, want)
		}
	}
	got := readAll(t, q)
	if len(got) == 0 || entryNum(t, got[len(got)-1]) != 61 {
		t.Fatalf("appends after recovery not read back")
	}
	// Once the damaged segments are delivered and deleted, nothing is left to report.
	if err := q.Ack(got[len(got)-1].Pos); err != nil {
		t.Fatal(err)
	}
	q.Close()
	q = openQ(t, dir, Options{SegmentBytes: 600})
	if rec := q.Recovery(); !rec.Clean() {
		t.Fatalf("after delivering everything: %+v", rec)
	}
	if _, err := os.Stat(filepath.Join(dir, reportedFileName)); !os.IsNotExist(err) {
		t.Fatalf("%s left behind: %v", reportedFileName, err)
	}
}

// TestMissingSegmentFile: a segment file removed by hand is reported with
// the exact number of entries it held.
func TestMissingSegmentFile(t *testing.T) {
	fx := buildFixture(t, 40, 4)
	gone := fx.segs[2]
	q, _ := fx.damaged(t, func(f map[string][]byte) { delete(f, gone) })
	nums := fx.nums[gone]
	checkDamage(t, q.Recovery(), Damage{Segment: fx.segs[3], Offset: segHeaderSize, Entries: int64(len(nums)),
		Reason: fmt.Sprintf("entries %d..%d missing (a segment file was removed?)", nums[0]+1, nums[len(nums)-1]+1)})
	checkEntries(t, readAll(t, q), fx.without(nums...), fx.size)
}

// TestDamagedSegmentFiles: an empty or header-only-torn segment (a crash
// while creating it) and a file of garbage are handled without losing
// intact entries.
func TestDamagedSegmentFiles(t *testing.T) {
	fx := buildFixture(t, 40, 4)
	next := segName(uint64(fx.total + 1))

	q, _ := fx.damaged(t, func(f map[string][]byte) { f[next] = nil })
	checkDamage(t, q.Recovery())
	checkEntries(t, readAll(t, q), fx.without(), fx.size)
	appendRange(t, q, 40, 41, 1, fx.size)
	checkEntries(t, readAll(t, q), []int{40}, fx.size)
	q.Close()

	q, _ = fx.damaged(t, func(f map[string][]byte) { f[next] = appendSegHeader(nil)[:7] })
	checkDamage(t, q.Recovery(), Damage{Segment: next, Bytes: 7, Reason: "segment header cut short"})
	checkEntries(t, readAll(t, q), fx.without(), fx.size)
	q.Close()

	garbage := bytes.Repeat([]byte("not a segment "), 40)
	q, _ = fx.damaged(t, func(f map[string][]byte) { f[next] = garbage })
	rec := q.Recovery()
	if rec.LostBytes != int64(len(garbage)) || len(rec.Damage) != 2 {
		t.Fatalf("garbage file: %+v", rec)
	}
	checkEntries(t, readAll(t, q), fx.without(), fx.size)
	q.Close()
}

// TestAckFileDamage: a torn ack write falls back to the other slot
// (re-delivering a little); an unreadable or missing ack file re-delivers
// everything on disk and says so, without reporting false losses.
func TestAckFileDamage(t *testing.T) {
	for _, segBytes := range []int64{1 << 20, 600} { // one segment; many, the first ones deleted
		dir := t.TempDir()
		q := openQ(t, dir, Options{SegmentBytes: segBytes})
		appendRange(t, q, 0, 40, 5, fixed(40))
		q.Read(30)
		q.Ack(10)
		q.Ack(20)
		q.Close()
		fx := logFixture{snap: snapshot(t, dir), total: 40, size: fixed(40)}
		firstNum, _ := parseSegName(filepath.Base(segFiles(t, dir)[0]))
		onDisk := seq(int(firstNum)-1, 40)
		if segBytes == 600 && firstNum < 10 {
			t.Fatalf("fixture: first segment %d, want delivered ones deleted", firstNum)
		}

		if segBytes == 1<<20 { // a crash while writing the newest slot: the deletions it allows never happened
			q, _ = fx.damaged(t, func(f map[string][]byte) { f[ackFileName][0*ackSlotSize+20] ^= 1 }) // gen 2 is in slot 0
			if rec := q.Recovery(); rec.Acked != 10 || !rec.Clean() {
				t.Fatalf("torn newest slot: %+v", rec)
			}
			checkEntries(t, readAll(t, q), seq(10, 40), fixed(40))
			q.Close()
		}

		for name, change := range map[string]func(map[string][]byte){
			"both slots": func(f map[string][]byte) { f[ackFileName][3] ^= 1; f[ackFileName][ackSlotSize+3] ^= 1 },
			"missing":    func(f map[string][]byte) { delete(f, ackFileName) },
		} {
			q, logs := fx.damaged(t, change)
			rec := q.Recovery()
			if rec.AckFile == "" || rec.LostEntries != 0 || len(rec.Damage) != 0 {
				t.Fatalf("%s: %+v", name, rec)
			}
			if !strings.Contains(logs, "delivered again") {
				t.Fatalf("%s: not logged:\n%s", name, logs)
			}
			checkEntries(t, readAll(t, q), onDisk, fixed(40))
			if st := q.Stats(); st.Entries != int64(len(onDisk)) {
				t.Fatalf("%s: stats %+v", name, st)
			}
			q.Close()
		}
	}
}

// TestDamageWhileRunning: bytes damaged after Open checked them are
// skipped by the reader, logged and counted in Stats.Lost.
func TestDamageWhileRunning(t *testing.T) {
	var logs strings.Builder
	dir := t.TempDir()
	q := openQ(t, dir, Options{SegmentBytes: 600, Log: slogTo(&logs)})
	appendRange(t, q, 0, 40, 5, fixed(40))
	files := segFiles(t, dir)
	b, _ := os.ReadFile(files[1])
	offs := frameOffsets(t, b)
	f, _ := os.OpenFile(files[1], os.O_WRONLY, 0)
	f.WriteAt([]byte{'X'}, offs[1]+30)
	f.Close()
	_, s, _, _ := parseFrameHeader(b[offs[1]:])
	checkEntries(t, readAll(t, q), slices.DeleteFunc(seq(0, 40), func(i int) bool { return i == int(s-1) }), fixed(40))
	if st := q.Stats(); st.Lost != 1 || st.Entries != 39 {
		t.Fatalf("stats: %+v", st)
	}
	if !strings.Contains(logs.String(), "damaged data skipped while reading") {
		t.Fatalf("not logged:\n%s", logs.String())
	}
	q.Rewind() // reading it again does not count it twice
	readAll(t, q)
	if st := q.Stats(); st.Lost != 1 {
		t.Fatalf("stats after rewind: %+v", st)
	}
}
