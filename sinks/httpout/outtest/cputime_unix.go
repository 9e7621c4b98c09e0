//go:build unix

package outtest

import (
	"syscall"
	"time"
)

// CPUTime is the process's user+system CPU time: on a shared machine the
// CPU spent per record says more than wall time.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
