//go:build !linux

package sophos

// cpuSeconds is not measured off Linux (the benchmark then reports 0).
func cpuSeconds() float64 { return 0 }
