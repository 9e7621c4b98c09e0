package encoding

import "github.com/sophos-connect/sophos-connect/internal/cputime"

// cpuTime is the process's user+system CPU time, so benchmarks can report a
// per-record cost that other processes on a shared machine do not inflate.
var cpuTime = cputime.Self
