package jpegdec

import "image"

// Fixed-point constants of the "islow" inverse DCT (Loeffler, Ligtenberg and Moschytz's
// factorisation, as libjpeg's jidctint.c scales it): round(x · 2^13).
const (
	constBits = 13
	pass1Bits = 2

	fix0_298631336 = 2446
	fix0_390180644 = 3196
	fix0_541196100 = 4433
	fix0_765366865 = 6270
	fix0_899976223 = 7373
	fix1_175875602 = 9633
	fix1_501321110 = 12299
	fix1_847759065 = 15137
	fix1_961570560 = 16069
	fix2_053119869 = 16819
	fix2_562915447 = 20995
	fix3_072711026 = 25172
)

func descale(x int64, n uint) int64 { return (x + 1<<(n-1)) >> n }

// rangeLimit is libjpeg's post-IDCT table indexed by (value & 1023): value+128 clamped to
// 0 … 255 for values in −512 … 511 (and wrapping beyond, as the table does).
var rangeLimit = func() (t [1024]uint8) {
	for i := range t {
		switch {
		case i < 128:
			t[i] = uint8(i + 128)
		case i < 512:
			t[i] = 255
		case i < 896:
			t[i] = 0
		default:
			t[i] = uint8(i - 896)
		}
	}
	return
}()

// idctOdd is the odd part shared by both passes: inputs at frequencies 7, 5, 3, 1.
func idctOdd(t0, t1, t2, t3 int64) (o0, o1, o2, o3 int64) {
	z1, z2, z3, z4 := t0+t3, t1+t2, t0+t2, t1+t3
	z5 := (z3 + z4) * fix1_175875602
	t0 *= fix0_298631336
	t1 *= fix2_053119869
	t2 *= fix3_072711026
	t3 *= fix1_501321110
	z1 *= -fix0_899976223
	z2 *= -fix2_562915447
	z3 = z3*-fix1_961570560 + z5
	z4 = z4*-fix0_390180644 + z5
	return t0 + z1 + z3, t1 + z2 + z4, t2 + z2 + z3, t3 + z1 + z4
}

// idctEven is the even part: inputs at frequencies 0, 2, 4, 6 (0 and 4 already shifted).
func idctEven(f0, f2, f4, f6 int64) (t10, t11, t12, t13 int64) {
	z1 := (f2 + f6) * fix0_541196100
	t2 := z1 + f6*-fix1_847759065
	t3 := z1 + f2*fix0_765366865
	t0, t1 := (f0+f4)<<constBits, (f0-f4)<<constBits
	return t0 + t3, t1 + t2, t1 - t2, t0 - t3
}

// idct writes the 8×8 samples of a block of coefficients (natural order) dequantized by q to
// out (stride bytes per row): columns first, then rows, as jpeg_idct_islow.
func idct(coef []int32, q *[64]int32, out []uint8, stride int) {
	var ws [64]int64
	for x := 0; x < 8; x++ {
		var f [8]int64
		for y := 0; y < 8; y++ {
			f[y] = int64(coef[y*8+x]) * int64(q[y*8+x])
		}
		t10, t11, t12, t13 := idctEven(f[0], f[2], f[4], f[6])
		o0, o1, o2, o3 := idctOdd(f[7], f[5], f[3], f[1])
		const n = constBits - pass1Bits
		ws[0*8+x], ws[7*8+x] = descale(t10+o3, n), descale(t10-o3, n)
		ws[1*8+x], ws[6*8+x] = descale(t11+o2, n), descale(t11-o2, n)
		ws[2*8+x], ws[5*8+x] = descale(t12+o1, n), descale(t12-o1, n)
		ws[3*8+x], ws[4*8+x] = descale(t13+o0, n), descale(t13-o0, n)
	}
	for y := 0; y < 8; y++ {
		w := ws[y*8 : y*8+8]
		t10, t11, t12, t13 := idctEven(w[0], w[2], w[4], w[6])
		o0, o1, o2, o3 := idctOdd(w[7], w[5], w[3], w[1])
		const n = constBits + pass1Bits + 3
		r := out[y*stride : y*stride+8]
		r[0], r[7] = rangeLimit[descale(t10+o3, n)&1023], rangeLimit[descale(t10-o3, n)&1023]
		r[1], r[6] = rangeLimit[descale(t11+o2, n)&1023], rangeLimit[descale(t11-o2, n)&1023]
		r[2], r[5] = rangeLimit[descale(t12+o1, n)&1023], rangeLimit[descale(t12-o1, n)&1023]
		r[3], r[4] = rangeLimit[descale(t13+o0, n)&1023], rangeLimit[descale(t13-o0, n)&1023]
	}
}

// plane is one component's samples: stride bytes per row, the first w×h of them real.
type plane struct {
	pix       []uint8
	stride    int
	w, h      int
	full      bool // already at the image's size
	hf, vf    int  // upsampling factors
	component *component
}

// reconstruct runs the inverse DCT over every block of every component.
func (d *decoder) reconstruct() []plane {
	planes := make([]plane, len(d.comps))
	for i, c := range d.comps {
		p := plane{pix: make([]uint8, c.bw*8*c.bh*8), stride: c.bw * 8, w: c.dw, h: c.dh,
			hf: d.hmax / c.h, vf: d.vmax / c.v, component: c}
		q := &d.quant[c.tq]
		for by := 0; by < c.bh; by++ {
			for bx := 0; bx < c.bw; bx++ {
				idct(c.coef[(by*c.bw+bx)*64:], q, p.pix[by*8*p.stride+bx*8:], p.stride)
			}
		}
		c.coef = nil
		planes[i] = p
	}
	return planes
}

// row returns row y of the plane (clamped to its real rows: libjpeg's context rows repeat the
// first and last).
func (p *plane) row(y int) []uint8 {
	y = min(max(y, 0), p.h-1)
	return p.pix[y*p.stride : y*p.stride+p.w]
}

// upsampledRow writes output row y of the component at the image's width into out, as
// libjpeg-turbo's jdsample.c does with fancy upsampling: triangular filters for 2:1
// horizontal, 1:2 vertical and 2:2, sample replication for other integer factors.
func (p *plane) upsampledRow(y, width int, out []uint8) {
	switch {
	case p.hf == 1 && p.vf == 1:
		copy(out[:width], p.row(y))
	case p.hf == 2 && p.vf == 1 && p.w > 2:
		h2v1Fancy(p.row(y), out, width)
	case p.hf == 1 && p.vf == 2:
		near, far := p.row(y/2), p.row(y/2-1)
		bias := int32(1)
		if y%2 == 1 {
			far, bias = p.row(y/2+1), 2
		}
		for x := 0; x < width; x++ {
			out[x] = uint8((3*int32(near[x]) + int32(far[x]) + bias) >> 2)
		}
	case p.hf == 2 && p.vf == 2 && p.w > 2:
		near, far := p.row(y/2), p.row(y/2-1)
		if y%2 == 1 {
			far = p.row(y/2 + 1)
		}
		h2v2Fancy(near, far, out, width)
	default:
		in := p.row(y / p.vf)
		for x := 0; x < width; x++ {
			out[x] = in[x/p.hf]
		}
	}
}

// h2v1Fancy doubles a row: each output is ¾ of the nearer input and ¼ of the farther one,
// rounding alternately down and up (jdsample.c, h2v1_fancy_upsample).
func h2v1Fancy(in, out []uint8, width int) {
	n := len(in)
	tmp := make([]uint8, 2*n)
	tmp[0] = in[0]
	tmp[1] = uint8((3*int32(in[0]) + int32(in[1]) + 2) >> 2)
	for i := 1; i < n-1; i++ {
		v := 3 * int32(in[i])
		tmp[2*i] = uint8((v + int32(in[i-1]) + 1) >> 2)
		tmp[2*i+1] = uint8((v + int32(in[i+1]) + 2) >> 2)
	}
	tmp[2*n-2] = uint8((3*int32(in[n-1]) + int32(in[n-2]) + 1) >> 2)
	tmp[2*n-1] = in[n-1]
	copy(out[:width], tmp)
}

// h2v2Fancy makes one output row from its nearer and farther input rows: vertically ¾ and ¼
// (column sums ×4), then horizontally ¾ and ¼ again, /16 with biases 8 and 7
// (jdsample.c, h2v2_fancy_upsample).
func h2v2Fancy(near, far, out []uint8, width int) {
	n := len(near)
	sum := make([]int32, n)
	for i := range sum {
		sum[i] = 3*int32(near[i]) + int32(far[i])
	}
	tmp := make([]uint8, 2*n)
	tmp[0] = uint8((sum[0]*4 + 8) >> 4)
	tmp[1] = uint8((sum[0]*3 + sum[1] + 7) >> 4)
	for i := 1; i < n-1; i++ {
		tmp[2*i] = uint8((sum[i]*3 + sum[i-1] + 8) >> 4)
		tmp[2*i+1] = uint8((sum[i]*3 + sum[i+1] + 7) >> 4)
	}
	tmp[2*n-2] = uint8((sum[n-1]*3 + sum[n-2] + 8) >> 4)
	tmp[2*n-1] = uint8((sum[n-1]*4 + 7) >> 4)
	copy(out[:width], tmp)
}

// YCbCr→RGB in libjpeg's fixed point (jdcolor.c): 16 fraction bits, tables per Cb and Cr.
var crR, cbB, crG, cbG [256]int32

func init() {
	const scale = 16
	fix := func(x float64) int64 { return int64(x*(1<<scale) + 0.5) }
	half := int64(1) << (scale - 1)
	for i := 0; i < 256; i++ {
		x := int64(i - 128)
		crR[i] = int32((fix(1.40200)*x + half) >> scale)
		cbB[i] = int32((fix(1.77200)*x + half) >> scale)
		crG[i] = int32(-fix(0.71414) * x)
		cbG[i] = int32(-fix(0.34414)*x + half)
	}
}

// isYCbCr is libjpeg's guess of a 3-component image's colour space (jdapimin.c): YCbCr with a
// JFIF marker, per the transform flag of an Adobe marker, RGB for components named 'R', 'G',
// 'B', else YCbCr.
func (d *decoder) isYCbCr() bool {
	switch {
	case d.jfif:
		return true
	case d.adobe:
		return d.transform != 0
	}
	c := d.comps
	return !(c[0].id == 'R' && c[1].id == 'G' && c[2].id == 'B')
}

func clamp(v int32) uint8 {
	switch {
	case v < 0:
		return 0
	case v > 255:
		return 255
	}
	return uint8(v)
}

// toRGBA upsamples the planes and converts them to RGB: greyscale replicated, YCbCr converted,
// RGB (an Adobe marker with transform 0) copied.
func (d *decoder) toRGBA(planes []plane) (*image.RGBA, error) {
	img := image.NewRGBA(image.Rect(0, 0, d.width, d.height))
	rows := make([][]uint8, len(planes))
	for i := range rows {
		rows[i] = make([]uint8, d.width+2)
	}
	ycc := len(planes) == 3 && d.isYCbCr()
	for y := 0; y < d.height; y++ {
		for i := range planes {
			planes[i].upsampledRow(y, d.width, rows[i])
		}
		out := img.Pix[y*img.Stride : y*img.Stride+4*d.width]
		for x := 0; x < d.width; x++ {
			o := out[4*x : 4*x+4 : 4*x+4]
			switch {
			case len(planes) == 1:
				g := rows[0][x]
				o[0], o[1], o[2] = g, g, g
			case ycc:
				yy, cb, cr := int32(rows[0][x]), rows[1][x], rows[2][x]
				o[0] = clamp(yy + crR[cr])
				o[1] = clamp(yy + (cbG[cb]+crG[cr])>>16)
				o[2] = clamp(yy + cbB[cb])
			default:
				o[0], o[1], o[2] = rows[0][x], rows[1][x], rows[2][x]
			}
			o[3] = 255
		}
	}
	return img, nil
}
