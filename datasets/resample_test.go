package datasets

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"testing"

	"github.com/disintegration/imaging"
	xdraw "golang.org/x/image/draw"
)

// The pipeline before resample.go and exif.go, kept as the reference the fast path must match
// bit for bit: imaging's decoder with auto-orientation, conversion to RGBA, x/image/draw's
// Catmull-Rom, then normalisation.

func referenceDecode(t testing.TB, data []byte) *image.RGBA {
	t.Helper()
	img, err := imaging.Decode(bytes.NewReader(data), imaging.AutoOrientation(true))
	if err != nil {
		t.Fatal(err)
	}
	return toOpaqueRGBA(img)
}

func referenceResize(img *image.RGBA, w, h int) *image.RGBA {
	if img.Bounds().Dx() == w && img.Bounds().Dy() == h {
		return img
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	xdraw.CatmullRom.Scale(dst, dst.Bounds(), img, img.Bounds(), xdraw.Src, nil)
	return dst
}

func referencePreprocess(img *image.RGBA, opts ImageOptions, aug augment) []float32 {
	s := opts.Size
	out := make([]float32, s*s*3)
	if opts.RandomCrop {
		big := (s*8 + 6) / 7
		img = referenceResize(img, big, big)
		x0 := int(aug.cropX * float64(big-s+1))
		y0 := int(aug.cropY * float64(big-s+1))
		img = img.SubImage(image.Rect(x0, y0, x0+s, y0+s)).(*image.RGBA)
	} else {
		img = referenceResize(img, s, s)
	}
	b := img.Bounds()
	var scale, shift [3]float32
	for c := 0; c < 3; c++ {
		scale[c] = 1 / (255 * opts.Std[c])
		shift[c] = -opts.Mean[c] / opts.Std[c]
	}
	for y := 0; y < s; y++ {
		for x := 0; x < s; x++ {
			sx := x
			if aug.flip {
				sx = s - 1 - x
			}
			p := img.PixOffset(b.Min.X+sx, b.Min.Y+y)
			o := (y*s + x) * 3
			for c := 0; c < 3; c++ {
				out[o+c] = float32(img.Pix[p+c])*scale[c] + shift[c]
			}
		}
	}
	return out
}

func noisyRGBA(rng *rand.Rand, w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.IntN(256))
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	// Saturated patches make Catmull-Rom overshoot past 0 and 255.
	for y := 0; y < h/3; y++ {
		for x := 0; x < w/3; x++ {
			img.SetRGBA(x, y, color.RGBA{255, 255, 0, 255})
		}
	}
	return img
}

func TestResampleMatchesXDraw(t *testing.T) {
	avx2 := resampleAVX2
	defer func() { resampleAVX2 = avx2 }()
	for _, vec := range []bool{false, true} { // the scalar loops, then the vectors where built
		resampleAVX2 = vec && avx2
		testResampleMatchesXDraw(t)
	}
}

func testResampleMatchesXDraw(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []struct{ sw, sh, dw, dh int }{
		{500, 375, 224, 224}, {375, 500, 256, 256}, {333, 500, 224, 224}, {37, 23, 64, 50},
		{37, 23, 16, 16}, {1000, 9, 7, 13}, {5, 5, 224, 224}, {224, 100, 224, 224}, {1, 1, 3, 2},
	}
	for _, c := range sizes {
		src := noisyRGBA(rng, c.sw, c.sh)
		want, got := referenceResize(src, c.dw, c.dh), Resize(src, c.dw, c.dh)
		if !bytes.Equal(got.Pix, want.Pix) {
			t.Errorf("%dx%d → %dx%d (vectors %v): pixels differ from x/image/draw's", c.sw, c.sh, c.dw, c.dh, resampleAVX2)
		}
	}
	// A sub-image (origin not at 0,0, stride wider than the rows).
	big := noisyRGBA(rng, 120, 90)
	sub := big.SubImage(image.Rect(13, 7, 101, 80)).(*image.RGBA)
	if got, want := Resize(sub, 40, 30), referenceResize(sub, 40, 30); !bytes.Equal(got.Pix, want.Pix) {
		t.Error("sub-image: pixels differ from x/image/draw's")
	}
}

// ycbcrJPEGs returns JPEGs of every chroma subsampling the fast path reads directly, plus the
// real photos of the Flickr8k sample when present (4:4:4).
func ycbcrJPEGs(t *testing.T) map[string][]byte {
	rng := rand.New(rand.NewPCG(5, 6))
	files := map[string][]byte{
		"go-encoder-420.jpg": syntheticPhoto(t, 500, 375, rng),
		"go-encoder-odd.jpg": syntheticPhoto(t, 333, 217, rng),
	}
	for _, ratio := range []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio440} {
		m := image.NewYCbCr(image.Rect(0, 0, 301, 203), ratio)
		for i := range m.Y {
			m.Y[i] = uint8(rng.IntN(256))
		}
		for i := range m.Cb {
			m.Cb[i], m.Cr[i] = uint8(rng.IntN(256)), uint8(rng.IntN(256))
		}
		// Not a file: the YCbCr image itself, handed to the same paths (see below).
		files["ycbcr-"+ratio.String()] = nil
		ycbcrImages[ratio.String()] = m
	}
	if paths, real := pipelineFiles(t, 24); real {
		for i, d := range readAll(t, paths) {
			files[fmt.Sprintf("flickr8k-%d", i)] = d
		}
	}
	return files
}

var ycbcrImages = map[string]*image.YCbCr{}

func TestFastPipelineMatchesReference(t *testing.T) {
	opts := ImageOptions{Size: 224}.withDefaults()
	crop := ImageOptions{Size: 224, RandomCrop: true, Flip: true}.withDefaults()
	augs := []augment{{}, {cropX: 0.3, cropY: 0.9, flip: true}, {cropX: 0.999, cropY: 0, flip: false}}
	for name, data := range ycbcrJPEGs(t) {
		var p pixels
		var ref *image.RGBA
		if data == nil {
			m := ycbcrImages[name[len("ycbcr-"):]]
			var ok bool
			if p, ok = newPixels(m); !ok || p.ycc == nil {
				t.Fatalf("%s: not read directly", name)
			}
			ref = toOpaqueRGBA(m)
		} else {
			var err error
			if p, err = decodePixels(name, data, 0, false); err != nil {
				t.Fatal(err)
			}
			if p.ycc == nil {
				t.Errorf("%s: decoded to RGBA, want the YCbCr fast path", name)
			}
			ref = referenceDecode(t, data)
			if got, err := DecodeImageBytes(name, data, 0); err != nil || !bytes.Equal(got.Pix, ref.Pix) {
				t.Errorf("%s: DecodeImageBytes differs from imaging.Decode + RGBA (%v)", name, err)
			}
		}
		for i, aug := range augs {
			o := opts
			if i > 0 {
				o = crop
			}
			want := referencePreprocess(ref, o, aug)
			got := make([]float32, len(want))
			preprocessPixels(&p, o, aug, got)
			for j := range want {
				if got[j] != want[j] {
					t.Fatalf("%s, augmentation %d: value %d = %v, reference %v", name, i, j, got[j], want[j])
				}
			}
		}
	}
}

func TestDecodeOrientationMatchesImaging(t *testing.T) {
	// An asymmetric picture, stored 40×24, under each EXIF orientation, in both byte orders and
	// behind an APP0 segment.
	rng := rand.New(rand.NewPCG(8, 9))
	img := syntheticImage(rng, 40, 24)
	plain := encodeJPEG(t, img)
	for o := uint16(0); o <= 9; o++ {
		for _, variant := range []string{"be", "le", "app0"} {
			data := plain
			if o > 0 {
				data = withEXIFOrientation(plain, o)
				switch variant {
				case "le":
					data = littleEndianEXIF(plain, o)
				case "app0":
					app0 := []byte{0xFF, 0xE0, 0, 7, 'J', 'F', 'I', 'F', 0}
					data = append(append(append([]byte{}, data[:2]...), app0...), data[2:]...)
				}
			}
			want := referenceDecode(t, data)
			got, err := DecodeImageBytes("x.jpg", data, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got.Rect != want.Rect || !bytes.Equal(got.Pix, want.Pix) {
				t.Errorf("orientation %d (%s): %v differs from imaging's %v", o, variant, got.Rect, want.Rect)
			}
			// The pipeline path: oriented images go through RGBA, the rest stay YCbCr.
			p, err := decodePixels("x.jpg", data, 0, false)
			if err != nil {
				t.Fatal(err)
			}
			opts := ImageOptions{Size: 16}.withDefaults()
			gotV := make([]float32, 16*16*3)
			preprocessPixels(&p, opts, augment{}, gotV)
			wantV := referencePreprocess(want, opts, augment{})
			for j := range wantV {
				if gotV[j] != wantV[j] {
					t.Fatalf("orientation %d (%s): preprocessed value %d = %v, want %v", o, variant, j, gotV[j], wantV[j])
				}
			}
		}
	}
	for _, junk := range [][]byte{nil, {0xff}, {0xff, 0xd8}, {0xff, 0xd8, 0xff, 0xe1, 0, 1}, []byte("\xff\xd8\xff\xe1\x00\x10Exif\x00\x00MM\x00\x2a\xff\xff\xff\xff")} {
		if o := exifOrientation(junk); o != 0 {
			t.Errorf("exifOrientation(%q) = %d, want 0", junk, o)
		}
	}
}

func syntheticImage(rng *rand.Rand, w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetRGBA(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8(rng.IntN(60)), 255})
		}
	}
	return img
}

// littleEndianEXIF is withEXIFOrientation with an "II" (Intel) TIFF header and a second tag
// before the orientation.
func littleEndianEXIF(jpg []byte, orientation uint16) []byte {
	le := func(v ...uint16) []byte {
		var b []byte
		for _, x := range v {
			b = append(b, byte(x), byte(x>>8))
		}
		return b
	}
	tiff := append([]byte("II\x2a\x00\x08\x00\x00\x00"), le(2)...)
	tiff = append(tiff, le(0x010f, 2, 4, 0, 'a', 0)...) // Make, ASCII
	tiff = append(tiff, le(0x0112, 3, 1, 0, orientation, 0)...)
	tiff = append(tiff, 0, 0, 0, 0)
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xFF, 0xE1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

func TestParallelForRunsEveryIndexOnceAndReportsTheLowestError(t *testing.T) {
	for _, n := range []int{0, 1, 7, 100} {
		seen := make([]int32, n)
		err := ParallelFor(n, func(i int) error {
			seen[i]++
			if i%5 == 3 {
				return fmt.Errorf("failed %d", i)
			}
			return nil
		})
		for i, c := range seen {
			if c != 1 {
				t.Fatalf("n=%d: index %d ran %d times", n, i, c)
			}
		}
		if want := n > 3; (err != nil) != want || (want && err.Error() != "failed 3") {
			t.Errorf("n=%d: err = %v", n, err)
		}
	}
}
