package texttable

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestTableFitsWidth: with a width the widest column is cut with "…" and
// every line fits; without one (a pipe) nothing is cut.
func TestTableFitsWidth(t *testing.T) {
	long := strings.TrimSpace(strings.Repeat("description ", 20))
	build := func(width int) string {
		var b strings.Builder
		tw := New(&b, "ID", "SEVERITY", "DESCRIPTION")
		tw.width = width
		tw.Row("6c9e1a2b-0000-4000-8000-000000000001", "high", long)
		tw.Row("6c9e1a2b-0000-4000-8000-000000000002", "low", "short")
		if err := tw.Flush(); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	out := build(80)
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if n := utf8.RuneCountInString(l); n > 80 {
			t.Errorf("line of %d columns > 80: %q", n, l)
		}
	}
	if !strings.Contains(out, "…") || !strings.Contains(out, "6c9e1a2b-0000-4000-8000-000000000001") {
		t.Errorf("want the description cut and the id whole:\n%s", out)
	}
	if out := build(0); strings.Contains(out, "…") || !strings.Contains(out, long) {
		t.Errorf("without a width nothing is cut:\n%s", out)
	}
	t.Setenv("COLUMNS", "50")
	if w := terminalWidth(&strings.Builder{}); w != 50 {
		t.Errorf("COLUMNS=50: width %d", w)
	}
}
