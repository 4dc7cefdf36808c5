//go:build goexperiment.simd

package datasets

import "simd/archsimd"

// With AVX2 the resampler's arithmetic runs four lanes at a time: the three channels of a
// pixel (and a spare lane) in the horizontal pass, for four rows at once so that four chains of
// additions overlap; four neighbouring values in the vertical pass and in the conversion to
// bytes. Each lane does the scalar code's multiplications and additions in the same order,
// rounded the same way (separate multiply and add, no fused multiply-add; truncating
// conversion), so the results are bit for bit the same (the package's tests run both).
var resampleAVX2 = archsimd.X86.AVX2()

// horizontalRows is horizontalRowsGeneric; each row of samples has one spare value after its
// last pixel.
func horizontalRows(ts, rows [][]float64, hz *axisWeights, x0, x1 int) {
	if !resampleAVX2 {
		horizontalRowsGeneric(ts, rows, hz, x0, x1)
		return
	}
	if len(rows) < 4 {
		for j := range rows {
			horizontalRow1(ts[j], rows[j], hz, x0, x1)
		}
		return
	}
	r0, r1, r2, r3 := rows[0], rows[1], rows[2], rows[3]
	t0, t1, t2, t3 := ts[0], ts[1], ts[2], ts[3]
	var out [4]float64
	for x := x0; x < x1; x++ {
		s, e := hz.start[x], hz.end[x]
		coords, weights := hz.coord[s:e], hz.weight[s:e]
		s0 := archsimd.BroadcastFloat64x4(0)
		s1, s2, s3 := s0, s0, s0
		for k, c := range coords {
			w := archsimd.BroadcastFloat64x4(weights[k])
			i := 3 * int(c)
			s0 = s0.Add(archsimd.LoadFloat64x4(r0[i : i+4]).Mul(w))
			s1 = s1.Add(archsimd.LoadFloat64x4(r1[i : i+4]).Mul(w))
			s2 = s2.Add(archsimd.LoadFloat64x4(r2[i : i+4]).Mul(w))
			s3 = s3.Add(archsimd.LoadFloat64x4(r3[i : i+4]).Mul(w))
		}
		f := archsimd.BroadcastFloat64x4(hz.invFFFF[x])
		o := 3 * (x - x0)
		s0.Mul(f).StoreArray(&out)
		t0[o], t0[o+1], t0[o+2] = out[0], out[1], out[2]
		s1.Mul(f).StoreArray(&out)
		t1[o], t1[o+1], t1[o+2] = out[0], out[1], out[2]
		s2.Mul(f).StoreArray(&out)
		t2[o], t2[o+1], t2[o+2] = out[0], out[1], out[2]
		s3.Mul(f).StoreArray(&out)
		t3[o], t3[o+1], t3[o+2] = out[0], out[1], out[2]
	}
}

// horizontalRow1 is horizontalRowGeneric with a pixel's channels in one vector.
func horizontalRow1(t, rowF []float64, hz *axisWeights, x0, x1 int) {
	var out [4]float64
	for x := x0; x < x1; x++ {
		s, e := hz.start[x], hz.end[x]
		coords, weights := hz.coord[s:e], hz.weight[s:e]
		sum := archsimd.BroadcastFloat64x4(0)
		for k, c := range coords {
			px := archsimd.LoadFloat64x4(rowF[3*int(c) : 3*int(c)+4])
			sum = sum.Add(px.Mul(archsimd.BroadcastFloat64x4(weights[k])))
		}
		sum.Mul(archsimd.BroadcastFloat64x4(hz.invFFFF[x])).StoreArray(&out)
		d := t[3*(x-x0) : 3*(x-x0)+3 : 3*(x-x0)+3]
		d[0], d[1], d[2] = out[0], out[1], out[2]
	}
}

// accumulate is accumulateGeneric.
func accumulate(acc, t []float64, w float64) {
	if !resampleAVX2 {
		accumulateGeneric(acc, t, w)
		return
	}
	t = t[:len(acc)]
	wv := archsimd.BroadcastFloat64x4(w)
	i := 0
	for ; i+4 <= len(acc); i += 4 {
		a := archsimd.LoadFloat64x4(acc[i : i+4])
		a.Add(archsimd.LoadFloat64x4(t[i : i+4]).Mul(wv)).Store(acc[i : i+4])
	}
	for ; i < len(acc); i++ {
		acc[i] += float64(t[i] * w)
	}
}

// quantize is quantizeGeneric: ftou's int32(0xffff·f + 0.5) clamped to [0, 0xffff] (a
// truncating conversion gives the same out-of-range value, negative, as the scalar one), then
// the high byte.
func quantize(out []uint8, acc []float64, inv float64) {
	if !resampleAVX2 {
		quantizeGeneric(out, acc, inv)
		return
	}
	out = out[:len(acc)]
	invv, scale, half := archsimd.BroadcastFloat64x4(inv), archsimd.BroadcastFloat64x4(0xffff), archsimd.BroadcastFloat64x4(0.5)
	lo, hi := archsimd.BroadcastInt32x4(0), archsimd.BroadcastInt32x4(0xffff)
	var q [4]int32
	i := 0
	for ; i+4 <= len(acc); i += 4 {
		f := archsimd.LoadFloat64x4(acc[i : i+4]).Mul(invv)
		f.Mul(scale).Add(half).ConvertToInt32().Max(lo).Min(hi).ShiftAllRight(8).StoreArray(&q)
		o := out[i : i+4 : i+4]
		o[0], o[1], o[2], o[3] = uint8(q[0]), uint8(q[1]), uint8(q[2]), uint8(q[3])
	}
	for ; i < len(acc); i++ {
		out[i] = uint8(ftou(acc[i]*inv) >> 8)
	}
}
