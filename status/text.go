package status

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// WriteText prints st as the terminal tables of `sophos-connect status`,
// each fitted to width columns (0 = no limit) by shortening its widest
// column with "…".
func WriteText(w io.Writer, st Status, width int) {
	up := ""
	if !st.StartedAt.IsZero() {
		up = ", up " + st.Now.Sub(st.StartedAt).Round(time.Second).String()
	}
	fmt.Fprintf(w, "sophos-connect %s%s; as of %s\n", orDash(st.Version), up, st.Now.Local().Format("2006-01-02 15:04:05 MST"))
	if !st.Healthy() {
		var bad []string
		for _, s := range st.Sinks {
			if s.State != SinkOK {
				bad = append(bad, "sink "+s.Name+" "+s.State)
			}
		}
		if st.Totals.FailingStreams > 0 {
			bad = append(bad, fmt.Sprintf("%d failing tenant stream(s)", st.Totals.FailingStreams))
		}
		for _, o := range st.OrphanedBuffers {
			bad = append(bad, fmt.Sprintf("disk buffer %s holds %d record(s) of sink %s, no longer in the config (buffer.adopt or `buffer drop`)", o.Dir, o.Records, o.Sink))
		}
		fmt.Fprintf(w, "NOT OK: %s\n", strings.Join(bad, ", "))
	}
	if st.Identity.ID != "" {
		fmt.Fprintf(w, "identity: %s %s", st.Identity.IDType, st.Identity.ID)
		if st.Identity.DataRegion != "" {
			fmt.Fprintf(w, " (%s)", st.Identity.DataRegion)
		}
		fmt.Fprintln(w)
	}
	if m := st.Member; m != nil {
		fmt.Fprintf(w, "member: %s of group %s; partitions %v; %d tenants\n", m.ID, m.Group, m.Partitions, len(m.Tenants))
	}
	t := st.Totals
	fmt.Fprintf(w, "tenants %d, records pulled %d, delivered %d, dead-lettered %d, failing streams %d\n\n",
		t.Tenants, t.RecordsPulled, t.Delivered, t.DeadLettered, t.FailingStreams)

	rows := [][]string{{"TENANT", "ID", "STREAM", "LAST PULL", "CHECKPOINT AGE", "BAND", "RECORDS 1H", "LAST ERROR"}}
	for _, tn := range st.Tenants {
		for _, s := range tn.Streams {
			age := "never"
			if s.CheckpointAgeSeconds != nil {
				age = (time.Duration(*s.CheckpointAgeSeconds) * time.Second).String()
			}
			rows = append(rows, []string{orDash(tn.Name), tn.ID, s.Stream, fmtTime(s.LastPull), age, s.Band,
				fmt.Sprint(s.RecordsLastHour), orDash(cmpOr(s.LastError, s.NotAvailable))})
		}
	}
	writeTable(w, rows, width)
	fmt.Fprintln(w)
	rows = [][]string{{"SINK", "TYPE", "STATE", "DELIVERED", "QUEUED", "BUFFERED BYTES", "OLDEST WAITING", "DEAD-LETTERED", "LAST ERROR"}}
	for _, s := range st.Sinks {
		oldest := "-"
		if s.OldestUndeliveredSeconds != nil {
			oldest = (time.Duration(*s.OldestUndeliveredSeconds) * time.Second).String()
		}
		rows = append(rows, []string{s.Name, orDash(s.Type), orDash(s.State), fmt.Sprint(s.Delivered), fmt.Sprint(s.Queued),
			fmt.Sprint(s.BufferedBytes), oldest, fmt.Sprint(s.DeadLettered), orDash(s.LastError)})
	}
	writeTable(w, rows, width)
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeTable aligns rows in columns two spaces apart; when the table is wider
// than width, the widest column is cut with "…" until it fits (or every
// column is down to 8 characters).
func writeTable(w io.Writer, rows [][]string, width int) {
	if len(rows) == 0 {
		return
	}
	n := len(rows[0])
	widths := make([]int, n)
	for _, r := range rows {
		for i, c := range r {
			c = oneLine(c)
			r[i] = c
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	total := func() int {
		s := 2 * (n - 1)
		for _, x := range widths {
			s += x
		}
		return s
	}
	for width > 0 && total() > width {
		wi := 0
		for i, x := range widths {
			if x > widths[wi] {
				wi = i
			}
		}
		if widths[wi] <= 8 {
			break
		}
		widths[wi] = max(8, widths[wi]-(total()-width))
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			if utf8.RuneCountInString(c) > widths[i] {
				c = string([]rune(c)[:widths[i]-1]) + "…"
			}
			b.WriteString(c)
			if i < n-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// oneLine keeps a cell on one line (error texts may hold newlines).
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// cmpOr is the first non-empty string.
func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
