package datasets

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
)

// BatchesAhead is how many batches ImageBatches prepares at once by default: enough images in
// flight to keep every core busy (two per worker) while the caller works on a batch, and at
// least two batches.
func BatchesAhead(batchSize int) int {
	return max(2, (2*runtime.GOMAXPROCS(0)+batchSize-1)/max(1, batchSize))
}

// ImageBatches decodes and preprocesses paths into batches of batchSize images (the last one
// may be smaller) on runtime.GOMAXPROCS(0) workers and calls fn with each batch, in order, on
// the calling goroutine. Unlike LoadImageBatch called batch after batch, the workers go on to
// the next batches' images while a batch's last images are still being decoded and while fn
// runs, up to ahead batches in flight (ahead <= 0 means BatchesAhead(batchSize)), so that no
// core waits for a batch's slowest image. rng draws the augmentations, batch after batch, as
// LoadImageBatch would (nil when opts asks for none). fn owns the batch it is given: it may keep
// it, or Recycle it once its values are copied. ImageBatches stops at the first error — a
// failing file (the batch's first in path order) or fn's — and returns it.
func ImageBatches(paths []string, batchSize int, opts ImageOptions, rng *rand.Rand, ahead int, fn func(index int, b *ImageBatch) error) error {
	opts = opts.withDefaults()
	if opts.Size <= 0 {
		return fmt.Errorf("image batch: size must be positive, got %d", opts.Size)
	}
	if batchSize <= 0 {
		return fmt.Errorf("image batch: batch size must be positive, got %d", batchSize)
	}
	if ahead <= 0 {
		ahead = BatchesAhead(batchSize)
	}
	augs, err := drawAugments(len(paths), opts, rng)
	if err != nil {
		return err
	}
	s := opts.Size
	numBatches := (len(paths) + batchSize - 1) / batchSize
	type pending struct {
		batch *ImageBatch
		errs  []error
		left  int // images not yet done, under mu
		done  chan struct{}
	}
	batches := make([]*pending, numBatches)
	for b := range batches {
		n := min(batchSize, len(paths)-b*batchSize)
		batches[b] = &pending{errs: make([]error, n), left: n, done: make(chan struct{})}
	}
	var mu sync.Mutex
	jobs := make(chan int, 2*runtime.GOMAXPROCS(0))
	slots := make(chan struct{}, ahead) // a token per batch in flight
	quit := make(chan struct{})
	go func() { // hands out the images of each batch once it has a slot
		defer close(jobs)
		for b, p := range batches {
			select {
			case slots <- struct{}{}:
			case <-quit:
				return
			}
			n := len(p.errs)
			p.batch = &ImageBatch{Data: batchData(n * s * s * 3), N: n, H: s, W: s, C: 3}
			for i := b * batchSize; i < b*batchSize+n; i++ {
				select {
				case jobs <- i:
				case <-quit:
					return
				}
			}
		}
	}()
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(1, len(paths))) {
		wg.Go(func() {
			for i := range jobs {
				p, j := batches[i/batchSize], i%batchSize
				p.errs[j] = loadInto(paths[i], opts, augs[i], p.batch.Data[j*s*s*3:(j+1)*s*s*3])
				mu.Lock()
				p.left--
				if p.left == 0 {
					close(p.done)
				}
				mu.Unlock()
			}
		})
	}
	defer func() {
		close(quit)
		for range jobs { // drain what the feeder had queued
		}
		wg.Wait()
	}()
	for b, p := range batches {
		<-p.done
		if err := firstError(p.errs); err != nil {
			return err
		}
		if err := fn(b, p.batch); err != nil {
			return err
		}
		batches[b] = nil // the caller owns the batch now
		<-slots
	}
	return nil
}

// freeBatchData holds the memory of recycled batches (ImageBatch.Recycle) for the next ones:
// every value of a batch is written, so it need not be cleared, and memory the process already
// has costs no page faults (fresh batch memory cost ~1 ms per 224² image on the 2-core machine).
var freeBatchData = make(chan []float32, 8)

// batchData returns n values of recycled batch memory, or new memory when there is none to fit.
func batchData(n int) []float32 {
	select {
	case d := <-freeBatchData:
		if cap(d) >= n {
			return d[:n]
		}
	default:
	}
	return make([]float32, n)
}

// Recycle hands the batch's memory back for a later batch of ImageBatches or LoadImageBatch
// (up to a few batches are kept). The batch must not be used afterwards: call it once its values
// have been copied, as Tensor does.
func (b *ImageBatch) Recycle() {
	if b.Data == nil {
		return
	}
	select {
	case freeBatchData <- b.Data:
	default:
	}
	b.Data = nil
}

// drawAugments draws each image's augmentation in order from rng (all zero when opts asks for
// none).
func drawAugments(n int, opts ImageOptions, rng *rand.Rand) ([]augment, error) {
	augs := make([]augment, n)
	if opts.RandomCrop || opts.Flip {
		if rng == nil {
			return nil, fmt.Errorf("image batch: augmentation asked for but no random generator given")
		}
		for i := range augs {
			augs[i] = augment{cropX: rng.Float64(), cropY: rng.Float64(), flip: opts.Flip && rng.IntN(2) == 1}
		}
	}
	return augs, nil
}

// loadInto reads, decodes and preprocesses one image file into out (S·S·3 values).
func loadInto(path string, opts ImageOptions, aug augment, out []float32) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("image %s: %w", path, err)
	}
	p, err := decodePixels(path, data, opts.MaxPixels, opts.Resize == ResizeBilinear)
	if err != nil {
		return err
	}
	preprocessPixels(&p, opts, aug, out)
	return nil
}
