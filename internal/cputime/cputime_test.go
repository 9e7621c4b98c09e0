package cputime

import (
	"runtime"
	"testing"
	"time"
)

func TestSelfAdvances(t *testing.T) {
	before := Self()
	deadline := time.Now().Add(50 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	_ = x
	if runtime.GOOS == "linux" || runtime.GOOS == "windows" {
		if after := Self(); after <= before {
			t.Fatalf("CPU time did not advance: %v → %v", before, after)
		}
	}
}
