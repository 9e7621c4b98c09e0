// Package texttable prints the CLI's aligned tables, cut to the
// terminal's width.
package texttable

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sophos-connect/sophos-connect/internal/redact"
)

// TimeLayout is how tables print times: local time with its UTC offset, so
// a reader never has to guess the zone.
const TimeLayout = "2006-01-02 15:04:05 -07:00"

// Table prints aligned columns (two spaces apart) for terminal output. On a
// terminal (or with $COLUMNS set) the widest columns are cut with "…" so
// every line fits the width; into a pipe or a file nothing is cut.
type Table struct {
	w     io.Writer
	rows  [][]string
	width int // 0 = no limit
}

// New is a table with the header row, as wide as w's terminal.
func New(w io.Writer, header ...string) *Table {
	return &Table{w: w, rows: [][]string{header}, width: terminalWidth(w)}
}

// Row adds a row.
func (t *Table) Row(cells ...string) { t.rows = append(t.rows, cells) }

// terminalWidth is $COLUMNS, else the width of w when it is a terminal,
// else 0.
func terminalWidth(w io.Writer) int {
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	if f, ok := redact.Unwrap(w).(*os.File); ok {
		return ttyWidth(f)
	}
	return 0
}

// fit cuts the widest column until the line fits; only when that column
// is down to its floor (its header, at least 8 characters) is the next
// widest cut too.
func fit(widths []int, minw []int, limit int) []int {
	total := 2 * (len(widths) - 1)
	for _, w := range widths {
		total += w
	}
	for total > limit {
		wi := -1
		for i, w := range widths {
			if w > minw[i] && (wi < 0 || w > widths[wi]) {
				wi = i
			}
		}
		if wi < 0 {
			break // nothing left to cut: let the terminal wrap
		}
		cut := min(total-limit, widths[wi]-minw[wi])
		widths[wi] -= cut
		total -= cut
	}
	return widths
}

func truncate(s string, w int) string {
	if utf8.RuneCountInString(s) <= w {
		return s
	}
	r := []rune(s)
	if w < 1 {
		return ""
	}
	return string(r[:w-1]) + "…"
}

// Flush prints the rows, each column as wide as its widest cell (cut to
// the width when there is one).
func (t *Table) Flush() error {
	n := 0
	for _, r := range t.rows {
		n = max(n, len(r))
	}
	widths := make([]int, n)
	minw := make([]int, n)
	for ri, r := range t.rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
			if ri == 0 {
				minw[i] = max(8, utf8.RuneCountInString(c))
			}
		}
	}
	for i := range minw {
		minw[i] = min(max(minw[i], 8), widths[i])
	}
	if t.width > 0 {
		widths = fit(widths, minw, t.width)
	}
	for _, r := range t.rows {
		var b strings.Builder
		for i, c := range r {
			c = truncate(c, widths[i])
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		if _, err := fmt.Fprintln(t.w, strings.TrimRight(b.String(), " ")); err != nil {
			return err
		}
	}
	return nil
}

// Ago is d as an AGE column says it: just now, 5m ago, 3h ago, 4d ago.
func Ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}
