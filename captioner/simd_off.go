//go:build !goexperiment.simd

package captioner

const simdNote = ", no SIMD: build with GOEXPERIMENT=simd for 7-100x speed"
