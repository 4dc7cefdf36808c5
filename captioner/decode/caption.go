package decode

import (
	"fmt"
	"io"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/internal/progress"
	"github.com/gomlx/gomlx/core/tensors"
)

// Images captions image files: images are decoded and preprocessed on all cores, encoded once
// per batch of batchSize, and decoded greedily (opts.Beam ≤ 1) or by beam search. progressOut,
// when not nil, receives a progress bar.
func Images(m *captioner.Model, paths []string, opts Options, batchSize int, progressOut io.Writer) ([]Caption, error) {
	return inBatches(m, len(paths), batchSize, opts, progressOut, func(lo, hi int) (*tensors.Tensor, error) {
		batch, err := datasets.LoadImageBatch(paths[lo:hi], m.ImageOptions(), nil)
		if err != nil {
			return nil, err
		}
		return m.EncodeImages(batch.Tensor())
	})
}

// Regions runs greedy decoding (opts.Beam ≤ 1) or beam search on regions [B, R, C].
func Regions(m *captioner.Model, regions *tensors.Tensor, opts Options) ([]Caption, error) {
	if opts.Beam <= 1 {
		return Greedy(m, regions, opts)
	}
	return Beam(m, regions, opts)
}

// Features decodes the cached grids of the images at indices idx, in batches.
func Features(m *captioner.Model, f *captioner.Features, idx []int, opts Options, batchSize int, progressOut io.Writer) ([]Caption, error) {
	return inBatches(m, len(idx), batchSize, opts, progressOut, func(lo, hi int) (*tensors.Tensor, error) {
		return f.Regions(idx[lo:hi])
	})
}

// inBatches decodes n images in batches of batchSize, taking the regions of images lo … hi−1
// from regionsOf.
func inBatches(m *captioner.Model, n, batchSize int, opts Options, progressOut io.Writer, regionsOf func(lo, hi int) (*tensors.Tensor, error)) ([]Caption, error) {
	batchSize = max(1, batchSize)
	bar := progress.New(progressOut, int64(n), "captioning")
	var out []Caption
	for lo := 0; lo < n; lo += batchSize {
		hi := min(lo+batchSize, n)
		regions, err := regionsOf(lo, hi)
		if err != nil {
			return nil, err
		}
		caps, err := Regions(m, regions, opts)
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

// ScoreImages scores a given caption for each image file (captions[i] for paths[i]) with
// captioner.Model.ScoreCaptions: the teacher-forced log-probability of each word and of <end>.
// Images are preprocessed as for captioning and encoded in batches of batchSize.
func ScoreImages(m *captioner.Model, paths, captions []string, batchSize int) ([]captioner.CaptionScore, error) {
	if len(paths) != len(captions) {
		return nil, fmt.Errorf("score: %d images but %d captions", len(paths), len(captions))
	}
	batchSize = max(1, batchSize)
	var out []captioner.CaptionScore
	for lo := 0; lo < len(paths); lo += batchSize {
		hi := min(lo+batchSize, len(paths))
		batch, err := datasets.LoadImageBatch(paths[lo:hi], m.ImageOptions(), nil)
		if err != nil {
			return nil, err
		}
		regions, err := m.EncodeImages(batch.Tensor())
		if err != nil {
			return nil, err
		}
		scores, err := m.ScoreCaptions(regions, captions[lo:hi])
		if err != nil {
			return nil, err
		}
		out = append(out, scores...)
	}
	return out, nil
}
