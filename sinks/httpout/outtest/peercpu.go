package outtest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ProcessCPU is the user+system CPU time of another process (a real peer a
// benchmark runs), from /proc/<pid>/stat; 0 where there is no /proc.
func ProcessCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// the fields after the command's ")": state is field 3, utime 14, stime 15
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// ReportPeerCPU reports the peer's CPU µs per record of the benchmark's
// records since cpu0 (ProcessCPU before it ran).
func ReportPeerCPU(b *testing.B, pid int, cpu0 time.Duration, records int) {
	if cpu := ProcessCPU(pid); cpu > 0 && records > 0 {
		b.ReportMetric(float64((cpu-cpu0).Microseconds())/float64(records), "peer-cpu-µs/record")
	}
}
