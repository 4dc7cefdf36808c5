//go:build !unix

package bench

import (
	"runtime"
)

// MaxRSSMiB is not measured on this platform.
func MaxRSSMiB() float64 { return 0 }

func numCPU() int { return runtime.NumCPU() }
