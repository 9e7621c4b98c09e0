package file

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

func records(t testing.TB, stream pipeline.Stream, from, n int) []*pipeline.Record {
	t.Helper()
	var out []*pipeline.Record
	for i := from; i < from+n; i++ {
		raw := fmt.Sprintf(`{"when":"2026-11-26T10:00:00.000Z","id":"id-%05d","severity":"low","created_at":"2026-11-26T10:00:01.000Z","source_info":{"ip":"10.0.0.%d"},"type":"Event::Endpoint::UpdateSuccess","location":"HOST-%d","group":"UPDATING","name":"Update succeeded","customer_id":"t1"}`, i, i%250, i)
		r, err := pipeline.NewRecord(stream, "t1", []byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &r)
	}
	return out
}

func readArray(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var items []struct{ ID string }
	if err := json.Unmarshal(b, &items); err != nil {
		t.Fatalf("%s is not a JSON array: %v\n%.200s", path, err, b)
	}
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	return ids
}

func TestArrayAppendsInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sophos_events.json")
	s, err := NewJSON("j", JSONConfig{Path: path, Layout: "array"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if ids := readArray(t, path); len(ids) != 0 {
		t.Fatalf("new file holds %v", ids)
	}
	for b := 0; b < 5; b++ {
		if err := s.Write(ctx, records(t, pipeline.Events, b*10, 10)); err != nil {
			t.Fatal(err)
		}
		// A valid array after every batch.
		if ids := readArray(t, path); len(ids) != (b+1)*10 {
			t.Fatalf("after batch %d: %d items", b, len(ids))
		}
	}
	s.Close()
	// Reopen: appends continue the same array.
	s2, _ := NewJSON("j", JSONConfig{Path: path, Layout: "array"}, nil)
	if err := s2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s2.Write(ctx, records(t, pipeline.Events, 50, 3))
	s2.Close()
	ids := readArray(t, path)
	if len(ids) != 53 || ids[0] != "id-00000" || ids[52] != "id-00052" {
		t.Fatalf("ids %d first %s last %s", len(ids), ids[0], ids[len(ids)-1])
	}
	b, _ := os.ReadFile(path)
	// The seed's layout: one line, ", " between items, the items as received.
	if bytes.Count(b, []byte("\n")) != 0 || !bytes.Contains(b, []byte(`"customer_id":"t1"}, {"when"`)) {
		t.Fatalf("layout: %.300s", b)
	}
}

// TestArrayRepairsTornWrite cuts the file at every offset inside the last
// write: Start must keep every complete element and close the array.
func TestArrayRepairsTornWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.json")
	ctx := context.Background()
	s, _ := NewJSON("j", JSONConfig{Path: path, Layout: "array"}, nil)
	s.Start(ctx)
	s.Write(ctx, records(t, pipeline.Alerts, 0, 3))
	before, _ := os.ReadFile(path)
	s.Write(ctx, records(t, pipeline.Alerts, 3, 2))
	s.Close()
	full, _ := os.ReadFile(path)
	for cut := len(before) - 1; cut < len(full)-1; cut++ {
		os.WriteFile(path, full[:cut], 0o644)
		s, _ := NewJSON("j", JSONConfig{Path: path, Layout: "array"}, nil)
		if err := s.Start(ctx); err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		ids := readArray(t, path)
		if len(ids) < 3 || len(ids) > 5 {
			t.Fatalf("cut %d: %d items kept", cut, len(ids))
		}
		// The retried batch lands after the kept items.
		s.Write(ctx, records(t, pipeline.Alerts, len(ids), 5-len(ids)))
		s.Close()
		if ids := readArray(t, path); len(ids) != 5 || ids[4] != "id-00004" {
			t.Fatalf("cut %d: after retry %v", cut, ids)
		}
	}
}

func TestArrayRefusesForeignFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.json")
	os.WriteFile(path, []byte(`{"not":"an array"}`), 0o644)
	s, _ := NewJSON("j", JSONConfig{Path: path, Layout: "array"}, nil)
	if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "not a JSON array") {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != `{"not":"an array"}` {
		t.Fatal("foreign file modified")
	}
}

func TestTxtLinesAndTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "sophos_events")
	ctx := context.Background()
	s, err := NewTxt("t", TxtConfig{Path: path, Format: "txt"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s.Write(ctx, records(t, pipeline.Events, 0, 4))
	s.Close()
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	want := "[Timestamp: 2026-11-26T10:00:01.000Z] [EventID: id-00000] [Severity: low] [Name: Update succeeded] [IP: ][EventType: Event::Endpoint::UpdateSuccess] [SourceInfo: {'ip': '10.0.0.0'}] [Location: HOST-0] [Group: UPDATING] [CustomerID: t1]"
	if len(lines) != 4 || lines[0] != want {
		t.Fatalf("lines %d, first:\n%s\nwant:\n%s", len(lines), lines[0], want)
	}
	// A torn last line is cut on start.
	os.WriteFile(path, append(b, []byte("[Timestamp: 2026-11-26T10:0")...), 0o644)
	s2, _ := NewTxt("t", TxtConfig{Path: path, Format: "txt"}, nil)
	s2.Start(ctx)
	s2.Write(ctx, records(t, pipeline.Events, 4, 1))
	s2.Close()
	b2, _ := os.ReadFile(path)
	if n := strings.Count(string(b2), "\n"); n != 5 || strings.Contains(string(b2), "10:0[") {
		t.Fatalf("after repair: %d lines\n%s", n, b2)
	}
}

func TestLinesLayoutIsNDJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e.ndjson")
	ctx := context.Background()
	s, _ := NewJSON("l", JSONConfig{Path: path, Layout: "lines"}, nil)
	s.Start(ctx)
	s.Write(ctx, records(t, pipeline.Events, 0, 3))
	s.Close()
	b, _ := os.ReadFile(path)
	for i, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if m["datastream"] != "event" || m["tenant_id"] != "t1" {
			t.Fatalf("raw format keys missing: %v", m)
		}
	}
}

func TestRotateBySizeKeepsN(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cef.log")
	ctx := context.Background()
	s, err := NewTxt("r", TxtConfig{Path: path, Format: "raw", Rotate: Rotate{MaxBytes: config.ByteSize(3000), Keep: 2}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(ctx)
	clock := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	s.rot.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	total := 0
	for b := 0; b < 8; b++ {
		if err := s.Write(ctx, records(t, pipeline.Events, b*5, 5)); err != nil {
			t.Fatal(err)
		}
		total += 5
	}
	s.Close()
	rotated, _ := filepath.Glob(filepath.Join(dir, "cef-*.log"))
	if len(rotated) != 2 {
		t.Fatalf("rotated files %v, want the newest 2", rotated)
	}
	st, _ := os.Stat(path)
	if st.Size() > 3000 {
		t.Fatalf("current file %d bytes > max_bytes", st.Size())
	}
	for _, f := range append(rotated, path) {
		b, _ := os.ReadFile(f)
		if len(b) > 3000 {
			t.Fatalf("%s has %d bytes", f, len(b))
		}
	}
}

func TestRotateArrayStartsNewArray(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.json")
	ctx := context.Background()
	sk, _ := NewJSON("j", JSONConfig{Path: path, Layout: "array", Rotate: Rotate{MaxBytes: 1300}}, nil)
	sk.Start(ctx)
	for b := 0; b < 6; b++ {
		sk.Write(ctx, records(t, pipeline.Events, b*2, 2))
	}
	sk.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	seen := 0
	for _, f := range files {
		seen += len(readArray(t, f)) // every file is a valid array
	}
	if seen != 12 || len(files) < 3 {
		t.Fatalf("%d files, %d items", len(files), seen)
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []struct {
		c    interface{ Validate() error }
		want string
	}{
		{&TxtConfig{Format: "txt"}, "path: missing"},
		{&TxtConfig{Path: "x", Format: "xml"}, "format"},
		{&JSONConfig{Path: "x", Layout: "table"}, "layout"},
		{&JSONConfig{Path: "x", Layout: "array", Format: "cef"}, "not a JSON format"},
	}
	for _, b := range bad {
		if err := b.c.Validate(); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%+v: err %v, want %q", b.c, err, b.want)
		}
	}
}

func TestRotateByAge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.log")
	ctx := context.Background()
	s, err := NewTxt("a", TxtConfig{Path: path, Format: "raw", Rotate: Rotate{MaxAge: config.Duration(time.Hour)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	s.rot.now = func() time.Time { return clock }
	s.Start(ctx)
	s.rot.opened = clock
	s.Write(ctx, records(t, pipeline.Events, 0, 2))
	clock = clock.Add(59 * time.Minute)
	s.Write(ctx, records(t, pipeline.Events, 2, 2))
	if rotated, _ := filepath.Glob(filepath.Join(dir, "events-*.log")); len(rotated) != 0 {
		t.Fatalf("rotated before max_age: %v", rotated)
	}
	clock = clock.Add(2 * time.Minute)
	s.Write(ctx, records(t, pipeline.Events, 4, 2))
	s.Close()
	rotated, _ := filepath.Glob(filepath.Join(dir, "events-*.log"))
	if len(rotated) != 1 {
		t.Fatalf("want one file rotated after max_age, got %v", rotated)
	}
	old, _ := os.ReadFile(rotated[0])
	cur, _ := os.ReadFile(path)
	if strings.Count(string(old), "\n") != 4 || strings.Count(string(cur), "\n") != 2 {
		t.Fatalf("rotated %d lines, current %d", strings.Count(string(old), "\n"), strings.Count(string(cur), "\n"))
	}
}

// TestArrayStructureCheckedAtOpen: the whole file's structure is checked
// once at open. What a torn append leaves is repaired (even a cut right
// after an inner ']', which the old last-byte check took for a closed
// array); anything else is an error naming the byte, and the file is never
// touched.
func TestArrayStructureCheckedAtOpen(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: `[{"a":[1]}, {"b":[2]`, want: `[{"a":[1]}]`},
		{in: `[{"a":[1]}, {"b":"x]`, want: `[{"a":[1]}]`},
		{in: `[{"a":[1]}, `, want: `[{"a":[1]}]`},
		{in: `[`, want: `[]`},
		{in: `[{"a":"]"}]` + "\n", want: `[{"a":"]"}]` + "\n"},
		{in: `{"a":[1]}`, err: `byte 0: the file starts with '{', not '['`},
		{in: `[{"a":1}}, {"b":2}]`, err: `byte 8: '}' closes nothing`},
		{in: `[{"a":[1}]`, err: `byte 8: '}' closes '['`},
		{in: `[{"a":1} {"b":2}]`, err: `byte 9: two elements without a ','`},
		{in: `[{"a":1}] []`, err: `byte 10: data after the closing ']'`},
		{in: `[{"a":1},,{"b":2}]`, err: `byte 9: ',' without an element`},
	} {
		path := filepath.Join(t.TempDir(), "a.json")
		os.WriteFile(path, []byte(tc.in), 0o644)
		s, _ := NewJSON("j", JSONConfig{Path: path, Layout: "array"}, nil)
		err := s.Start(context.Background())
		got, _ := os.ReadFile(path)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), path) {
				t.Fatalf("%s: error %v, want %q naming the file", tc.in, err, tc.err)
			}
			if string(got) != tc.in {
				t.Fatalf("%s: the damaged file was changed to %s", tc.in, got)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Fatalf("%s: %v, file %q, want %q", tc.in, err, got, tc.want)
		}
		s.Close()
	}
}
