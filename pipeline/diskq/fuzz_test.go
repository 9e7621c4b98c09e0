package diskq

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzSegmentReader opens a directory whose only segment file holds
// arbitrary bytes. Open must not fail (unless the header names another
// format version) nor panic; every entry read back must be an intact,
// checksummed frame of the input, in growing order; every input byte must
// be accounted for as the header, an intact entry or reported damage; and
// the repaired queue must take and return a new entry after a reopen.
func FuzzSegmentReader(f *testing.F) {
	seg := appendSegHeader(nil)
	for i := uint64(1); i <= 3; i++ {
		seg = appendFrame(seg, i, bytes.Repeat([]byte{byte('a' + i)}, int(10*i)))
	}
	f.Add(seg)
	f.Add(seg[:len(seg)-7])                                                // torn tail
	f.Add(append(seg[:40:40], seg[60:]...))                                // a hole in the middle
	f.Add(appendSegHeader(nil)[:9])                                        // torn header
	f.Add(append(bytes.Repeat([]byte{0xF7, 0x64, 0x71, 0xE1}, 9), seg...)) // markers without frames
	f.Add(appendFrame(appendFrame(appendSegHeader(nil), 9, []byte("x")), 5, []byte("stale")))
	f.Add(appendFrame(appendSegHeader(nil), 1<<62+1, []byte("too far")))
	f.Add([]byte{})

	log := slog.New(slog.DiscardHandler)
	opts := Options{Sync: SyncInterval, SyncEvery: time.Hour, Log: log}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := memDir(t)
		if err := os.WriteFile(filepath.Join(dir, segName(1)), data, 0o600); err != nil {
			t.Fatal(err)
		}
		q, err := Open(dir, opts)
		if err != nil {
			if hs, _ := checkSegHeader(data[:min(len(data), segHeaderSize)]); hs == headerVersion {
				return
			}
			t.Fatalf("Open: %v", err)
		}
		defer q.Close()

		es := readAll(t, q)
		var last uint64
		var intact int64
		for _, e := range es {
			if e.Pos <= last {
				t.Fatalf("Pos %d after %d", e.Pos, last)
			}
			last = e.Pos
			fr := appendFrame(nil, e.Pos, e.Payload)
			if !bytes.Contains(data, fr) {
				t.Fatalf("entry %d is not an intact frame of the input", e.Pos)
			}
			intact += int64(len(fr))
		}
		rec := q.Recovery()
		var header int64
		if hs, _ := checkSegHeader(data[:min(len(data), segHeaderSize)]); hs == headerOK {
			header = segHeaderSize
		}
		if header+intact+rec.LostBytes != int64(len(data)) {
			t.Fatalf("%d input bytes, accounted %d header + %d entries + %d damaged: %v",
				len(data), header, intact, rec.LostBytes, rec.Damage)
		}
		if st := q.Stats(); st.Entries != int64(len(es)) || st.Unread != 0 {
			t.Fatalf("stats %+v after reading %d entries", st, len(es))
		}

		if err := q.Append(context.Background(), [][]byte{[]byte("after")}); err != nil {
			t.Fatalf("Append after recovery: %v", err)
		}
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
		q2, err := Open(dir, opts)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer q2.Close()
		if rec := q2.Recovery(); rec.LostEntries != 0 || rec.LostBytes != 0 {
			t.Fatalf("reopen found new damage: %v", rec.Damage)
		}
		es2 := readAll(t, q2)
		if len(es2) != len(es)+1 || string(es2[len(es)].Payload) != "after" || es2[len(es)].Pos != max(last, 0)+1 {
			t.Fatalf("after reopen: %d entries (want %d + 1), last %+v", len(es2), len(es), es2[len(es2)-1])
		}
	})
}
