package diskq

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// testLog sends the queue's log lines to t.Log, so failures show them.
func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func openQ(t testing.TB, dir string, o Options) *Queue {
	t.Helper()
	if o.Log == nil {
		o.Log = testLog(t)
	}
	q, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// payload is entry i's content: its number, then filler up to size bytes.
func payload(i, size int) []byte {
	p := fmt.Appendf(nil, "entry-%06d|", i)
	for len(p) < size {
		p = append(p, byte('a'+(i+len(p))%26))
	}
	return p[:max(size, len(fmt.Sprintf("entry-%06d|", i)))]
}

// appendRange appends entries from..to-1 (payload(i, size(i))) in batches.
func appendRange(t testing.TB, q *Queue, from, to, batch int, size func(int) int) {
	t.Helper()
	for i := from; i < to; i += batch {
		var ps [][]byte
		for j := i; j < min(i+batch, to); j++ {
			ps = append(ps, payload(j, size(j)))
		}
		if err := q.Append(context.Background(), ps); err != nil {
			t.Fatalf("Append %d..: %v", i, err)
		}
	}
}

func fixed(n int) func(int) int { return func(int) int { return n } }

// readAll reads until the reader is caught up.
func readAll(t testing.TB, q *Queue) []Entry {
	t.Helper()
	var all []Entry
	for {
		es, err := q.Read(37)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if len(es) == 0 {
			return all
		}
		all = append(all, es...)
	}
}

// entryNum is the number payload() wrote into an entry.
func entryNum(t testing.TB, e Entry) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscanf(string(e.Payload), "entry-%06d|", &n); err != nil {
		t.Fatalf("entry %d has an unexpected payload %q", e.Pos, e.Payload)
	}
	return n
}

// checkEntries asserts that es are exactly the entries numbered want, with
// their original payloads and Pos = number+1 (entries numbered from 0).
func checkEntries(t testing.TB, es []Entry, want []int, size func(int) int) {
	t.Helper()
	got := make([]int, len(es))
	for i, e := range es {
		got[i] = entryNum(t, e)
		if !bytes.Equal(e.Payload, payload(got[i], size(got[i]))) {
			t.Fatalf("entry %d: payload differs", got[i])
		}
		if e.Pos != uint64(got[i]+1) {
			t.Fatalf("entry %d has Pos %d, want %d", got[i], e.Pos, got[i]+1)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("entries differ:\n got %v\nwant %v", got, want)
	}
}

func seq(from, to int) []int { // from..to-1
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

// snapshot and restore copy a closed queue's directory, for damaging a
// pristine copy over and over.
func snapshot(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = b
	}
	return m
}

func restore(t testing.TB, snap map[string][]byte) string {
	t.Helper()
	dir := memDir(t)
	for name, b := range snap {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// frameOffsets lists the offsets of the frames of an intact segment file.
func frameOffsets(t testing.TB, seg []byte) []int64 {
	t.Helper()
	var offs []int64
	for off := int64(segHeaderSize); off < int64(len(seg)); {
		l, _, _, ok := parseFrameHeader(seg[off:])
		if !ok {
			t.Fatalf("no frame at %d", off)
		}
		offs = append(offs, off)
		off += frameSize(int(l))
	}
	return offs
}

// abandon drops a queue the way a killed process does: descriptors closed,
// nothing flushed, no ack written.
func abandon(q *Queue) {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.closedCh)
	}
	q.mu.Unlock()
	if q.stopSync != nil {
		select {
		case <-q.stopSync:
		default:
			close(q.stopSync)
			<-q.syncDone
		}
	}
	q.writeMu.Lock()
	if q.w.f != nil {
		q.w.f.Close()
		q.w.f = nil
	}
	q.writeMu.Unlock()
	q.readMu.Lock()
	q.r.close()
	q.readMu.Unlock()
	q.ack.f.Close()
	q.lock.Close()
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// memDir is a temporary directory on tmpfs when there is one: the
// corruption tests open hundreds of damaged copies and check logic, not
// durability, so they need not wait for a shared disk's fsyncs.
func memDir(t testing.TB) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "diskq-test-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}
