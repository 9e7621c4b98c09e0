//go:build unix

package encoding

import (
	"syscall"
	"time"
)

// cpuTime is the process's user+system CPU time, so benchmarks can report a
// per-record cost that other processes on a shared machine do not inflate.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
