//go:build !unix

package outtest

import "time"

// CPUTime is not measured here.
func CPUTime() time.Duration { return 0 }
