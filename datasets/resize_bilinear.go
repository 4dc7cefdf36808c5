package datasets

import (
	"fmt"
	"image"
)

// Resize filters (ImageOptions.Resize, captioner.Config.Resize).
const (
	// ResizeCatmullRom ("" too) is attncap's own: x/image/draw's Catmull-Rom (resample.go).
	ResizeCatmullRom = "catmull-rom"
	// ResizeBilinear is Pillow's Image.resize with Image.BILINEAR on 8-bit RGB, bit for bit:
	// what the PyTorch captioning tutorial's caption.py feeds its encoder (scipy's imresize,
	// which calls Pillow), kept by the models scripts/convert imports.
	ResizeBilinear = "bilinear"
)

// ValidateResize reports a resize filter that is neither "" / "catmull-rom" nor "bilinear".
func ValidateResize(name string) error {
	switch name {
	case "", ResizeCatmullRom, ResizeBilinear:
		return nil
	}
	return fmt.Errorf("resize filter %q: want catmull-rom or bilinear", name)
}

// pilPrecisionBits is Pillow's fixed-point precision for 8-bit resampling (Resample.c:
// PRECISION_BITS = 32 − 8 − 2).
const pilPrecisionBits = 22

// pilAxis are Pillow's bilinear contributions along one axis (Resample.c, precompute_coeffs and
// normalize_coeffs_8bpc): output i blends inputs start[i] … start[i]+len(weight[i])−1 with
// fixed-point weights.
type pilAxis struct {
	start  []int
	weight [][]int64
}

// newPILAxis computes the weights for resizing in → out samples with Pillow's triangle filter
// (support 1, widened by the scale when shrinking, so that downscaling is antialiased), in
// float64 as Pillow does, then rounded to its fixed point.
func newPILAxis(in, out int) pilAxis {
	scale := float64(in) / float64(out)
	filterScale := max(scale, 1)
	support := filterScale // bilinear support 1.0, widened
	ss := 1 / filterScale
	a := pilAxis{start: make([]int, out), weight: make([][]int64, out)}
	for i := 0; i < out; i++ {
		center := (float64(i) + 0.5) * scale
		lo := max(int(center-support+0.5), 0) // C's (int) truncation; negatives clamp to 0
		hi := min(int(center+support+0.5), in)
		w := make([]float64, hi-lo)
		total := 0.0
		for x := range w {
			t := (float64(x+lo) - center + 0.5) * ss
			if t < 0 {
				t = -t
			}
			if t < 1 {
				w[x] = 1 - t
			}
			total += w[x]
		}
		fixed := make([]int64, len(w))
		for x := range w {
			if total != 0 {
				w[x] /= total
			}
			if w[x] < 0 {
				fixed[x] = int64(int32(-0.5 + w[x]*(1<<pilPrecisionBits)))
			} else {
				fixed[x] = int64(int32(0.5 + w[x]*(1<<pilPrecisionBits)))
			}
		}
		a.start[i], a.weight[i] = lo, fixed
	}
	return a
}

// clip8 is Pillow's rounding of a fixed-point sum (which starts at one half) to a byte.
func clip8(v int64) uint8 {
	v >>= pilPrecisionBits
	switch {
	case v < 0:
		return 0
	case v > 255:
		return 255
	}
	return uint8(v)
}

// resizeBilinear scales p to dw×dh exactly as Pillow's Image.resize((dw, dh), Image.BILINEAR)
// does for an RGB image — horizontal pass first into bytes, then vertical, each in Pillow's
// fixed point — and passes each row of the window win to emit as packed RGB bytes, top to
// bottom. An image already dw×dh is passed through, as Pillow returns a copy.
func resizeBilinear(p *pixels, dw, dh int, win image.Rectangle, emit func(y int, rgb []uint8)) {
	// Horizontal pass over every input row (or a plain copy when the width is kept).
	tmp := make([]uint8, 3*dw*p.h)
	buf := make([]uint8, 3*p.w)
	var hz pilAxis
	if dw != p.w {
		hz = newPILAxis(p.w, dw)
	}
	for y := 0; y < p.h; y++ {
		row, bpp := p.row(y, buf)
		dst := tmp[3*dw*y : 3*dw*(y+1)]
		if dw == p.w {
			for x := 0; x < dw; x++ {
				copy(dst[3*x:3*x+3], row[bpp*x:bpp*x+3])
			}
			continue
		}
		for x := 0; x < dw; x++ {
			for c := 0; c < 3; c++ {
				sum := int64(1 << (pilPrecisionBits - 1))
				for j, k := range hz.weight[x] {
					sum += int64(row[bpp*(hz.start[x]+j)+c]) * k
				}
				dst[3*x+c] = clip8(sum)
			}
		}
	}
	// Vertical pass, for the rows of the window only.
	out := make([]uint8, 3*win.Dx())
	var vt pilAxis
	if dh != p.h {
		vt = newPILAxis(p.h, dh)
	}
	for y := win.Min.Y; y < win.Max.Y; y++ {
		for x := win.Min.X; x < win.Max.X; x++ {
			for c := 0; c < 3; c++ {
				o := 3*(x-win.Min.X) + c
				if dh == p.h {
					out[o] = tmp[3*dw*y+3*x+c]
					continue
				}
				sum := int64(1 << (pilPrecisionBits - 1))
				for j, k := range vt.weight[y] {
					sum += int64(tmp[3*dw*(vt.start[y]+j)+3*x+c]) * k
				}
				out[o] = clip8(sum)
			}
		}
		emit(y, out)
	}
}

// ResizePIL scales img to w×h exactly as Pillow's Image.resize((w, h), Image.BILINEAR)
// does for RGB (alpha is taken as 255).
func ResizePIL(img *image.RGBA, w, h int) *image.RGBA { return resizeWith(resizeBilinear, img, w, h) }
