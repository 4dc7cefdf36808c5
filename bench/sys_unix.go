//go:build unix

package bench

import (
	"runtime"
	"syscall"
)

// MaxRSSMiB is the peak resident memory of the process (Linux reports KiB).
func MaxRSSMiB() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return float64(ru.Maxrss) / (1 << 20)
	}
	return float64(ru.Maxrss) / 1024
}

func numCPU() int { return runtime.NumCPU() }
