package encoding

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the encoders' output")

// goldenPages are the inputs of the golden tests: the reference's sample
// pages and hand-written edge cases.
var goldenPages = []struct {
	file   string
	stream pipeline.Stream
}{
	{"events_page.json", pipeline.Events},
	{"alerts_page.json", pipeline.Alerts},
	{"extra_events.json", pipeline.Events},
	{"extra_alerts.json", pipeline.Alerts},
}

// goldenLine is one expected output: which item, and the exact bytes
// (JSON-quoted so that outputs with newlines stay one line).
type goldenLine struct {
	Input string `json:"input"`
	Out   string `json:"out"`
}

// goldenVariants are the encoders under test; the golden file is
// testdata/golden/<name>.jsonl.
var goldenVariants = []struct {
	name, format string
	opts         Options
}{
	{"raw", "raw", Options{}},
	{"txt", "txt", Options{}},
	{"txt_strict", "txt", Options{CEFStrict: true}},
	{"official-json", "official-json", Options{}},
	{"keyvalue", "keyvalue", Options{}},
	{"keyvalue_strict", "keyvalue", Options{CEFStrict: true}},
	{"cef", "cef", Options{}},
	{"cef_strict", "cef", Options{CEFStrict: true}},
	{"cef_keep_dhost", "cef", Options{KeepDhost: true}},
	{"ecs", "ecs", Options{}},
}

func TestGolden(t *testing.T) {
	for _, v := range goldenVariants {
		t.Run(v.name, func(t *testing.T) {
			enc := mustNew(t, v.format, v.opts)
			var got []goldenLine
			for _, pg := range goldenPages {
				for i, r := range pageRecords(t, pg.file, pg.stream) {
					got = append(got, goldenLine{fmt.Sprintf("%s#%d", pg.file, i), encode(t, enc, r)})
				}
			}
			path := filepath.Join("testdata", "golden", v.name+".jsonl")
			if *update {
				var b bytes.Buffer
				for _, g := range got {
					line, _ := json.Marshal(g)
					b.Write(line)
					b.WriteByte('\n')
				}
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want := readGolden(t, path)
			if len(want) != len(got) {
				t.Fatalf("%d outputs, golden has %d (run go test -update)", len(got), len(want))
			}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("%s:\ngot  %q\nwant %q", want[i].Input, got[i].Out, want[i].Out)
				}
			}
		})
	}
}

func readGolden(t *testing.T, path string) []goldenLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []goldenLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var g goldenLine
		if err := json.Unmarshal(sc.Bytes(), &g); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, g)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
