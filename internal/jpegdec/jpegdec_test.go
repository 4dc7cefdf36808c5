package jpegdec

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"github.com/attncap/attncap/internal/pyref"
)

// Every kind of JPEG that Pillow writes — 4:2:0, 4:2:2 and 4:4:4 sampling, odd and tiny sizes,
// low and top quality, progressive, optimised Huffman tables, greyscale — decodes to exactly
// the RGB bytes Pillow (libjpeg-turbo) gives (testdata/gen_jpegs.py writes both).
func TestDecodeEqualsLibjpegTurbo(t *testing.T) {
	python := pyref.Require(t, "PIL", "numpy")
	dir := t.TempDir()
	pyref.Run(t, python, "testdata/gen_jpegs.py", dir)
	data, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name string
		W, H int
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		jpg, err := os.ReadFile(filepath.Join(dir, c.Name+".jpg"))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(dir, c.Name+".raw"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := Decode(jpg)
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		if img.Bounds().Dx() != c.W || img.Bounds().Dy() != c.H {
			t.Errorf("%s: %v, want %dx%d", c.Name, img.Bounds(), c.W, c.H)
			continue
		}
		diff, worst := 0, 0
		for p := 0; p < c.W*c.H; p++ {
			for ch := 0; ch < 3; ch++ {
				d := int(img.Pix[4*p+ch]) - int(want[3*p+ch])
				if d != 0 {
					diff++
					worst = max(worst, d, -d)
				}
			}
		}
		if diff > 0 {
			t.Errorf("%s: %d of %d values differ from libjpeg-turbo's (by up to %d)", c.Name, diff, 3*c.W*c.H, worst)
		}
	}
}

// Images Pillow does not write through this package — CMYK, arithmetic coding — are
// ErrUnsupported (for image/jpeg to take over), and damaged data is an error, never a panic.
func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 21, 13))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xC9, 0, 11, 8, 0, 8, 0, 8, 1, 1, 0x11, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Decode(data)
		if err == nil && (got.Bounds().Dx() == 0 || got.Bounds().Dy() == 0) {
			t.Fatalf("empty image without an error")
		}
	})
}

// An image that image/jpeg writes (4:2:0, no JFIF marker) decodes, close to image/jpeg's own
// reading (the two differ only by their inverse DCTs and chroma upsampling).
func TestDecodeReadsGoEncodedJPEG(t *testing.T) {
	var buf bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 64, 40))
	for y := 0; y < 40; y++ {
		for x := 0; x < 64; x++ {
			img.Set(x, y, color.RGBA{uint8(4 * x), uint8(6 * y), 128, 255})
		}
	}
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	ours, err := Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := jpeg.Decode(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	worst := 0
	for y := 0; y < 40; y++ {
		for x := 0; x < 64; x++ {
			r, g, b, _ := theirs.At(x, y).RGBA()
			o := ours.RGBAAt(x, y)
			for i, v := range []int{int(r >> 8), int(g >> 8), int(b >> 8)} {
				d := v - int([]uint8{o.R, o.G, o.B}[i])
				worst = max(worst, d, -d)
			}
		}
	}
	if worst > 6 {
		t.Errorf("differs from image/jpeg by up to %d levels on a smooth image", worst)
	}
}
