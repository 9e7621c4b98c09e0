package main

import (
	"fmt"
	"io"

	"github.com/sophos-connect/sophos-connect/collector"
)

// printConnectChecks writes one line per check and returns how many failed.
func printConnectChecks(w io.Writer, checks []collector.ConnectCheck) int {
	failed := 0
	fmt.Fprintln(w, "\nconnection checks (-connect):")
	for _, ch := range checks {
		if ch.OK {
			fmt.Fprintf(w, "  %-32s ok: %s\n", ch.Check, ch.What)
			continue
		}
		failed++
		fmt.Fprintf(w, "  %-32s FAILED: %s\n  %-32s fix: %s\n", ch.Check, ch.What, "", ch.Fix)
	}
	return failed
}
