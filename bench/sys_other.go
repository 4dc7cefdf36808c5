//go:build !unix

package bench

import (
	"runtime"
	"time"
)

// cpuTime is not measured on this platform.
func cpuTime() time.Duration { return 0 }

// MaxRSSMiB is not measured on this platform.
func MaxRSSMiB() float64 { return 0 }

func numCPU() int { return runtime.NumCPU() }
