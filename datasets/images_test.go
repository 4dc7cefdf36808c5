package datasets

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withEXIFOrientation inserts an APP1 EXIF segment holding only an Orientation tag right after
// the JPEG's SOI marker.
func withEXIFOrientation(jpg []byte, orientation uint16) []byte {
	var tiff bytes.Buffer
	tiff.WriteString("MM\x00\x2a")
	binary.Write(&tiff, binary.BigEndian, uint32(8)) // first IFD offset
	binary.Write(&tiff, binary.BigEndian, uint16(1)) // one entry
	binary.Write(&tiff, binary.BigEndian, []uint16{0x0112, 3})
	binary.Write(&tiff, binary.BigEndian, uint32(1))
	binary.Write(&tiff, binary.BigEndian, []uint16{orientation, 0})
	binary.Write(&tiff, binary.BigEndian, uint32(0)) // no next IFD
	payload := append([]byte("Exif\x00\x00"), tiff.Bytes()...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

func solid(w, h int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func near(a, b uint8, tol int) bool { return math.Abs(float64(a)-float64(b)) <= float64(tol) }

func TestDecodeAppliesEXIFOrientation(t *testing.T) {
	// Stored 40×20: left half red, right half blue. Orientation 6 means "rotate 90° clockwise
	// to display": the stored left column becomes the top row, so upright it is 20×40 with
	// red on top and blue below.
	img := solid(40, 20, color.RGBA{230, 0, 0, 255})
	for y := 0; y < 20; y++ {
		for x := 20; x < 40; x++ {
			img.SetRGBA(x, y, color.RGBA{0, 0, 230, 255})
		}
	}
	data := withEXIFOrientation(encodeJPEG(t, img), 6)
	got, err := DecodeImageBytes("rotated.jpg", data, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b := got.Bounds(); b.Dx() != 20 || b.Dy() != 40 {
		t.Fatalf("upright size %dx%d, want 20x40", b.Dx(), b.Dy())
	}
	top, bottom := got.RGBAAt(10, 5), got.RGBAAt(10, 35)
	if !near(top.R, 230, 12) || !near(top.B, 0, 12) || !near(bottom.B, 230, 12) || !near(bottom.R, 0, 12) {
		t.Fatalf("top %v bottom %v; want red on top, blue below", top, bottom)
	}
	// Without the EXIF tag the image stays as stored.
	plain, err := DecodeImageBytes("plain.jpg", encodeJPEG(t, img), 0)
	if err != nil || plain.Bounds().Dx() != 40 {
		t.Fatalf("plain decode: %v, %v", plain.Bounds(), err)
	}
}

func TestDecodeConvertsColourModelsToRGB(t *testing.T) {
	grey := image.NewGray(image.Rect(0, 0, 2, 2))
	grey.Pix = []uint8{0, 100, 200, 255}
	pal := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.RGBA{10, 20, 30, 255}, color.NRGBA{40, 50, 60, 0}})
	pal.Pix = []uint8{0, 1}
	transparent := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	transparent.Pix = []uint8{70, 80, 90, 0}
	cases := []struct {
		name string
		img  image.Image
		want []color.RGBA
	}{
		{"grey.png", grey, []color.RGBA{{0, 0, 0, 255}, {100, 100, 100, 255}, {200, 200, 200, 255}, {255, 255, 255, 255}}},
		{"palette.png", pal, []color.RGBA{{10, 20, 30, 255}, {40, 50, 60, 255}}},
		{"alpha.png", transparent, []color.RGBA{{70, 80, 90, 255}}},
	}
	for _, c := range cases {
		got, err := DecodeImageBytes(c.name, encodePNG(t, c.img), 0)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for i, want := range c.want {
			w := got.Bounds().Dx()
			if px := got.RGBAAt(i%w, i/w); px != want {
				t.Errorf("%s pixel %d = %v, want %v", c.name, i, px, want)
			}
		}
	}
	// CMYK (as Adobe JPEGs decode): converted with the standard CMYK→RGB formula.
	cmyk := image.NewCMYK(image.Rect(0, 0, 1, 1))
	cmyk.Pix = []uint8{0, 255, 255, 0} // pure red
	if px := toOpaqueRGBA(cmyk).RGBAAt(0, 0); px != (color.RGBA{255, 0, 0, 255}) {
		t.Errorf("CMYK red → %v", px)
	}
}

func TestDecodeErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	good := encodeJPEG(t, solid(16, 16, color.RGBA{1, 2, 3, 255}))
	files := map[string][]byte{
		"truncated.jpg": good[:len(good)/2],
		"text.jpg":      []byte("this is not an image"),
		"empty.png":     nil,
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		os.WriteFile(path, data, 0o644)
		if _, err := DecodeImage(path, 0); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: err = %v, want an error naming the file", name, err)
		}
	}
	if _, err := DecodeImage(filepath.Join(dir, "absent.jpg"), 0); err == nil || !strings.Contains(err.Error(), "absent.jpg") {
		t.Errorf("absent file: err = %v", err)
	}
}

// hugePNGHeader returns a 1×1 PNG whose header (CRC fixed up) claims w×h pixels.
func hugePNGHeader(t *testing.T, w, h uint32) []byte {
	data := encodePNG(t, solid(1, 1, color.RGBA{0, 0, 0, 255}))
	// IHDR data starts at byte 16 (8 signature + 4 length + 4 type).
	binary.BigEndian.PutUint32(data[16:], w)
	binary.BigEndian.PutUint32(data[20:], h)
	binary.BigEndian.PutUint32(data[29:], crc32.ChecksumIEEE(data[12:29]))
	return data
}

func TestDecodeRefusesHugeHeaderBeforeAllocating(t *testing.T) {
	data := hugePNGHeader(t, 20000, 20000) // 400 MP: 1.6 GB as RGBA
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := DecodeImageBytes("huge.png", data, 0)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "huge.png") {
		t.Fatalf("err = %v, want ErrTooLarge naming the file", err)
	}
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 1<<20 {
		t.Fatalf("allocated %d bytes before refusing", grown)
	}
	// A custom limit applies too: 100 pixels allowed, 20×20 refused.
	if _, err := DecodeImageBytes("small.png", encodePNG(t, solid(20, 20, color.RGBA{})), 100); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("custom limit: err = %v", err)
	}
}

func TestPreprocessNormalisesAndFlips(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.SetRGBA(0, 0, color.RGBA{255, 0, 0, 255})
	img.SetRGBA(1, 0, color.RGBA{0, 255, 0, 255})
	img.SetRGBA(0, 1, color.RGBA{0, 0, 255, 255})
	img.SetRGBA(1, 1, color.RGBA{51, 102, 153, 255})
	opts := ImageOptions{Size: 2}.withDefaults()
	out := make([]float32, 12)
	Preprocess(img, opts, augment{}, out) // 2×2 already: not resampled, values exact
	norm := func(v uint8, c int) float32 { return (float32(v)/255 - ImageNetMean[c]) / ImageNetStd[c] }
	want := []float32{
		norm(255, 0), norm(0, 1), norm(0, 2), norm(0, 0), norm(255, 1), norm(0, 2),
		norm(0, 0), norm(0, 1), norm(255, 2), norm(51, 0), norm(102, 1), norm(153, 2),
	}
	for i := range want {
		if math.Abs(float64(out[i]-want[i])) > 1e-5 {
			t.Fatalf("value %d = %v, want %v", i, out[i], want[i])
		}
	}
	Preprocess(img, opts, augment{flip: true}, out)
	if math.Abs(float64(out[0]-norm(0, 0))) > 1e-5 || math.Abs(float64(out[3]-norm(255, 0))) > 1e-5 {
		t.Fatalf("flip did not mirror the first row: %v", out[:6])
	}
}

func TestResizeKeepsConstantImagesAndSkipsSameSize(t *testing.T) {
	img := solid(37, 23, color.RGBA{120, 60, 30, 255})
	r := Resize(img, 16, 16)
	for y := 0; y < 16; y++ {
		for x := 0; x < 16; x++ {
			if px := r.RGBAAt(x, y); !near(px.R, 120, 1) || !near(px.G, 60, 1) || !near(px.B, 30, 1) {
				t.Fatalf("pixel (%d,%d) = %v", x, y, px)
			}
		}
	}
	if Resize(r, 16, 16) != r {
		t.Fatal("an image already at the target size was resampled")
	}
}

func TestLoadImageBatchOrderAugmentationAndErrors(t *testing.T) {
	dir := t.TempDir()
	colours := []color.RGBA{{250, 0, 0, 255}, {0, 250, 0, 255}, {0, 0, 250, 255}}
	var paths []string
	for i, c := range colours {
		p := filepath.Join(dir, string(rune('a'+i))+".png")
		os.WriteFile(p, encodePNG(t, solid(30+i*7, 20, c)), 0o644)
		paths = append(paths, p)
	}
	b, err := LoadImageBatch(paths, ImageOptions{Size: 8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.N != 3 || b.H != 8 || b.W != 8 || b.C != 3 || len(b.Data) != 3*8*8*3 {
		t.Fatalf("batch shape %d×%d×%d×%d (%d values)", b.N, b.H, b.W, b.C, len(b.Data))
	}
	for i := range colours { // image i's strongest channel is channel i
		off := i*192 + 27*3 // pixel (3,3)
		px := b.Data[off : off+3]
		if best := argmax(px); best != i {
			t.Errorf("image %d: channels %v, strongest %d", i, px, best)
		}
	}
	if ts := b.Tensor(); ts.Shape().Dimensions[0] != 3 || ts.Shape().Dimensions[3] != 3 {
		t.Errorf("tensor shape %v", ts.Shape())
	}
	// Augmentation is reproducible for a seed.
	aug := ImageOptions{Size: 8, RandomCrop: true, Flip: true}
	b1, err := LoadImageBatch(paths, aug, rand.New(rand.NewPCG(7, 7)))
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := LoadImageBatch(paths, aug, rand.New(rand.NewPCG(7, 7)))
	for i := range b1.Data {
		if b1.Data[i] != b2.Data[i] {
			t.Fatal("same seed gave different augmented batches")
		}
	}
	if _, err := LoadImageBatch(paths, aug, nil); err == nil {
		t.Fatal("augmentation without a generator should fail")
	}
	bad := filepath.Join(dir, "bad.jpg")
	os.WriteFile(bad, []byte("garbage"), 0o644)
	if _, err := LoadImageBatch(append(paths, bad), ImageOptions{Size: 8}, nil); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("corrupt file in batch: err = %v", err)
	}
}

func argmax(v []float32) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}

func TestToImageInvertsPreprocess(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 3, 3))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 255
	}
	opts := ImageOptions{Size: 3}.withDefaults()
	values := make([]float32, 27)
	Preprocess(img, opts, augment{}, values)
	back := ToImage(values, 3, opts.Mean, opts.Std)
	for i := range img.Pix {
		if back.Pix[i] != img.Pix[i] {
			t.Fatalf("byte %d: %d after the round trip, was %d", i, back.Pix[i], img.Pix[i])
		}
	}
}
