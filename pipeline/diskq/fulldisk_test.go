package diskq

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/sophos-connect/sophos-connect/internal/tinydisk"
)

// TestFullDiskFreesDeliveredSegments fills a real (tmpfs) state disk with
// the queue's own entries, delivers them, and expects the space back: the
// drained write segment is emptied once acknowledged (issue 26: it stayed
// full of delivered entries, so every later append failed with ENOSPC for
// good, also after a restart). Three rounds, with one segment and with
// several; every entry is read exactly once, in order, and at the end one
// empty segment is left.
func TestFullDiskFreesDeliveredSegments(t *testing.T) {
	tinydisk.Run(t, 256<<10, func(t *testing.T, disk string) {
		for _, segBytes := range []int64{DefaultSegmentBytes, 48 << 10} {
			dir := filepath.Join(disk, "q")
			q := openQ(t, dir, Options{SegmentBytes: segBytes})
			size := fixed(500)
			next, read, prevFull := 0, 0, 0
			for round := 0; round < 3; round++ {
				full := 0
				for full == 0 { // append until the disk is full
					var ps [][]byte
					for j := next; j < next+10; j++ {
						ps = append(ps, payload(j, size(j)))
					}
					err := q.Append(context.Background(), ps)
					switch {
					case err == nil:
						next += 10
					case errors.Is(err, syscall.ENOSPC):
						full = next
					default:
						t.Fatalf("Append: %v", err)
					}
				}
				t.Logf("segments of %d bytes, round %d: the disk filled after %d entries", segBytes, round, full)
				if full-prevFull < 400 { // 256 KiB holds about 490 entries of 500 bytes
					t.Fatalf("round %d: only %d entries fit after the earlier ones were delivered", round, full-prevFull)
				}
				prevFull = full
				es := readAll(t, q)
				checkEntries(t, es, seq(read, next), size)
				read = next
				if err := q.Ack(es[len(es)-1].Pos); err != nil {
					t.Fatal(err)
				}
				// The space is back: the entries that did not fit go in now.
				if err := q.Append(context.Background(), [][]byte{payload(next, size(next))}); err != nil {
					t.Fatalf("segments of %d bytes, round %d: append after every entry was delivered: %v", segBytes, round, err)
				}
				next++
			}
			es := readAll(t, q)
			checkEntries(t, es, seq(read, next), size)
			if err := q.Ack(es[len(es)-1].Pos); err != nil {
				t.Fatal(err)
			}
			q.Close()
			// A restart finds nothing to deliver, and room.
			q = openQ(t, dir, Options{SegmentBytes: segBytes})
			if st := q.Stats(); st.Entries != 0 || st.DiskBytes != segHeaderSize || st.Segments != 1 {
				t.Fatalf("after delivering everything and a restart: %+v", st)
			}
			files := segFiles(t, dir)
			if fi, err := os.Stat(files[0]); len(files) != 1 || err != nil || fi.Size() != segHeaderSize {
				t.Fatalf("segment files left: %v", files)
			}
			q.Close()
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestDeliveredWriteSegmentEmptiedAtOpen: a run that stopped with delivered
// entries still in the write segment (it holds less than the threshold, or
// the run was killed before emptying it) has them freed by the next Open,
// and sequence numbers go on from there.
func TestDeliveredWriteSegmentEmptiedAtOpen(t *testing.T) {
	dir := t.TempDir()
	q := openQ(t, dir, Options{})
	appendRange(t, q, 0, 20, 5, fixed(100))
	es := readAll(t, q)
	if err := q.Ack(es[len(es)-1].Pos); err != nil {
		t.Fatal(err)
	}
	if st := q.Stats(); st.DiskBytes <= segHeaderSize {
		t.Fatalf("below freeDrainedBytes the write segment is kept until it fills or the next Open: %+v", st)
	}
	q.Close()
	q = openQ(t, dir, Options{})
	if st := q.Stats(); st.DiskBytes != segHeaderSize || st.Entries != 0 {
		t.Fatalf("after reopen: %+v", st)
	}
	appendRange(t, q, 20, 25, 5, fixed(100))
	checkEntries(t, readAll(t, q), seq(20, 25), fixed(100))
	q.Close()
	// The same after losing the ack file: the emptied segment's name says
	// everything before it was delivered, so nothing is counted lost.
	q = openQ(t, dir, Options{})
	checkEntries(t, readAll(t, q), seq(20, 25), fixed(100))
	q.Close()
	if err := os.Remove(filepath.Join(dir, "ack")); err != nil {
		t.Fatal(err)
	}
	q = openQ(t, dir, Options{})
	if rec := q.Recovery(); rec.LostEntries != 0 || len(rec.Damage) != 0 {
		t.Fatalf("recovery after losing the ack file: %+v", rec)
	}
	checkEntries(t, readAll(t, q), seq(20, 25), fixed(100))
}

// TestDrainedWriteSegmentEmptiedPastThreshold: once the delivered bytes in
// the write segment pass freeDrainedBytes and everything is acknowledged,
// the Ack empties it; the reader and the writer carry on.
func TestDrainedWriteSegmentEmptiedPastThreshold(t *testing.T) {
	dir := t.TempDir()
	q := openQ(t, dir, Options{})
	n := freeDrainedBytes/1000 + 10
	appendRange(t, q, 0, n, 50, fixed(1000))
	es := readAll(t, q)
	checkEntries(t, es, seq(0, n), fixed(1000))
	if err := q.Ack(es[len(es)-1].Pos); err != nil {
		t.Fatal(err)
	}
	if st := q.Stats(); st.DiskBytes != segHeaderSize {
		t.Fatalf("after acknowledging %d delivered bytes: %+v", n*1000, st)
	}
	appendRange(t, q, n, n+30, 7, fixed(1000))
	es = readAll(t, q)
	checkEntries(t, es, seq(n, n+30), fixed(1000))
	q.Rewind()
	checkEntries(t, readAll(t, q), seq(n, n+30), fixed(1000))
}
