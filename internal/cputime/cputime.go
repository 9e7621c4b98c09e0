// Package cputime reads the process's own CPU time (user + system), so
// benchmarks can report a per-record cost that other processes on a shared
// machine do not inflate.
package cputime

import "time"

// Self returns the CPU time this process has used so far (0 where the
// platform cannot tell).
func Self() time.Duration { return self() }
