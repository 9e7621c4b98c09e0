package pipeline

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"
)

// The hand-written file reads back through encoding/json as written, for
// any tenant name, after keys come and go.
func TestCheckpointFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenCheckpoints(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"", "Plain", `Quote " and \ back`, "tab\tnew\nline\x01\x7f", "Ünïcødé 東京", "bad \xff utf8", "<html>&"}
	want := map[string]Checkpoint{}
	at := time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)
	for i, n := range names {
		k := fmt.Sprintf("t%d/event", i)
		c := Checkpoint{Cursor: fmt.Sprintf("cur+/%d==", i), SavedAt: at.Add(time.Duration(i) * time.Second), TenantName: n}
		s.Set(k, c)
		want[k] = c
	}
	check := func() {
		t.Helper()
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(s.Path())
		var f checkpointFile
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("the file is not JSON: %v\n%s", err, b)
		}
		if f.Version != 1 || len(f.Partitions) != len(want) {
			t.Fatalf("version %d, %d partitions, want %d", f.Version, len(f.Partitions), len(want))
		}
		for k, w := range want {
			g := f.Partitions[k]
			wn := w.TenantName
			if q, _ := json.Marshal(wn); true {
				json.Unmarshal(q, &wn) // invalid UTF-8 reads back as encoding/json writes it
			}
			if g.Cursor != w.Cursor || !g.SavedAt.Equal(w.SavedAt) || g.TenantName != wn {
				t.Fatalf("%s: read %+v, wrote %+v", k, g, w)
			}
		}
		again, err := OpenCheckpoints(dir)
		if err != nil || len(again.All()) != len(want) {
			t.Fatalf("reopen: %v, %d", err, len(again.All()))
		}
	}
	check()
	s.Delete(func(k string) bool { return k == "t1/event" })
	delete(want, "t1/event")
	s.Set("t9/alert", Checkpoint{Cursor: "x", SavedAt: at})
	want["t9/alert"] = Checkpoint{Cursor: "x", SavedAt: at}
	check()
}

// BenchmarkCheckpointFlush10k: one commit of 5,000 tenants × 2 streams.
func BenchmarkCheckpointFlush10k(b *testing.B) {
	s, err := OpenCheckpoints(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for i := range 10000 {
		s.Set(fmt.Sprintf("%08x-aaaa-bbbb-cccc-%012x/event", i, i), Checkpoint{Cursor: "MTcyMDAwMDAwMDAwMDp5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5", SavedAt: now, TenantName: fmt.Sprintf("Tenant %d", i)})
	}
	for b.Loop() {
		s.Set("00000000-aaaa-bbbb-cccc-000000000000/event", Checkpoint{Cursor: "y", SavedAt: time.Now()})
		if err := s.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}
