package captioner

import (
	"fmt"
	"io"

	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/internal/progress"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/schollz/progressbar/v3"
)

// CaptionImages captions image files: images are decoded and preprocessed on all cores,
// encoded once per batch of batchSize, and decoded greedily (opts.Beam ≤ 1) or by beam search.
// progress, when not nil, receives a progress bar.
func (m *Model) CaptionImages(paths []string, opts DecodeOptions, batchSize int, progress io.Writer) ([]Caption, error) {
	return m.captionBatches(len(paths), batchSize, opts, progress, func(lo, hi int) (*tensors.Tensor, error) {
		batch, err := datasets.LoadImageBatch(paths[lo:hi], m.ImageOptions(), nil)
		if err != nil {
			return nil, err
		}
		return m.EncodeImages(batch.Tensor())
	})
}

// Decode runs greedy decoding (opts.Beam ≤ 1) or beam search on regions [B, R, C].
func (m *Model) Decode(regions *tensors.Tensor, opts DecodeOptions) ([]Caption, error) {
	if opts.Beam <= 1 {
		return m.Greedy(regions, opts)
	}
	return m.BeamSearch(regions, opts)
}

// CaptionFeatures decodes the cached grids of the images at indices idx, in batches.
func (m *Model) CaptionFeatures(f *Features, idx []int, opts DecodeOptions, batchSize int, progress io.Writer) ([]Caption, error) {
	return m.captionBatches(len(idx), batchSize, opts, progress, func(lo, hi int) (*tensors.Tensor, error) {
		return f.Regions(idx[lo:hi])
	})
}

// captionBatches decodes n images in batches of batchSize, taking the regions of images
// lo … hi−1 from regionsOf.
func (m *Model) captionBatches(n, batchSize int, opts DecodeOptions, progress io.Writer, regionsOf func(lo, hi int) (*tensors.Tensor, error)) ([]Caption, error) {
	batchSize = max(1, batchSize)
	bar := newBar(progress, n, "captioning")
	var out []Caption
	for lo := 0; lo < n; lo += batchSize {
		hi := min(lo+batchSize, n)
		regions, err := regionsOf(lo, hi)
		if err != nil {
			return nil, err
		}
		caps, err := m.Decode(regions, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, caps...)
		if bar != nil {
			_ = bar.Add(hi - lo)
		}
	}
	return out, nil
}

// Regions returns the grids of the images at indices idx as regions [len(idx), h·w, C].
func (f *Features) Regions(idx []int) (*tensors.Tensor, error) {
	per := f.Dims[1] * f.Dims[2] * f.Dims[3]
	data := make([]float32, len(idx)*per)
	for i, j := range idx {
		if j < 0 || j >= f.Dims[0] {
			return nil, fmt.Errorf("features: image index %d out of range [0, %d)", j, f.Dims[0])
		}
		copy(data[i*per:(i+1)*per], f.Data[j*per:(j+1)*per])
	}
	return tensors.FromFlatDataAndDimensions(data, len(idx), f.Dims[1]*f.Dims[2], f.Dims[3]), nil
}

// newBar is a progress bar of total steps on w (nil when w is nil).
func newBar(w io.Writer, total int, desc string, extra ...progressbar.Option) *progressbar.ProgressBar {
	return progress.New(w, int64(total), desc, extra...)
}
