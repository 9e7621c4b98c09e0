package encoding

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// checkFields verifies that fields describe out exactly: the head, then the
// pairs separated by one space (none after a CEF header), each "key=…" with the id pair marked.
func checkFields(t *testing.T, format string, out []byte, f *Fields, id string) {
	t.Helper()
	var rebuilt []byte
	rebuilt = append(rebuilt, out[:f.Head]...)
	ids := 0
	for i, p := range f.Pairs {
		if p.Start < f.Head || p.End < p.Start || p.End > len(out) {
			t.Fatalf("%s: pair %d %+v out of range (head %d, len %d)", format, i, p, f.Head, len(out))
		}
		prev := f.Head
		if i > 0 {
			prev = f.Pairs[i-1].End
		}
		if sep := string(out[prev:p.Start]); sep != " " && (i > 0 || sep != "") {
			t.Fatalf("%s: separator before pair %d is %q", format, i, sep)
		}
		rebuilt = append(rebuilt, out[prev:p.Start]...)
		pair := out[p.Start:p.End]
		if !bytes.Contains(pair, []byte("=")) {
			t.Fatalf("%s: pair %d %q has no '='", format, i, pair)
		}
		if p.ID {
			ids++
			want := "id=" + id
			if format == "keyvalue" {
				want = `id="` + id + `";`
			}
			if string(pair) != want {
				t.Errorf("%s: id pair is %q, want %q", format, pair, want)
			}
		}
		rebuilt = append(rebuilt, pair...)
	}
	if !bytes.Equal(rebuilt, out) {
		t.Fatalf("%s: head and pairs do not rebuild the output:\n got %q\nwant %q", format, rebuilt, out)
	}
	if id != "" && ids != 1 {
		t.Errorf("%s: %d id pairs, want 1", format, ids)
	}
}

func TestFieldsDescribeOutput(t *testing.T) {
	recs := append(pageRecords(t, "alerts_page.json", pipeline.Alerts), pageRecords(t, "events_page.json", pipeline.Events)...)
	recs = append(recs, rec(pipeline.Events, `{"id":"x1","type":"T","name":"line\nbreak","rt":"2024-01-01","k":"a b=c\r\nd"}`),
		rec(pipeline.Events, `{"id":"x2","name":"no rt"}`))
	for _, format := range []string{"cef", "keyvalue"} {
		for _, strict := range []bool{false, true} {
			e := mustNew(t, format, Options{CEFStrict: strict}).(FieldEncoder)
			for _, r := range recs {
				out, err := e.Append([]byte("prefix"), r)
				if err != nil {
					t.Fatal(err)
				}
				out = out[len("prefix"):]
				if format == "cef" && !strings.HasSuffix(string(out[:e.LastFields().Head]), "|") {
					t.Errorf("cef head %q does not end with '|'", out[:e.LastFields().Head])
				}
				checkFields(t, format, out, e.LastFields(), r.ID)
			}
		}
	}
}
