//go:build unix

// Package cputime reads the CPU time the process has used, for "cores busy" figures in
// benchmarks (bench) and their tests.
package cputime

import (
	"syscall"
	"time"
)

// Process is the process's user+system CPU time so far (0 when it cannot be read).
func Process() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
