package file

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// External rotation as logrotate does it, without logrotate (the real one
// runs in cmd/sophos-connect's TestLogrotate*): rename away (create mode),
// truncate in place (copytruncate), and SIGHUP's Reopen. Each id lands in
// exactly one file, each array file parses, no NUL byte anywhere.
func TestExternalRotation(t *testing.T) {
	for _, layout := range []string{"array", "txt"} {
		for _, how := range []string{"rename", "truncate", "rename+reopen"} {
			t.Run(layout+"/"+how, func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, "out.json")
				var s pipeline.Sink
				var err error
				if layout == "array" {
					s, err = NewJSON("j", JSONConfig{Path: path, Layout: "array"}, nil)
				} else {
					s, err = NewTxt("t", TxtConfig{Path: path, Format: "raw"}, nil)
				}
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				if err := s.Start(ctx); err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				var kept []string // rotated copies
				n := 0
				write := func(k int) {
					t.Helper()
					if err := s.Write(ctx, records(t, pipeline.Events, n, k)); err != nil {
						t.Fatal(err)
					}
					n += k
				}
				for round := 0; round < 3; round++ {
					write(3)
					rotated := filepath.Join(dir, "out.json."+string(rune('1'+round)))
					switch how {
					case "rename", "rename+reopen":
						if err := os.Rename(path, rotated); err != nil {
							t.Fatal(err)
						}
						if round%2 == 0 { // logrotate's create: an empty file appears
							os.WriteFile(path, nil, 0o640)
						}
						if how == "rename+reopen" {
							s.(interface{ Reopen() error }).Reopen()
						}
					case "truncate":
						b, _ := os.ReadFile(path)
						os.WriteFile(rotated, b, 0o644)
						if err := os.Truncate(path, 0); err != nil {
							t.Fatal(err)
						}
					}
					kept = append(kept, rotated)
					write(2)
				}
				seen := map[string]int{}
				for _, f := range append(kept, path) {
					b, err := os.ReadFile(f)
					if err != nil {
						t.Fatal(err)
					}
					if bytes.IndexByte(b, 0) >= 0 {
						t.Fatalf("%s holds NUL bytes: %q", f, b)
					}
					if layout == "array" {
						for _, id := range readArray(t, f) {
							seen[id]++
						}
					} else {
						for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
							if len(line) == 0 {
								continue
							}
							i := bytes.Index(line, []byte(`"id":"`))
							seen[string(line[i+6:i+14])]++
						}
					}
				}
				if len(seen) != n {
					t.Fatalf("%d distinct ids across the files, want %d: %v", len(seen), n, seen)
				}
				for id, c := range seen {
					if c != 1 {
						t.Fatalf("%s written %d times", id, c)
					}
				}
			})
		}
	}
}

// TestArrayTruncatedMidWrite: logrotate's copytruncate empties the file
// after the sink's size check — before its cut (which would then extend the
// empty file with NUL bytes) or between the cut and the append (leaving a
// bare ", item]"). The sink notices and starts a new array with the batch.
func TestArrayTruncatedMidWrite(t *testing.T) {
	for _, stage := range []string{"cut", "append"} {
		t.Run(stage, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a.json")
			sk, err := NewJSON("j", JSONConfig{Path: path, Layout: "array"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			sk.Start(ctx)
			defer sk.Close()
			if err := sk.Write(ctx, records(t, pipeline.Events, 0, 3)); err != nil {
				t.Fatal(err)
			}
			a := sk.(*ArraySink)
			a.testHook = func(at string) {
				if at == stage {
					os.Truncate(path, 0)
					a.testHook = nil
				}
			}
			if err := sk.Write(ctx, records(t, pipeline.Events, 3, 2)); err != nil {
				t.Fatal(err)
			}
			if err := sk.Write(ctx, records(t, pipeline.Events, 5, 1)); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(path)
			if bytes.IndexByte(b, 0) >= 0 {
				t.Fatalf("NUL bytes: %q", b)
			}
			if ids := readArray(t, path); len(ids) != 3 || ids[0] != "id-00003" || ids[2] != "id-00005" {
				t.Fatalf("ids %v, want id-00003..5", ids)
			}
		})
	}
}
