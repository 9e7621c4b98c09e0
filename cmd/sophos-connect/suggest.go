package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"strings"
)

// didYouMean returns " (did you mean X?)" for the candidate closest to word
// when it is within two edits (a typo such as valdate), else "".
func didYouMean(word string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(word), c); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// commandNames are the top-level command words.
func commandNames() []string {
	var out []string
	for _, c := range commandTable() {
		out = append(out, c.Name)
	}
	return out
}

// printFlags is flag.PrintDefaults with aliases on one line: "-c, -config
// string" once instead of two entries with the same text.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	type entry struct {
		names []string
		f     *flag.Flag
	}
	var list []*entry
	fs.VisitAll(func(f *flag.Flag) {
		for _, e := range list {
			if e.f.Usage == f.Usage && e.f.DefValue == f.DefValue {
				e.names = append(e.names, f.Name)
				return
			}
		}
		list = append(list, &entry{names: []string{f.Name}, f: f})
	})
	for _, e := range list {
		var b bytes.Buffer
		for i, n := range e.names {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("-" + n)
		}
		// Sort so the short name comes first (-c, -config).
		names := strings.Split(b.String(), ", ")
		if len(names) > 1 && len(names[0]) > len(names[1]) {
			names[0], names[1] = names[1], names[0]
		}
		line := "  " + strings.Join(names, ", ")
		typ, usage := flag.UnquoteUsage(e.f)
		if typ != "" {
			line += " " + typ
		}
		line += "\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t")
		if e.f.DefValue != "" && e.f.DefValue != "false" && e.f.DefValue != "0" && e.f.DefValue != "0s" {
			line += fmt.Sprintf(" (default %q)", e.f.DefValue)
		}
		fmt.Fprintln(w, line)
	}
}
