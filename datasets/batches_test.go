package datasets

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestImageBatchesMatchLoadImageBatchInOrder(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i := 0; i < 11; i++ {
		p := filepath.Join(dir, fmt.Sprintf("%02d.png", i))
		os.WriteFile(p, encodePNG(t, solid(20+i, 17, color.RGBA{uint8(20 * i), 100, uint8(255 - 20*i), 255})), 0o644)
		paths = append(paths, p)
	}
	for _, opts := range []ImageOptions{{Size: 8}, {Size: 8, RandomCrop: true, Flip: true}} {
		for _, ahead := range []int{0, 1, 3} {
			rng, ref := rand.New(rand.NewPCG(4, 4)), rand.New(rand.NewPCG(4, 4))
			next := 0
			err := ImageBatches(paths, 4, opts, rng, ahead, func(i int, b *ImageBatch) error {
				if i != next {
					t.Fatalf("batch %d handed over when %d was due", i, next)
				}
				next++
				want, err := LoadImageBatch(paths[i*4:min(i*4+4, len(paths))], opts, ref)
				if err != nil {
					t.Fatal(err)
				}
				if b.N != want.N || len(b.Data) != len(want.Data) {
					t.Fatalf("batch %d: %d images, want %d", i, b.N, want.N)
				}
				for k := range want.Data {
					if b.Data[k] != want.Data[k] {
						t.Fatalf("batch %d (opts %+v, ahead %d): value %d differs from LoadImageBatch's", i, opts, ahead, k)
					}
				}
				// Recycled memory is not cleared: every value of a later batch must be written.
				for k := range b.Data {
					b.Data[k] = float32(math.NaN())
				}
				b.Recycle()
				if b.Data != nil {
					t.Fatal("Recycle left the batch its data")
				}
				return nil
			})
			if err != nil || next != 3 {
				t.Fatalf("err %v after %d batches", err, next)
			}
		}
	}
}

func TestImageBatchesStopAtTheFirstError(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i := 0; i < 12; i++ {
		p := filepath.Join(dir, fmt.Sprintf("%02d.png", i))
		data := encodePNG(t, solid(10, 10, color.RGBA{1, 2, 3, 255}))
		if i == 6 || i == 7 {
			data = []byte("not an image")
		}
		os.WriteFile(p, data, 0o644)
		paths = append(paths, p)
	}
	before := runtime.NumGoroutine()
	got := 0
	err := ImageBatches(paths, 2, ImageOptions{Size: 4}, nil, 2, func(int, *ImageBatch) error { got++; return nil })
	if err == nil || !strings.Contains(err.Error(), paths[6]) || got != 3 {
		t.Fatalf("err = %v after %d batches; want the error of %s after 3", err, got, paths[6])
	}
	stop := errors.New("enough")
	got = 0
	err = ImageBatches(paths[:6], 1, ImageOptions{Size: 4}, nil, 0, func(int, *ImageBatch) error {
		got++
		if got == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || got != 2 {
		t.Fatalf("err = %v after %d batches; want the callback's after 2", err, got)
	}
	if _, err := LoadImageBatch(paths, ImageOptions{Size: 4, Flip: true}, nil); err == nil {
		t.Fatal("augmentation without a generator should fail")
	}
	for deadline := time.Now().Add(2 * time.Second); runtime.NumGoroutine() > before && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines left running (%d before)", n, before)
	}
}
