package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sophos-connect/sophos-connect/internal/redact"
)

// timeLayout is how tables print times: local time with its UTC offset, so
// a reader never has to guess the zone.
const timeLayout = "2006-01-02 15:04:05 -07:00"

// table prints aligned columns (two spaces apart) for terminal output. On a
// terminal (or with $COLUMNS set) the widest columns are cut with "…" so
// every line fits the width; into a pipe or a file nothing is cut.
type table struct {
	w     io.Writer
	rows  [][]string
	width int // 0 = no limit
}

func newTable(w io.Writer, header ...string) *table {
	return &table{w: w, rows: [][]string{header}, width: terminalWidth(w)}
}

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

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

func (t *table) flush() error {
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
