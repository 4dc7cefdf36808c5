//go:build !goexperiment.simd || !amd64

package datasets

// resampleAVX2 is false without GOEXPERIMENT=simd on amd64: the generic loops run.
var resampleAVX2 = false

func horizontalRows(ts, rows [][]float64, hz *axisWeights, x0, x1 int) {
	horizontalRowsGeneric(ts, rows, hz, x0, x1)
}

func accumulate(acc, t []float64, w float64) { accumulateGeneric(acc, t, w) }

func quantize(out []uint8, acc []float64, inv float64) { quantizeGeneric(out, acc, inv) }
