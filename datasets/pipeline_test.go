package datasets

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/attncap/attncap/internal/cputime"
)

// pipelineFiles returns the sample's real Flickr8k JPEGs (500×375-ish photos), or, where the
// sample is absent, n synthetic 500×375 JPEGs written to a temporary folder. The bool says
// which.
func pipelineFiles(tb testing.TB, n int) ([]string, bool) {
	tb.Helper()
	if paths, _ := filepath.Glob(filepath.Join(sampleDir, "Flicker8k_Dataset", "*.jpg")); len(paths) > 0 {
		sort.Strings(paths)
		return paths[:min(n, len(paths))], true
	}
	dir := tb.TempDir()
	rng := rand.New(rand.NewPCG(3, 3))
	var paths []string
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("img%03d.jpg", i))
		if err := os.WriteFile(p, syntheticPhoto(tb, 500, 375, rng), 0o644); err != nil {
			tb.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths, false
}

func readAll(tb testing.TB, paths []string) [][]byte {
	tb.Helper()
	data := make([][]byte, len(paths))
	for i, p := range paths {
		var err error
		if data[i], err = os.ReadFile(p); err != nil {
			tb.Fatal(err)
		}
	}
	return data
}

// BenchmarkPipeline times the image pipeline without an encoder: each stage alone on one
// goroutine (per image), then all the photos in batches of 8 (decode → resize → normalise →
// batch, ImageBatches) at GOMAXPROCS 1 and 2, reporting images/s, the cores busy (process CPU
// time / wall time) and, per stage, CPU milliseconds per image.
//
//	go test ./datasets -run XXX -bench Pipeline -benchtime 64x
func BenchmarkPipeline(b *testing.B) {
	paths, real := pipelineFiles(b, 64)
	if !real {
		b.Log("../shared/flickr8k-sample absent: synthetic 500×375 JPEGs")
	}
	data := readAll(b, paths)
	opts := ImageOptions{Size: 224}.withDefaults()
	var decoded []*image.RGBA // decoded for the resizing stages only, not in the batch profiles
	decode := func() {
		if decoded != nil {
			return
		}
		decoded = make([]*image.RGBA, len(paths))
		for i := range data {
			var err error
			if decoded[i], err = DecodeImageBytes(paths[i], data[i], 0); err != nil {
				b.Fatal(err)
			}
		}
	}
	perImage := func(fn func(i int)) func(b *testing.B) {
		return func(b *testing.B) {
			decode()
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // one core: CPU time ≈ wall time
			cpu0 := cputime.Process()
			for i := 0; b.Loop(); i++ {
				fn(i % len(paths))
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "img/s")
			if cpu := cputime.Process() - cpu0; cpu > 0 {
				// CPU time per image: steadier than img/s when other processes share the cores.
				b.ReportMetric(cpu.Seconds()*1000/float64(b.N), "cpu-ms/img")
			}
		}
	}
	b.Run("stdlib-jpeg", perImage(func(i int) {
		if _, err := jpeg.Decode(bytes.NewReader(data[i])); err != nil {
			b.Fatal(err)
		}
	}))
	b.Run("decode", perImage(func(i int) {
		if _, err := DecodeImageBytes(paths[i], data[i], 0); err != nil {
			b.Fatal(err)
		}
	}))
	b.Run("resize", perImage(func(i int) { Resize(decoded[i], 224, 224) }))
	out := make([]float32, 224*224*3)
	b.Run("resize+normalise", perImage(func(i int) { Preprocess(decoded[i], opts, augment{}, out) }))
	b.Run("decode+resize+normalise", perImage(func(i int) { // what LoadImageBatch does per image
		p, err := decodePixels(paths[i], data[i], 0, false)
		if err != nil {
			b.Fatal(err)
		}
		preprocessPixels(&p, opts, augment{}, out)
	}))
	for _, procs := range []int{1, 2} {
		b.Run(fmt.Sprintf("batch/procs=%d", procs), func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			cpu0, start := cputime.Process(), time.Now()
			for b.Loop() {
				if err := ImageBatches(paths, 8, opts, nil, 0, func(_ int, b *ImageBatch) error { b.Recycle(); return nil }); err != nil {
					b.Fatal(err)
				}
			}
			wall := time.Since(start)
			b.ReportMetric(float64(b.N*len(paths))/b.Elapsed().Seconds(), "img/s")
			if cpu := cputime.Process() - cpu0; cpu > 0 {
				b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores")
			}
		})
	}
}

// syntheticPhoto encodes a w×h JPEG that compresses like a photograph: smooth gradients and
// blobs with a little noise (pure noise would take several times longer to decode).
func syntheticPhoto(tb testing.TB, w, h int, rng *rand.Rand) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	cx, cy := rng.Float64()*float64(w), rng.Float64()*float64(h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			dx, dy := float64(x)-cx, float64(y)-cy
			blob := 120 * math.Exp(-(dx*dx+dy*dy)/float64(2*w*h/9))
			p := img.PixOffset(x, y)
			img.Pix[p+0] = uint8(min(255, 60+blob+float64(x*80/w)+rng.Float64()*16))
			img.Pix[p+1] = uint8(min(255, 40+blob/2+float64(y*120/h)+rng.Float64()*16))
			img.Pix[p+2] = uint8(min(255, 90+float64((x+y)*60/(w+h))+rng.Float64()*16))
			img.Pix[p+3] = 255
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkResize compares, on the same decoded photos, x/image/draw's Catmull-Rom (the old
// Resize), this package's resampler with scalar loops, and with AVX2 vectors (the same as
// scalar without GOEXPERIMENT=simd): 500×375-ish RGBA → 224². Run it with -count to interleave.
func BenchmarkResize(b *testing.B) {
	paths, _ := pipelineFiles(b, 16)
	var imgs []*image.RGBA
	for i, d := range readAll(b, paths) {
		img, err := DecodeImageBytes(paths[i], d, 0)
		if err != nil {
			b.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	run := func(resize func(*image.RGBA) *image.RGBA) func(b *testing.B) {
		return func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				resize(imgs[i%len(imgs)])
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "img/s")
		}
	}
	b.Run("xdraw", run(func(img *image.RGBA) *image.RGBA { return referenceResize(img, 224, 224) }))
	avx2 := resampleAVX2
	defer func() { resampleAVX2 = avx2 }()
	for _, vec := range []bool{false, true} {
		b.Run(map[bool]string{false: "scalar", true: "vector"}[vec], func(b *testing.B) {
			resampleAVX2 = vec && avx2
			run(func(img *image.RGBA) *image.RGBA { return Resize(img, 224, 224) })(b)
		})
	}
}
