package captioner

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/attncap/attncap/captioner/metrics"
	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/datasets/text"
	"github.com/attncap/attncap/internal/atomicfile"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/schollz/progressbar/v3"
)

// TrainOptions configure Train. Zero values take the defaults of DefaultTrainOptions.
type TrainOptions struct {
	Data         string // dataset folder, Karpathy/COCO .json, or "shapes"
	Images       string // image folder for .json datasets
	AllowMissing bool

	Model    Config // encoder, weights, fine-tuning, image size, model sizes (VocabSize and MaxLen are derived)
	MinCount int    // vocabulary: words seen fewer times in train captions map to <unk>

	Batch            int     // captions per training step
	CaptionsPerImage int     // captions of each image in a step (its image is encoded once)
	Epochs           int     // at most this many epochs
	LR               float64 // Adam learning rate
	EncoderLR        float64 // learning rate of fine-tuned encoder stages (0: LR)
	LRDecay          float64 // LR ×= LRDecay after LRPatience epochs without a better val BLEU-4
	LRPatience       int
	Patience         int     // stop after this many epochs without a better val BLEU-4
	GradClip         float64 // clip gradients to this global norm (0: off)
	Beam             int     // beam width for validation decoding (1: greedy)
	TestBeam         int     // beam width for the final test evaluation
	Crop, Flip       bool    // augmentation when the encoder is trained (Flip contradicts left/right captions)
	Seed             uint64
	ValLimit         int // decode at most this many val images per epoch (0: all)

	Out      string // run folder
	Resume   bool   // continue the run in Out exactly where it stopped
	CacheDir string // feature cache ("" : the user cache folder)

	Progress io.Writer                     // progress bars (nil: none)
	Logf     func(format string, a ...any) // one line per event (nil: silent)
	OnStep   func(StepInfo)                // after every training step (nil: none)
	OnEpoch  func(EpochRecord)             // after every epoch's validation (nil: none)
}

// StepInfo describes a finished training step, for OnStep.
type StepInfo struct {
	Epoch, Batch, Batches int // 1-based epoch; batch just done (1-based) of Batches
	Loss                  float64
	Step                  int64 // global step
}

// DefaultTrainOptions returns the defaults for an encoder: Adam at 1e-3 decayed ×0.5 after 2
// epochs without a better val BLEU-4, stop after 4, 64 captions per step, embedding and
// hidden 512, gradients clipped at norm 5, greedy validation and beam 3 at test. The tiny
// encoder (trained from scratch, for synthetic data) gets 64-pixel images, a smaller decoder
// and a schedule that fits in minutes on two CPU cores.
func DefaultTrainOptions(encoder string) TrainOptions {
	o := TrainOptions{
		Model: DefaultConfig(encoder), MinCount: text.DefaultMinCount,
		Batch: 64, CaptionsPerImage: 5, Epochs: 30, LR: 1e-3, LRDecay: 0.5, LRPatience: 2, Patience: 4,
		GradClip: 5, Beam: 1, TestBeam: 3, Crop: true, Seed: 1, ValLimit: 0,
	}
	if encoder == "tiny" {
		o.Epochs, o.LR, o.Patience = 8, 2e-3, 4
	}
	return o
}

// Sample is one test image with its generated and reference captions.
type Sample struct {
	Image      string
	Caption    string
	References []string
}

// TrainResult summarises a training run.
type TrainResult struct {
	Epochs      int             // epochs completed
	BestEpoch   int             // epoch of the best val BLEU-4 (1-based)
	BestValBLEU float64         // its val BLEU-4
	Test        metrics.Scores  // scores of the best checkpoint on the test split
	Samples     []Sample        // a few test captions
	Interrupted bool            // stopped by the context (state saved; resume with Resume)
	Elapsed     time.Duration   // training time, all sessions of the run together
	Backend     compute.Backend // where it ran
}

// ErrInterrupted is returned (wrapped) when the context stops training; the run was saved.
var ErrInterrupted = errors.New("training interrupted")

// trainState is what a run folder records beyond the variables, to resume exactly.
type trainState struct {
	Epoch        int     `json:"epoch"`         // current epoch, 0-based
	Batch        int     `json:"batch"`         // next batch of that epoch
	LossSum      float64 `json:"loss_sum"`      // train loss summed over the epoch's batches so far
	BestBLEU     float64 `json:"best_bleu4"`    // best val BLEU-4
	BestEpoch    int     `json:"best_epoch"`    // 1-based, 0: none yet
	BadEpochs    int     `json:"bad_epochs"`    // epochs since the best
	LRBadEpochs  int     `json:"lr_bad_epochs"` // epochs since the best or the last decay
	LR           float64 `json:"lr"`
	Seconds      float64 `json:"seconds"`      // training time so far
	TrainImages  int     `json:"train_images"` // to check that a resumed run sees the same data
	Finished     bool    `json:"finished"`
	EpochSeconds float64 `json:"epoch_seconds"` // time spent in the current epoch so far
}

// EpochRecord is one line of metrics.jsonl.
type EpochRecord struct {
	Epoch     int     `json:"epoch"`
	Step      int64   `json:"step"`
	TrainLoss float64 `json:"train_loss"`
	ValLoss   float64 `json:"val_loss"`
	ValBLEU4  float64 `json:"val_bleu4"`
	LR        float64 `json:"lr"`
	Seconds   float64 `json:"seconds"`
}

// splitData is one split prepared for training or evaluation.
type splitData struct {
	images   []string
	captions [][][]int32  // per image, its encoded captions
	refs     [][][]string // per image, its tokenized references
	raw      [][]string   // per image, its caption strings
	features *Features    // encoder grids, when the encoder is frozen
}

// Run-folder layout.
const (
	bestDir     = "best"
	lastDir     = "last"
	stateFile   = "state.json"
	metricsFile = "metrics.jsonl"
)

// Train trains a captioner: it loads the dataset, builds the vocabulary from the train split,
// caches encoder features when the encoder is frozen, and trains the decoder (and fine-tuned
// encoder stages) with Adam. After every epoch it decodes the val split (no teacher forcing),
// computes BLEU-4, decays the learning rate and stops early on plateaus, and writes
// RUN/best (the best model), RUN/last (everything needed to resume), RUN/state.json and a line
// of RUN/metrics.jsonl. When ctx is cancelled it saves RUN/last at the current step and returns
// an error wrapping ErrInterrupted; Resume continues exactly (same steps, optimizer state and
// data order). At the end the best model is evaluated on the test split.
func Train(ctx context.Context, backend compute.Backend, opts TrainOptions) (*TrainResult, error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if opts.Out == "" {
		return nil, fmt.Errorf("train: no run folder (-out)")
	}
	if opts.Batch < 1 || opts.CaptionsPerImage < 1 || opts.Epochs < 1 {
		return nil, fmt.Errorf("train: batch (%d), captions per image (%d) and epochs (%d) must be positive", opts.Batch, opts.CaptionsPerImage, opts.Epochs)
	}
	dataPath, err := datasets.ResolveData(opts.Data)
	if err != nil {
		return nil, err
	}
	ds, err := datasets.Load(dataPath, datasets.LoadOptions{Images: opts.Images, AllowMissing: opts.AllowMissing})
	if err != nil {
		return nil, err
	}
	for _, w := range ds.Warnings {
		logf("warning: %s", w)
	}

	// Model: fresh, or the run's last checkpoint.
	var m *Model
	state := &trainState{}
	lastPath := filepath.Join(opts.Out, lastDir)
	if opts.Resume {
		data, err := os.ReadFile(filepath.Join(opts.Out, stateFile))
		if err != nil {
			return nil, fmt.Errorf("resume: %w (no run to resume in %s)", err, opts.Out)
		}
		if err := json.Unmarshal(data, state); err != nil {
			return nil, fmt.Errorf("resume: %s: %w", filepath.Join(opts.Out, stateFile), err)
		}
		if state.Finished {
			return nil, fmt.Errorf("resume: the run in %s already finished", opts.Out)
		}
		if m, err = LoadModel(backend, lastPath); err != nil {
			return nil, fmt.Errorf("resume: %w", err)
		}
		logf("resuming %s at epoch %d, batch %d", opts.Out, state.Epoch+1, state.Batch)
	} else {
		if _, err := os.Stat(filepath.Join(opts.Out, stateFile)); err == nil {
			return nil, fmt.Errorf("train: %s already holds a run; pass -resume to continue it or choose another -out", opts.Out)
		}
		vocab, err := ds.BuildVocab(opts.MinCount)
		if err != nil {
			return nil, err
		}
		cfg := opts.Model
		cfg.MaxLen = min(cfg.MaxLen, longestCaption(ds)+2)
		if m, err = NewModel(backend, cfg, vocab); err != nil {
			return nil, err
		}
		m.Store.SetParam(model.ParamInitialSeed, int64(opts.Seed))
		if err := m.LoadEncoderWeights(); err != nil {
			return nil, err
		}
		state.LR = opts.LR
	}
	cfg := m.Config
	logf("model: %s encoder (%s), %d×%d images, vocabulary %d, captions ≤ %d tokens, embedding %d, hidden %d, attention %d",
		cfg.Encoder, orNone(cfg.Weights), cfg.ImageSize, cfg.ImageSize, cfg.VocabSize, cfg.MaxLen, cfg.EmbedDim, cfg.HiddenDim, cfg.AttentionDim)

	splits := map[datasets.Split]*splitData{}
	for _, s := range datasets.Splits {
		splits[s] = prepareSplit(ds, s, m.Vocab, cfg.MaxLen)
	}
	trainSplit := splits[datasets.Train]
	if len(trainSplit.images) == 0 {
		return nil, fmt.Errorf("train: %s has no training images", ds.Name)
	}
	if opts.Resume && state.TrainImages != len(trainSplit.images) {
		return nil, fmt.Errorf("resume: the run trained on %d images, the dataset now has %d", state.TrainImages, len(trainSplit.images))
	}
	state.TrainImages = len(trainSplit.images)
	frozen := cfg.Encoder != "tiny" && cfg.FineTuneFrom == 0
	if frozen {
		for _, s := range datasets.Splits {
			if len(splits[s].images) == 0 {
				continue
			}
			if splits[s].features, err = cachedFeatures(m, splits[s].images, opts.CacheDir, opts.Progress, logf); err != nil {
				return nil, err
			}
		}
	}

	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return nil, err
	}
	trainer := train.NewTrainer(backend, m.Store, m.ModelFn(), m.LossFn(), NewOptimizer(opts.LR, opts.EncoderLR, opts.GradClip), nil, nil)
	if opts.Resume {
		if err := LoadVariables(m.Store, filepath.Join(lastPath, VariablesFile)); err != nil { // optimizer state too
			return nil, fmt.Errorf("resume: %w", err)
		}
	}
	if err := SetLearningRate(m.Store, state.LR); err != nil {
		return nil, err
	}
	if !opts.Resume {
		if err := m.Save(filepath.Join(opts.Out, bestDir)); err != nil { // config and vocabulary from the start
			return nil, err
		}
	}

	imagesPerBatch := max(1, opts.Batch/opts.CaptionsPerImage)
	numBatches := len(trainSplit.images) / imagesPerBatch
	if numBatches == 0 {
		imagesPerBatch, numBatches = len(trainSplit.images), 1
	}
	res := &TrainResult{Backend: backend}
	saveLast := func() error {
		if err := m.Save(lastPath); err != nil {
			return err
		}
		return writeJSON(filepath.Join(opts.Out, stateFile), state)
	}
	imgOpts := m.ImageOptions()
	imgOpts.RandomCrop, imgOpts.Flip = opts.Crop && !frozen, opts.Flip && !frozen

	for !state.Finished && state.Epoch < opts.Epochs {
		epochStart := time.Now()
		epochRNG := rand.New(rand.NewPCG(opts.Seed, uint64(state.Epoch)+1))
		order := epochRNG.Perm(len(trainSplit.images))
		choice := make([][]int, len(trainSplit.images)) // which captions each image uses this epoch
		for i, caps := range trainSplit.captions {
			choice[i] = pickCaptions(epochRNG, len(caps), opts.CaptionsPerImage)
		}
		bar := newEpochBar(opts.Progress, numBatches*imagesPerBatch, state.Epoch+1, opts.Epochs)
		if bar != nil && state.Batch > 0 {
			_ = bar.Set(state.Batch * imagesPerBatch)
		}
		batches := make(chan preparedBatch, 2)
		stopPrefetch := make(chan struct{})
		go func(first int) {
			defer close(batches)
			for b := first; b < numBatches; b++ {
				idx := order[b*imagesPerBatch : (b+1)*imagesPerBatch]
				augRNG := rand.New(rand.NewPCG(opts.Seed^0x9e3779b97f4a7c15, uint64(state.Epoch)<<32|uint64(b)))
				pb := makeBatch(trainSplit, idx, choice, opts.CaptionsPerImage, cfg.MaxLen, imgOpts, augRNG)
				select {
				case batches <- pb:
				case <-stopPrefetch:
					return
				}
				if pb.err != nil {
					return
				}
			}
		}(state.Batch)
		interrupted := false
		for pb := range batches {
			if pb.err != nil {
				close(stopPrefetch)
				return nil, pb.err
			}
			if ctx.Err() != nil {
				interrupted = true
				close(stopPrefetch)
				break
			}
			out, err := trainer.TrainStep(train.Batch{Inputs: []*tensors.Tensor{pb.inputs, pb.captions}, Labels: []*tensors.Tensor{pb.captions}})
			if err != nil {
				close(stopPrefetch)
				return nil, fmt.Errorf("train step: %w", err)
			}
			loss := float64(tensors.ToScalar[float32](out[0]))
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				close(stopPrefetch)
				return nil, fmt.Errorf("train: loss became %v at epoch %d batch %d; lower -lr or -grad-clip", loss, state.Epoch+1, state.Batch)
			}
			state.LossSum += loss
			state.Batch++
			if bar != nil {
				bar.Describe(fmt.Sprintf("epoch %d/%d loss %.3f", state.Epoch+1, opts.Epochs, state.LossSum/float64(state.Batch)))
				_ = bar.Add(imagesPerBatch)
			}
			if opts.OnStep != nil {
				opts.OnStep(StepInfo{Epoch: state.Epoch + 1, Batch: state.Batch, Batches: numBatches, Loss: loss, Step: optimizer.GetGlobalStep(m.Store)})
			}
		}
		for range batches { //nolint:revive // drain the prefetcher
		}
		elapsed := time.Since(epochStart).Seconds()
		state.EpochSeconds += elapsed
		state.Seconds += elapsed
		if interrupted {
			if err := saveLast(); err != nil {
				return nil, fmt.Errorf("train: interrupted, and saving failed: %w", err)
			}
			res.Interrupted, res.Epochs, res.Elapsed = true, state.Epoch, seconds(state.Seconds)
			return res, fmt.Errorf("%w at epoch %d, batch %d; state saved in %s (continue with -resume)", ErrInterrupted, state.Epoch+1, state.Batch, opts.Out)
		}
		if bar != nil {
			_ = bar.Finish()
		}

		// Validation: teacher-forced loss and decoded BLEU-4.
		valStart := time.Now()
		m.ResetCompiled() // inference graphs hold the variables as constants
		valLoss, valBLEU, err := validate(m, splits[datasets.Val], imagesPerBatch, opts)
		if err != nil {
			return nil, err
		}
		rec := EpochRecord{Epoch: state.Epoch + 1, Step: optimizer.GetGlobalStep(m.Store), TrainLoss: state.LossSum / float64(max(1, state.Batch)),
			ValLoss: valLoss, ValBLEU4: valBLEU, LR: state.LR, Seconds: state.EpochSeconds + time.Since(valStart).Seconds()}
		state.Seconds += time.Since(valStart).Seconds()
		logf("epoch %d: train loss %.4f, val loss %.4f, val BLEU-4 %.4f, lr %.2g, %.0f s", rec.Epoch, rec.TrainLoss, rec.ValLoss, rec.ValBLEU4, rec.LR, rec.Seconds)
		if err := appendJSONLine(filepath.Join(opts.Out, metricsFile), rec); err != nil {
			return nil, err
		}
		if opts.OnEpoch != nil {
			opts.OnEpoch(rec)
		}
		stop := false
		if valBLEU > state.BestBLEU || state.BestEpoch == 0 {
			state.BestBLEU, state.BestEpoch, state.BadEpochs, state.LRBadEpochs = valBLEU, state.Epoch+1, 0, 0
			if err := m.Save(filepath.Join(opts.Out, bestDir)); err != nil {
				return nil, err
			}
		} else {
			state.BadEpochs++
			state.LRBadEpochs++
			if opts.LRPatience > 0 && state.LRBadEpochs >= opts.LRPatience && opts.LRDecay > 0 && opts.LRDecay < 1 {
				state.LR *= opts.LRDecay
				state.LRBadEpochs = 0
				if err := SetLearningRate(m.Store, state.LR); err != nil {
					return nil, err
				}
				logf("val BLEU-4 has not improved for %d epochs: learning rate now %.2g", opts.LRPatience, state.LR)
			}
			if opts.Patience > 0 && state.BadEpochs >= opts.Patience {
				logf("val BLEU-4 has not improved for %d epochs: stopping", state.BadEpochs)
				stop = true
			}
		}
		state.Batch, state.LossSum, state.EpochSeconds = 0, 0, 0
		state.Epoch++
		state.Finished = stop || state.Epoch >= opts.Epochs
		if err := saveLast(); err != nil {
			return nil, err
		}
	}
	res.Epochs, res.BestEpoch, res.BestValBLEU, res.Elapsed = state.Epoch, state.BestEpoch, state.BestBLEU, seconds(state.Seconds)

	// Test: the best checkpoint, decoded with the test beam.
	best, err := LoadModel(backend, filepath.Join(opts.Out, bestDir))
	if err != nil {
		return nil, err
	}
	test := splits[datasets.Test]
	if len(test.images) > 0 {
		caps, err := captionSplit(best, test, len(test.images), DecodeOptions{Beam: opts.TestBeam, SkipAttention: true}, imagesPerBatch, opts.Progress)
		if err != nil {
			return nil, err
		}
		if res.Test, err = metrics.Evaluate(examplesFor(test, caps)); err != nil {
			return nil, err
		}
		for i := 0; i < min(5, len(caps)); i++ {
			res.Samples = append(res.Samples, Sample{Image: test.images[i], Caption: strings.Join(caps[i].Words, " "), References: test.raw[i]})
		}
		if err := writeJSON(filepath.Join(opts.Out, "test_metrics.json"), res.Test); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func orNone(s string) string {
	if s == "" {
		return "trained from scratch"
	}
	return s
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
func captionSplit(m *Model, d *splitData, n int, opts DecodeOptions, batch int, progress io.Writer) ([]Caption, error) {
	if d.features != nil {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return m.CaptionFeatures(d.features, idx, opts, batch, progress)
	}
	return m.CaptionImages(d.images[:n], opts, batch, progress)
}

// examplesFor pairs decoded captions with the references of the first len(caps) images.
func examplesFor(d *splitData, caps []Caption) []metrics.Example {
	ex := make([]metrics.Example, len(caps))
	for i, c := range caps {
		ex[i] = metrics.Example{Candidate: text.Tokenize(strings.Join(c.Words, " ")), References: d.refs[i]}
	}
	return ex
}

// validate computes the val split's teacher-forced loss (cross-entropy per real token) and
// the BLEU-4 of its decoded captions.
func validate(m *Model, val *splitData, imagesPerBatch int, opts TrainOptions) (loss, bleu4 float64, err error) {
	if len(val.images) == 0 {
		return 0, 0, nil
	}
	exec, err := model.NewExec(m.Backend, m.Store, func(scope *model.Scope, inputs []*graph.Node) *graph.Node {
		return m.LossGraph(scope, inputs)
	})
	if err != nil {
		return 0, 0, err
	}
	defer exec.Finalize()
	var sum, tokens float64
	all := make([][]int, len(val.images))
	for i := range all {
		all[i] = make([]int, len(val.captions[i]))
		for j := range all[i] {
			all[i][j] = j
		}
	}
	// Group images by caption count so every batch has the same number per image.
	groups := map[int][]int{}
	for i, caps := range val.captions {
		groups[len(caps)] = append(groups[len(caps)], i)
	}
	counts := make([]int, 0, len(groups))
	for k := range groups {
		counts = append(counts, k)
	}
	sort.Ints(counts)
	for _, k := range counts {
		list := groups[k]
		for start := 0; start < len(list); start += imagesPerBatch {
			idx := list[start:min(start+imagesPerBatch, len(list))]
			pb := makeBatch(val, idx, all, k, m.Config.MaxLen, m.ImageOptions(), nil)
			if pb.err != nil {
				return 0, 0, pb.err
			}
			n := realTargets(pb.captions)
			out, err := exec.Call(pb.inputs, pb.captions)
			if err != nil {
				return 0, 0, fmt.Errorf("validation: %w", err)
			}
			sum += float64(tensors.ToScalar[float32](out[0])) * n
			tokens += n
		}
	}
	n := len(val.images)
	if opts.ValLimit > 0 {
		n = min(n, opts.ValLimit)
	}
	caps, err := captionSplit(m, val, n, DecodeOptions{Beam: opts.Beam, SkipAttention: true}, 4*imagesPerBatch, nil)
	if err != nil {
		return 0, 0, err
	}
	return sum / math.Max(1, tokens), metrics.Bleu(examplesFor(val, caps))[3], nil
}

// realTargets counts the non-<pad> targets (tokens after the first) of captions [N, T].
func realTargets(captions *tensors.Tensor) float64 {
	d := captions.Shape().Dimensions
	ids := tensors.MustCopyFlatData[int32](captions)
	var n float64
	for r := 0; r < d[0]; r++ {
		for t := 1; t < d[1]; t++ {
			if ids[r*d[1]+t] != text.PadID {
				n++
			}
		}
	}
	return n
}

// cachedFeatures returns the encoder grids of images, computing them once: the cache file is
// keyed by the encoder, its weights, image and grid size and the image list.
func cachedFeatures(m *Model, images []string, cacheDir string, progress io.Writer, logf func(string, ...any)) (*Features, error) {
	if cacheDir == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("feature cache: %w", err)
		}
		cacheDir = filepath.Join(c, "attncap", "features")
	}
	h := sha256.New()
	meta := m.featureMeta()
	fmt.Fprintf(h, "%s|%s|%s|%s\n", meta["encoder"], meta["weights"], meta["image_size"], meta["grid_size"])
	for _, p := range images {
		abs, _ := filepath.Abs(p)
		fmt.Fprintln(h, abs)
	}
	path := filepath.Join(cacheDir, fmt.Sprintf("%s-%x.safetensors", m.Config.Encoder, h.Sum(nil)[:8]))
	if f, err := LoadFeatures(path); err == nil && f.Dims[0] == len(images) {
		logf("features: %d images from the cache %s", len(images), path)
		return f, nil
	}
	logf("features: encoding %d images once (cached in %s)", len(images), path)
	f, err := m.ExtractFeatures(images, 8, progress)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, err
	}
	return f, f.Save(path)
}

func newEpochBar(w io.Writer, images, epoch, epochs int) *progressbar.ProgressBar {
	return newBar(w, images, fmt.Sprintf("epoch %d/%d", epoch, epochs),
		progressbar.OptionShowIts(), progressbar.OptionSetItsString("img"),
		progressbar.OptionSetWidth(25), progressbar.OptionThrottle(250_000_000))
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(data, '\n'))
}

func appendJSONLine(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err = f.Write(append(data, '\n')); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
