package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/sophos-connect/sophos-connect/config"
)

// didYouMean returns " (did you mean X?)" for the candidate closest to word
// when it is within two edits (a typo such as valdate), else "".
func didYouMean(word string, candidates []string) string {
	if best := config.Closest(strings.ToLower(word), candidates); best != "" {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	return ""
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
