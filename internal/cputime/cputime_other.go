//go:build !unix

// Package cputime reads the CPU time the process has used, for "cores busy" figures in
// benchmarks (bench) and their tests.
package cputime

import "time"

// Process is not measured on this platform: always 0.
func Process() time.Duration { return 0 }
