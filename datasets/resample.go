package datasets

import (
	"image"
	"math"
	"sync"

	xdraw "golang.org/x/image/draw"
)

// The resampler here gives, bit for bit, what x/image/draw's Catmull-Rom Scale (op Src) gives
// for an opaque image (TestResampleMatchesXDraw): the same weights, the same float64 sums in the
// same order. It is about four times faster (BenchmarkResize) because it keeps the weights of
// each (output, input) size pair, reuses its buffers, works on 3 channels instead of 4, widens
// each input sample to float64 once, runs the vertical pass along rows, uses AVX2 vectors when
// built with GOEXPERIMENT=simd (resample_simd_amd64.go), reads YCbCr JPEG pixels directly
// (converting each row to RGB as image/draw would), and computes only the output window asked
// for (a random crop).

// axisWeights are the Catmull-Rom contributions along one axis: output index i blends input
// coord[start[i]:end[i]] with weight[start[i]:end[i]] (x/image/draw's distrib).
type axisWeights struct {
	start, end   []int32
	coord        []int32
	weight       []float64
	inv, invFFFF []float64 // 1/total weight, and that over 0xffff
}

// newAxisWeights is x/image/draw's newDistrib for its CatmullRom kernel, expression for
// expression.
func newAxisWeights(dw, sw int32) *axisWeights {
	q := xdraw.CatmullRom
	scale := float64(sw) / float64(dw)
	halfWidth, kernelArgScale := q.Support, 1.0
	if scale > 1 { // shrinking: widen the kernel so that every input pixel counts
		halfWidth *= scale
		kernelArgScale = 1 / scale
	}
	a := &axisWeights{
		start: make([]int32, dw), end: make([]int32, dw),
		inv: make([]float64, dw), invFFFF: make([]float64, dw),
	}
	for x := int32(0); x < dw; x++ {
		center := float64((float64(x)+0.5)*scale) - 0.5
		i := int32(math.Floor(center - halfWidth))
		if i < 0 {
			i = 0
		}
		j := int32(math.Ceil(center + halfWidth))
		if j > sw {
			j = sw
			if j < i {
				j = i
			}
		}
		a.start[x] = int32(len(a.coord))
		totalWeight := 0.0
		for coord := i; coord < j; coord++ {
			t := (center - float64(coord)) * kernelArgScale
			if t < 0 {
				t = -t
			}
			if t >= q.Support {
				continue
			}
			weight := q.At(t)
			if weight == 0 {
				continue
			}
			totalWeight += weight
			a.coord = append(a.coord, coord)
			a.weight = append(a.weight, weight)
		}
		a.end[x] = int32(len(a.coord))
		totalWeight = 1 / totalWeight
		a.inv[x], a.invFFFF[x] = totalWeight, totalWeight/0xffff
	}
	return a
}

// weightsCache keeps the axes of the sizes seen (a few for a data set), up to a bound so that
// a server fed every size under the sun does not grow without end.
var weightsCache struct {
	sync.Mutex
	m map[[2]int32]*axisWeights
}

const maxCachedAxes = 2048

func axisFor(dw, sw int) *axisWeights {
	key := [2]int32{int32(dw), int32(sw)}
	weightsCache.Lock()
	a := weightsCache.m[key]
	weightsCache.Unlock()
	if a != nil {
		return a
	}
	a = newAxisWeights(key[0], key[1])
	weightsCache.Lock()
	if weightsCache.m == nil {
		weightsCache.m = map[[2]int32]*axisWeights{}
	}
	if len(weightsCache.m) < maxCachedAxes {
		weightsCache.m[key] = a
	}
	weightsCache.Unlock()
	return a
}

// sample16 is an 8-bit value widened to 16 bits (v·0x101) as a float64, as x/image/draw reads
// pixels.
var sample16 = func() (t [256]float64) {
	for v := range t {
		t[v] = float64(uint32(v) * 0x101)
	}
	return t
}()

// ftou is x/image/draw's conversion of [0, 1] to [0, 0xffff].
func ftou(f float64) uint16 {
	i := int32(float64(0xffff*f) + 0.5)
	if i > 0xffff {
		return 0xffff
	}
	if i > 0 {
		return uint16(i)
	}
	return 0
}

// pixels is an opaque image to resample: RGBA pixels, or a JPEG's YCbCr planes converted to RGB
// a row at a time.
type pixels struct {
	w, h int
	rgba *image.RGBA
	ycc  *image.YCbCr
}

// newPixels wraps a decoded image when it can be read directly: *image.RGBA, or *image.YCbCr
// (4:4:4, 4:2:2, 4:2:0, 4:4:0) with its origin at (0, 0). Others return ok false.
func newPixels(img image.Image) (p pixels, ok bool) {
	b := img.Bounds()
	p.w, p.h = b.Dx(), b.Dy()
	switch m := img.(type) {
	case *image.RGBA:
		p.rgba = m
		return p, true
	case *image.YCbCr:
		if b.Min != (image.Point{}) {
			return p, false
		}
		switch m.SubsampleRatio {
		case image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio440:
			p.ycc = m
			return p, true
		}
	}
	return p, false
}

// row returns input row y as packed pixels of bpp bytes (R, G, B first), converting YCbCr into
// buf (3·w bytes) with image/draw's arithmetic (color.YCbCrToRGB).
func (p *pixels) row(y int, buf []uint8) (row []uint8, bpp int) {
	if m := p.rgba; m != nil {
		off := m.PixOffset(m.Rect.Min.X, m.Rect.Min.Y+y)
		return m.Pix[off : off+4*p.w], 4
	}
	m := p.ycc
	ys := m.Y[y*m.YStride : y*m.YStride+p.w]
	cy := y
	if m.SubsampleRatio == image.YCbCrSubsampleRatio420 || m.SubsampleRatio == image.YCbCrSubsampleRatio440 {
		cy = y / 2
	}
	cb, cr := m.Cb[cy*m.CStride:], m.Cr[cy*m.CStride:]
	halfX := m.SubsampleRatio == image.YCbCrSubsampleRatio422 || m.SubsampleRatio == image.YCbCrSubsampleRatio420
	buf = buf[:3*p.w]
	for x, yv := range ys {
		ci := x
		if halfX {
			ci = x / 2
		}
		yy1 := int32(yv) * 0x10101
		cb1 := int32(cb[ci]) - 128
		cr1 := int32(cr[ci]) - 128
		r := yy1 + 91881*cr1
		if uint32(r)&0xff000000 == 0 {
			r >>= 16
		} else {
			r = ^(r >> 31)
		}
		g := yy1 - 22554*cb1 - 46802*cr1
		if uint32(g)&0xff000000 == 0 {
			g >>= 16
		} else {
			g = ^(g >> 31)
		}
		b := yy1 + 116130*cb1
		if uint32(b)&0xff000000 == 0 {
			b >>= 16
		} else {
			b = ^(b >> 31)
		}
		d := buf[3*x : 3*x+3 : 3*x+3]
		d[0], d[1], d[2] = uint8(r), uint8(g), uint8(b)
	}
	return buf, 3
}

// resampleBuffers are one resampling's scratch space, reused through a pool.
type resampleBuffers struct {
	tmp, acc, row []float64
	in, out       []uint8
}

var resamplePool = sync.Pool{New: func() any { return new(resampleBuffers) }}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// resample scales p to dw×dh with Catmull-Rom, as x/image/draw's CatmullRom.Scale does, and
// passes each row of the output window win (within dw×dh) to emit as packed RGB bytes, top to
// bottom (emit must not keep the slice). An input already dw×dh is copied, not filtered.
func resample(p *pixels, dw, dh int, win image.Rectangle, emit func(y int, rgb []uint8)) {
	bufs := resamplePool.Get().(*resampleBuffers)
	defer resamplePool.Put(bufs)
	cw := win.Dx()
	bufs.out = grow(bufs.out, 3*cw)
	out := bufs.out
	if p.w == dw && p.h == dh {
		bufs.in = grow(bufs.in, 3*p.w)
		for y := win.Min.Y; y < win.Max.Y; y++ {
			row, bpp := p.row(y, bufs.in)
			for x := win.Min.X; x < win.Max.X; x++ {
				o := 3 * (x - win.Min.X)
				copy(out[o:o+3], row[bpp*x:bpp*x+3])
			}
			emit(y, out)
		}
		return
	}
	hz, vt := axisFor(dw, p.w), axisFor(dh, p.h)
	lo, hi := p.h, 0 // the input rows the window needs
	for y := win.Min.Y; y < win.Max.Y; y++ {
		if s, e := vt.start[y], vt.end[y]; s < e {
			lo, hi = min(lo, int(vt.coord[s])), max(hi, int(vt.coord[e-1])+1)
		}
	}
	n := 3 * cw // floats per row of tmp
	bufs.tmp = grow(bufs.tmp, max(0, hi-lo)*n)
	bufs.in = grow(bufs.in, 3*p.w)
	tmp := bufs.tmp
	// Horizontal pass: the input rows lo..hi-1, the window's columns. Each row is widened to
	// float64 samples once (x/image/draw widens them at every tap), with one spare value so
	// that a pixel's three samples can be read as a vector of four.
	stride := 3*p.w + 1
	bufs.row = grow(bufs.row, 4*stride)
	var rows, ts [4][]float64
	for y := lo; y < hi; y += 4 { // four rows at a time: four independent chains of sums
		m := min(4, hi-y)
		for j := range m {
			rowF := bufs.row[j*stride : (j+1)*stride]
			row, bpp := p.row(y+j, bufs.in)
			if bpp == 3 {
				for i, v := range row[:3*p.w] {
					rowF[i] = sample16[v]
				}
			} else {
				for x := range p.w {
					px, d := row[bpp*x:bpp*x+3:bpp*x+3], rowF[3*x:3*x+3:3*x+3]
					d[0], d[1], d[2] = sample16[px[0]], sample16[px[1]], sample16[px[2]]
				}
			}
			rowF[3*p.w] = 0
			rows[j], ts[j] = rowF, tmp[(y+j-lo)*n:(y+j-lo+1)*n]
		}
		horizontalRows(ts[:m], rows[:m], hz, win.Min.X, win.Max.X)
	}
	// Vertical pass, a row at a time: each output value is the same sum, in the same order, as
	// x/image/draw's column-by-column pass.
	bufs.acc = grow(bufs.acc, n)
	acc := bufs.acc
	for y := win.Min.Y; y < win.Max.Y; y++ {
		clear(acc)
		for k := vt.start[y]; k < vt.end[y]; k++ {
			w := vt.weight[k]
			r := int(vt.coord[k]) - lo
			accumulate(acc, tmp[r*n:(r+1)*n], w)
		}
		quantize(out, acc, vt.inv[y])
		emit(y, out)
	}
}

// horizontalRowsGeneric is horizontalRowGeneric for each row of samples rows[j], into ts[j].
func horizontalRowsGeneric(ts, rows [][]float64, hz *axisWeights, x0, x1 int) {
	for j := range rows {
		horizontalRowGeneric(ts[j], rows[j], hz, x0, x1)
	}
}

// horizontalRowGeneric writes to t the horizontal pass of one row of samples (3 per pixel) for
// the output columns x0..x1-1: per channel, the sum over the taps of sample·weight, in the taps'
// order, times 1/(total weight·0xffff).
func horizontalRowGeneric(t, rowF []float64, hz *axisWeights, x0, x1 int) {
	for x := x0; x < x1; x++ {
		var pr, pg, pb float64
		s, e := hz.start[x], hz.end[x]
		coords, weights := hz.coord[s:e], hz.weight[s:e]
		for k, c := range coords {
			w := weights[k]
			px := rowF[3*int(c) : 3*int(c)+3 : 3*int(c)+3]
			pr += float64(px[0] * w)
			pg += float64(px[1] * w)
			pb += float64(px[2] * w)
		}
		f := hz.invFFFF[x]
		d := t[3*(x-x0) : 3*(x-x0)+3 : 3*(x-x0)+3]
		d[0], d[1], d[2] = pr*f, pg*f, pb*f
	}
}

// quantizeGeneric writes the 8-bit values of acc·inv (x/image/draw's ftou, then the high byte).
func quantizeGeneric(out []uint8, acc []float64, inv float64) {
	out = out[:len(acc)]
	for i, v := range acc {
		out[i] = uint8(ftou(v*inv) >> 8)
	}
}

// accumulateGeneric adds t·w to acc, value by value.
func accumulateGeneric(acc, t []float64, w float64) {
	t = t[:len(acc)]
	for i, v := range t {
		acc[i] += float64(v * w)
	}
}
