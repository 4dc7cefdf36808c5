package train

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strings"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decode"
	"github.com/attncap/attncap/captioner/metrics"
	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/gomlx/core/tensors"
)

// splitData is one split prepared for training or evaluation.
type splitData struct {
	images   []string
	captions [][][]int32         // per image, its encoded captions
	refs     [][][]string        // per image, its tokenized references
	raw      [][]string          // per image, its caption strings
	features *captioner.Features // encoder grids, when the encoder is frozen
}

// loadData reads the dataset and checks that it has every split a stage of the run needs.
func (r *trainRun) loadData() error {
	dataPath, err := datasets.ResolveData(r.opts.Data)
	if err != nil {
		return err
	}
	ds, err := datasets.Load(dataPath, datasets.LoadOptions{Images: r.opts.Images, AllowMissing: r.opts.AllowMissing})
	if err != nil {
		return err
	}
	for _, w := range ds.Warnings {
		r.logf("warning: %s", w)
	}
	r.ds = ds
	return r.checkSplits()
}

// checkSplits refuses a dataset without a split that a stage depends on: training needs train
// images, validation (model selection, LR decay, early stop) val images unless NoValidation,
// the final test test images unless NoTest. Training on, and reporting scores of, an empty split
// would print numbers that look fine and mean nothing.
func (r *trainRun) checkSplits() error {
	ds := r.ds
	nTrain, _ := ds.CountSplit(datasets.Train)
	nVal, _ := ds.CountSplit(datasets.Val)
	nTest, _ := ds.CountSplit(datasets.Test)
	sizes := fmt.Sprintf("train %d, val %d, test %d images", nTrain, nVal, nTest)
	switch {
	case nTrain == 0:
		return fmt.Errorf("train: %s has no training images (%s)", ds.Name, sizes)
	case nVal == 0 && !r.opts.NoValidation:
		return fmt.Errorf("train: %s has no validation images (%s). Validation chooses the best model, lowers the "+
			"learning rate and stops early; without val images all three would act on a constant. Give the dataset a "+
			"val split (Flickr8k: a Flickr_8k.devImages.txt list; Karpathy/COCO: images in \"val\"; a Kaggle folder "+
			"without split lists is split 75/12.5/12.5 by name, so it needs more images), or pass -no-val to train "+
			"without validation: a constant learning rate, every -epochs epoch, and the last epoch's model kept as best",
			ds.Name, sizes)
	case nTest == 0 && !r.opts.NoTest:
		return fmt.Errorf("train: %s has no test images (%s), so the final test would score nothing. Give the "+
			"dataset a test split, or pass -no-test to skip the final test", ds.Name, sizes)
	}
	if r.opts.NoValidation {
		r.logf("training without validation (-no-val): constant learning rate, no early stop, the last epoch's model is kept")
	}
	return nil
}

// prepareSplits encodes every split's captions and, when the encoder is frozen, computes (or
// reads from the cache) the encoder features of the splits the run uses.
func (r *trainRun) prepareSplits() error {
	cfg := r.m.Config
	r.splits = map[datasets.Split]*splitData{}
	for _, s := range datasets.Splits {
		r.splits[s] = prepareSplit(r.ds, s, r.m.Vocab, cfg.MaxLen)
	}
	nTrain := len(r.splits[datasets.Train].images)
	if r.opts.Resume && r.state.TrainImages != nTrain {
		return fmt.Errorf("resume: the run trained on %d images, the dataset now has %d", r.state.TrainImages, nTrain)
	}
	r.state.TrainImages = nTrain
	r.frozen = cfg.Encoder != "tiny" && cfg.FineTuneFrom == 0
	if !r.frozen {
		return nil
	}
	for _, s := range datasets.Splits {
		d := r.splits[s]
		if len(d.images) == 0 || (s == datasets.Val && r.opts.NoValidation) || (s == datasets.Test && r.opts.NoTest) {
			continue
		}
		var err error
		if d.features, err = cachedFeatures(r.m, d.images, featureCacheOptions{Dir: r.opts.CacheDir, Rebuild: r.opts.RebuildFeatures, EncoderFile: r.initWeights}, r.opts.Progress, r.logf); err != nil {
			return err
		}
	}
	return nil
}

// longestCaption is the token count of the longest train caption.
func longestCaption(ds *datasets.Dataset) int {
	longest := 1
	for _, c := range ds.TokenizeSplit(datasets.Train) {
		longest = max(longest, len(c))
	}
	return longest
}

// prepareSplit encodes a split's captions.
func prepareSplit(ds *datasets.Dataset, s datasets.Split, vocab *text.Vocab, maxLen int) *splitData {
	d := &splitData{}
	for _, e := range ds.Split(s) {
		var enc [][]int32
		var refs [][]string
		for _, c := range e.Captions {
			toks := text.Tokenize(c)
			ids, _ := vocab.Encode(toks, maxLen)
			enc = append(enc, ids)
			refs = append(refs, toks)
		}
		d.images = append(d.images, e.Image)
		d.captions = append(d.captions, enc)
		d.refs = append(d.refs, refs)
		d.raw = append(d.raw, e.Captions)
	}
	return d
}

// pickCaptions chooses k of an image's n captions for an epoch: a random subset, or all of them
// cycled when there are fewer than k.
func pickCaptions(rng *rand.Rand, n, k int) []int {
	perm := rng.Perm(n)
	out := make([]int, k)
	for i := range out {
		out[i] = perm[i%n]
	}
	return out
}

// preparedBatch is one training step's input.
type preparedBatch struct {
	inputs, captions *tensors.Tensor
	err              error
}

// makeBatch assembles the inputs (features or images) and captions [B·K, T] of a step.
func makeBatch(d *splitData, idx []int, choice [][]int, k, maxLen int, imgOpts datasets.ImageOptions, rng *rand.Rand) preparedBatch {
	ids := make([]int32, 0, len(idx)*k*maxLen)
	for _, i := range idx {
		for _, c := range choice[i] {
			ids = append(ids, d.captions[i][c]...)
		}
	}
	captions := tensors.FromFlatDataAndDimensions(ids, len(idx)*k, maxLen)
	if d.features != nil {
		regions, err := d.features.Regions(idx)
		return preparedBatch{regions, captions, err}
	}
	paths := make([]string, len(idx))
	for j, i := range idx {
		paths[j] = d.images[i]
	}
	b, err := datasets.LoadImageBatch(paths, imgOpts, rng)
	if err != nil {
		return preparedBatch{err: err}
	}
	return preparedBatch{b.Tensor(), captions, nil}
}

// captionSplit decodes the first n images of a split.
func captionSplit(m *captioner.Model, d *splitData, n int, opts decode.Options, batch int, progress io.Writer) ([]decode.Caption, error) {
	if d.features != nil {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return decode.Features(m, d.features, idx, opts, batch, progress)
	}
	return decode.Images(m, d.images[:n], opts, batch, progress)
}

// examplesFor pairs decoded captions with the references of the first len(caps) images.
func examplesFor(d *splitData, caps []decode.Caption) []metrics.Example {
	ex := make([]metrics.Example, len(caps))
	for i, c := range caps {
		ex[i] = metrics.Example{Candidate: text.Tokenize(strings.Join(c.Words, " ")), References: d.refs[i]}
	}
	return ex
}
