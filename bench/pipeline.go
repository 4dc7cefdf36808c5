package bench

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
	"time"

	"github.com/attncap/attncap/internal/cputime"

	"github.com/attncap/attncap/datasets"
)

// PipelineImages is where the image-pipeline rows look for real photos: the Flickr8k sample
// beside the project (500×375-ish JPEGs). Without it they use synthetic 500×375 JPEGs.
const PipelineImages = "../shared/flickr8k-sample/Flicker8k_Dataset"

// pipelineCount is how many JPEGs one repetition decodes, in batches of pipelineBatch (as
// ExtractFeatures does by default).
const pipelineCount, pipelineBatch = 128, 8

// pipelineRows measures the image pipeline without an encoder — read, decode, resize to 224²,
// normalise, batch (datasets.ImageBatches, batches of 8 as ExtractFeatures makes them) — at
// GOMAXPROCS 1 and 2, and on all cores where there are more. The settings take turns within
// each repetition so that a machine whose speed drifts affects them alike; each row's note has
// the cores busy (process CPU time / wall time) and, past the first, the speed-up over
// GOMAXPROCS 1 (median of the repetitions' ratios).
func pipelineRows(opts Options, rng *rand.Rand) ([]Row, error) {
	dir := opts.PipelineImages
	if dir == "" {
		dir = PipelineImages
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.jpg"))
	sort.Strings(paths)
	source := fmt.Sprintf("%d Flickr8k JPEGs", min(pipelineCount, len(paths)))
	if len(paths) == 0 {
		tmp, err := os.MkdirTemp("", "attncap-pipeline-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		if paths, err = writePhotoJPEGs(tmp, pipelineCount, rng); err != nil {
			return nil, err
		}
		source = fmt.Sprintf("%d synthetic 500×375 JPEGs (%s absent)", pipelineCount, dir)
	}
	paths = paths[:min(pipelineCount, len(paths))]
	procs := []int{1, 2}
	if n := numCPU(); n > 2 {
		procs = append(procs, n)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	imgOpts := datasets.ImageOptions{Size: 224}
	secs := make([][]float64, len(procs))
	busy := make([][]float64, len(procs))
	for rep := -1; rep < opts.Reps; rep++ { // repetition -1 warms up
		for i, p := range procs {
			runtime.GOMAXPROCS(p)
			runtime.GC()
			cpu0, start := cputime.Process(), time.Now()
			err := datasets.ImageBatches(paths, pipelineBatch, imgOpts, nil, 0, func(_ int, b *datasets.ImageBatch) error {
				b.Recycle() // as ExtractFeatures does once the batch is a tensor
				return nil
			})
			if err != nil {
				return nil, err
			}
			wall := time.Since(start)
			if rep >= 0 {
				secs[i] = append(secs[i], wall.Seconds())
				busy[i] = append(busy[i], (cputime.Process()-cpu0).Seconds()/wall.Seconds())
			}
		}
	}
	var rows []Row
	for i, p := range procs {
		r := stats(fmt.Sprintf("image pipeline (decode+resize+normalise, no encoder), GOMAXPROCS %d", p), "img/s", float64(len(paths)), secs[i])
		r.Note = fmt.Sprintf("%s → 224², batches of %d; %.2f cores busy", source, pipelineBatch, median(busy[i]))
		if i > 0 {
			ratios := make([]float64, len(secs[i]))
			for k := range ratios {
				ratios[k] = secs[0][k] / secs[i][k]
			}
			r.Note += fmt.Sprintf("; %.2f× GOMAXPROCS 1", median(ratios))
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// writePhotoJPEGs writes n 500×375 JPEGs that compress like photographs (smooth gradients and a
// blob, a little noise; writeJPEGs' noise takes several times longer to decode than a photo).
func writePhotoJPEGs(dir string, n int, rng *rand.Rand) ([]string, error) {
	const w, h = 500, 375
	var paths []string
	for i := 0; i < n; i++ {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		cx, cy := rng.Float64()*w, rng.Float64()*h
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				dx, dy := float64(x)-cx, float64(y)-cy
				blob := 120 * math.Exp(-(dx*dx+dy*dy)/(2*w*h/9))
				p := img.PixOffset(x, y)
				img.Pix[p+0] = uint8(min(255, 60+blob+float64(x*80/w)+rng.Float64()*16))
				img.Pix[p+1] = uint8(min(255, 40+blob/2+float64(y*120/h)+rng.Float64()*16))
				img.Pix[p+2] = uint8(min(255, 90+float64((x+y)*60/(w+h))+rng.Float64()*16))
				img.Pix[p+3] = 255
			}
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
			return nil, err
		}
		p := filepath.Join(dir, fmt.Sprintf("photo%02d.jpg", i))
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}
