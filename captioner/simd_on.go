//go:build goexperiment.simd

package captioner

const simdNote = ", SIMD kernels"
