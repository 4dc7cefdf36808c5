package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decode"
	"github.com/attncap/attncap/captioner/decoder"
	"github.com/attncap/attncap/captioner/metrics"
	"github.com/attncap/attncap/captioner/runfolder"
	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/internal/atomicfile"
	"github.com/attncap/attncap/internal/progress"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	gomlxtrain "github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/schollz/progressbar/v3"
)

// SCSTOptions configure the self-critical stage (Rennie et al. 2017, "Self-critical Sequence
// Training for Image Captioning"), which continues the best cross-entropy model of the run and
// optimises the CIDEr-D of sampled captions directly. Zero values take DefaultSCSTOptions'.
type SCSTOptions struct {
	Enabled bool `json:"enabled" flag:"scst" help:"after cross-entropy, self-critical training (SCST) on the CIDEr-D of sampled captions; best/ becomes the best model by val CIDEr-D, xe-best/ keeps the cross-entropy one" resume:"safe"`
	// Samples is K, the captions sampled per image at every step.
	Samples int `json:"samples" flag:"scst-samples" help:"SCST: captions sampled per image" resume:"safe"`
	// Baseline is "mean" (the mean reward of the image's other samples: Luo 2020, "A Better
	// Variant of Self-Critical Sequence Training") or "greedy" (the reward of the image's greedy
	// caption: Rennie et al. 2017).
	Baseline string `json:"baseline" flag:"scst-baseline" help:"SCST baseline: mean (of the image's other samples) or greedy (the greedy caption's reward)" resume:"safe"`
	// LR is the stage's Adam learning rate.
	LR float64 `json:"lr" flag:"scst-lr" help:"SCST Adam learning rate" resume:"safe"`
	// Epochs bounds the stage; it stops earlier after Patience epochs without a better val
	// CIDEr-D.
	Epochs   int `json:"epochs" flag:"scst-epochs" help:"SCST epochs at most" resume:"safe"`
	Patience int `json:"patience" resume:"safe"`
}

// DefaultSCSTOptions: K = 5 samples, the mean-of-others baseline, Adam at 5e-5 for ResNet
// features (ruotianluo/self-critical.pytorch's setting) and 2e-4 for the tiny encoder on shapes
// (docs/scst.md), at most 30 epochs (4 for tiny), stop after 3 without a better val CIDEr-D.
func DefaultSCSTOptions(encoder string) SCSTOptions {
	o := SCSTOptions{Samples: 5, Baseline: "mean", LR: 5e-5, Epochs: 30, Patience: 3}
	if encoder == "tiny" {
		o.LR, o.Epochs = 2e-4, 4
	}
	return o
}

// SCSTCrossEntropyEpochs is how many cross-entropy epochs a fresh run that goes on to SCST
// trains when none are asked for, given the encoder's default: SCSTTinyCrossEntropyEpochs for
// the tiny encoder, epochs otherwise. On shapes the 8-epoch cross-entropy model left SCST at
// object accuracy 0.91 (three-object images 79/95); 14 epochs gave 0.98 (92/95) in a run of
// about 21 minutes on 2 cores (docs/scst.md).
func SCSTCrossEntropyEpochs(encoder string, epochs int) int {
	if encoder == "tiny" {
		return SCSTTinyCrossEntropyEpochs
	}
	return epochs
}

// SCSTTinyCrossEntropyEpochs is SCSTCrossEntropyEpochs for the tiny encoder.
const SCSTTinyCrossEntropyEpochs = 14

// SCSTRegionCoords says whether a fresh run that goes on to SCST appends region coordinates
// (captioner.Config.RegionCoords) when not told: for the LSTM over the tiny encoder. On a fresh shapes
// set they took the three-object images from 96/114 to 109/114 right after SCST
// (docs/scst.md); without -scst the default stays off, so the README main command's model is
// unchanged.
func SCSTRegionCoords(cfg captioner.Config) bool {
	return cfg.Encoder == "tiny" && cfg.TakesRegionCoords()
}

// WithSCSTDefaults returns the options of a fresh run with the defaults that going on to SCST
// brings (none when o.SCST is off): SCSTCrossEntropyEpochs unless the "epochs" flag was given,
// SCSTRegionCoords unless "region-coords" was. given reports whether the command line set a
// flag (TrainOptions' `flag` tags name them).
func WithSCSTDefaults(o TrainOptions, given func(flag string) bool) TrainOptions {
	if !o.SCST.Enabled {
		return o
	}
	if !given("epochs") {
		o.Epochs = SCSTCrossEntropyEpochs(o.Model.Encoder, o.Epochs)
	}
	if !given("region-coords") {
		o.Model.RegionCoords = SCSTRegionCoords(o.Model)
	}
	return o
}

// CheckSCSTOptions rejects SCST options that cannot run, with defaults filled for the encoder:
// Train calls it before anything is trained (and scripts/train before -scst-from copies a run),
// so that a typo does not surface only after the cross-entropy stage.
func CheckSCSTOptions(opts TrainOptions) error {
	if !opts.SCST.Enabled {
		return nil
	}
	o := opts.SCST.withDefaults(opts.Model.Encoder)
	switch {
	case o.Baseline != "mean" && o.Baseline != "greedy":
		return fmt.Errorf("scst: baseline %q: want mean or greedy (-scst-baseline)", o.Baseline)
	case o.Samples < 2 && o.Baseline == "mean":
		return fmt.Errorf("scst: the mean baseline needs at least 2 samples per image (-scst-samples %d)", o.Samples)
	case o.Samples < 1 || o.LR <= 0 || o.Epochs < 1:
		return fmt.Errorf("scst: samples (%d), learning rate (%g) and epochs (%d) must be positive", o.Samples, o.LR, o.Epochs)
	case opts.NoValidation:
		return fmt.Errorf("scst: needs a val split to select its model by CIDEr-D; the run trains with -no-val")
	}
	return nil
}

// withDefaults fills o's zero fields from DefaultSCSTOptions(encoder): a run saved before the
// stage existed, or options built by hand, get the defaults.
func (o SCSTOptions) withDefaults(encoder string) SCSTOptions {
	d := DefaultSCSTOptions(encoder)
	if o.Samples == 0 {
		o.Samples = d.Samples
	}
	if o.Baseline == "" {
		o.Baseline = d.Baseline
	}
	if o.LR == 0 {
		o.LR = d.LR
	}
	if o.Epochs == 0 {
		o.Epochs = d.Epochs
	}
	if o.Patience == 0 {
		o.Patience = d.Patience
	}
	return o
}

// scstState is what the SCST stage records to resume exactly (scst/state.json).
type scstState struct {
	stageProgress
	RewardSum  float64 `json:"reward_sum"`
	LossSum    float64 `json:"loss_sum"`
	StartCIDEr float64 `json:"start_cider"` // the cross-entropy model's val CIDEr-D
	BestCIDEr  float64 `json:"best_cider"`
	BestEpoch  int     `json:"best_epoch"` // 0: the cross-entropy model
	BadEpochs  int     `json:"bad_epochs"`
	// Samples and Baseline are those the stage started with: they set the batches and the
	// loss, so a stage in progress resumes only with the same.
	Samples  int    `json:"samples"`
	Baseline string `json:"baseline"`
}

// SCSTRecord is one line of scst/metrics.jsonl.
type SCSTRecord struct {
	Epoch      int     `json:"epoch"`
	Step       int64   `json:"step"`
	Reward     float64 `json:"reward"` // mean CIDEr-D of the epoch's samples
	Loss       float64 `json:"loss"`
	ValCIDEr   float64 `json:"val_cider"` // greedy decoding of the val split
	ValBLEU4   float64 `json:"val_bleu4"`
	Seconds    float64 `json:"seconds"`
	StartCIDEr float64 `json:"start_cider"` // the cross-entropy model's, for reference
}

// scstStage is the self-critical stage of a run on the stage driver: its own model (the best
// cross-entropy model, then trained), trainer, sampling graphs and reward.
type scstStage struct {
	run      *trainRun
	o        SCSTOptions
	st       *scstState
	m        *captioner.Model
	trainer  *gomlxtrain.Trainer
	sample   *model.Exec // K sampled captions per image
	greedy   *model.Exec // the greedy baseline (nil with the mean baseline)
	reward   *metrics.CIDErDScorer
	refs     []*metrics.PreparedRefs // each train image's references, prepared once for reward
	perBatch int                     // images per step
}

func (r *trainRun) scstPath(name string) string {
	return filepath.Join(r.opts.Out, runfolder.SCST, name)
}

// scst runs the self-critical stage after the cross-entropy stage, then leaves the best model
// (by val CIDEr-D, the cross-entropy model included) in RUN/best for the final test.
func (r *trainRun) scst() (*SCSTResult, error) {
	s := &scstStage{run: r, o: r.opts.SCST.withDefaults(r.opts.Model.Encoder)}
	if err := s.start(); err != nil {
		return nil, err
	}
	interrupted, err := r.runStage(s)
	if err != nil {
		return nil, err
	}
	if interrupted {
		return &SCSTResult{Epochs: s.st.Epoch, Elapsed: seconds(s.st.Seconds)}, fmt.Errorf("scst: %w at epoch %d, batch %d; state saved in %s; resume it with -resume -out %s", ErrInterrupted, s.st.Epoch+1, s.st.Batch, filepath.Join(r.opts.Out, runfolder.SCST), r.opts.Out)
	}
	r.logf("scst: best val CIDEr-D %.4f at epoch %d (cross-entropy model: %.4f); the run's model is %s", s.st.BestCIDEr, s.st.BestEpoch, s.st.StartCIDEr, r.path(runfolder.Best))
	return &SCSTResult{Epochs: s.st.Epoch, BestEpoch: s.st.BestEpoch, BestCIDEr: s.st.BestCIDEr, StartCIDEr: s.st.StartCIDEr, Elapsed: seconds(s.st.Seconds)}, nil
}

// start loads the stage's state and model: a fresh stage continues the cross-entropy best
// model (kept as RUN/xe-best) with a new Adam; a resumed one reads scst/last.
func (s *scstStage) start() error {
	s.st = &scstState{}
	data, err := os.ReadFile(s.run.scstPath(runfolder.State))
	fresh := errors.Is(err, fs.ErrNotExist)
	switch {
	case err == nil:
		if err := json.Unmarshal(data, s.st); err != nil {
			return fmt.Errorf("scst: %s is damaged (%v)", s.run.scstPath(runfolder.State), err)
		}
		if s.st.Samples != 0 && (s.st.Samples != s.o.Samples || s.st.Baseline != s.o.Baseline) {
			return fmt.Errorf("scst resume: the stage in %s started with %d samples per image and the %s baseline; resume it with those (-scst-samples %d -scst-baseline %s)",
				s.run.opts.Out, s.st.Samples, s.st.Baseline, s.st.Samples, s.st.Baseline)
		}
		// scst/last holds every variable: the model's, Adam's moments and step, the random state.
		if s.m, err = captioner.LoadModel(s.run.backend, s.run.scstPath(runfolder.Last)); err != nil {
			return fmt.Errorf("scst resume: %w", err)
		}
		s.run.logf("scst: resuming at epoch %d, batch %d", s.st.Epoch+1, s.st.Batch)
	case fresh:
		// xe-best exists when an earlier try of the stage stopped before its first state.json;
		// best/ may then hold that try's model, so the cross-entropy one goes back there.
		from, to := s.run.path(runfolder.Best), s.run.path(runfolder.XEBest)
		if _, err := os.Stat(filepath.Join(to, captioner.VariablesFile)); err == nil {
			from, to = to, from
		}
		if err := copyModel(from, to); err != nil {
			return err
		}
		if s.m, err = captioner.LoadModel(s.run.backend, s.run.path(runfolder.XEBest)); err != nil {
			return err
		}
		s.m.Store.SetParam(model.ParamInitialSeed, int64(s.run.opts.Seed)+1)
		if err := os.MkdirAll(filepath.Join(s.run.opts.Out, runfolder.SCST), 0o755); err != nil {
			return err
		}
	default:
		return err
	}
	if err := s.build(); err != nil {
		return err
	}
	if !fresh { // the learning rate may be changed on resume (-scst-lr); scst/last holds the old one
		if err := SetLearningRate(s.m.Store, s.o.LR); err != nil {
			return fmt.Errorf("scst resume: %w", err)
		}
	}
	if fresh {
		s.st.Samples, s.st.Baseline = s.o.Samples, s.o.Baseline
		cider, bleu, err := s.validate()
		if err != nil {
			return err
		}
		s.st.StartCIDEr, s.st.BestCIDEr = cider, cider
		s.run.logf("scst: the cross-entropy model's val CIDEr-D %.4f (BLEU-4 %.4f); %d samples per image, %s baseline, lr %.2g", cider, bleu, s.o.Samples, s.o.Baseline, s.o.LR)
	}
	return nil
}

// build makes the sampling graphs, the CIDEr-D reward (document frequencies from the train
// references) and the trainer with the SCST loss.
func (s *scstStage) build() error {
	m, k, steps := s.m, s.o.Samples, s.m.Config.MaxLen-1
	cfg := m.Config
	var err error
	s.sample, err = model.NewExec(s.run.backend, m.Store, func(scope *model.Scope, inputs *Node) *Node {
		return decode.SampleCaptions(scope, cfg, inputs, k, steps, false)
	})
	if err != nil {
		return err
	}
	if s.o.Baseline == "greedy" {
		noDropout := *cfg
		noDropout.Dropout = 0
		s.greedy, err = model.NewExec(s.run.backend, m.Store, func(scope *model.Scope, inputs *Node) *Node {
			return decode.SampleCaptions(scope, &noDropout, inputs, 1, steps, true)
		})
		if err != nil {
			return err
		}
	}
	trainRefs := s.run.splits[datasets.Train].refs
	s.reward = metrics.NewCIDErDScorer(trainRefs, metrics.CIDErDOptions{AppendEnd: true})
	s.refs = make([]*metrics.PreparedRefs, len(trainRefs))
	for i, r := range trainRefs {
		s.refs[i] = s.reward.Prepare(r)
	}
	lossFn := func(labels, predictions []*Node) *Node {
		return decoder.SCSTLoss(labels[0], predictions[0], labels[1])
	}
	encoderLR := 0.0 // the encoder's rate keeps its cross-entropy ratio to the decoder's (0: the same)
	if s.run.opts.EncoderLR > 0 && s.run.opts.LR > 0 {
		encoderLR = s.o.LR * s.run.opts.EncoderLR / s.run.opts.LR
	}
	s.trainer = gomlxtrain.NewTrainer(s.run.backend, m.Store, m.ModelFn(), loss.LossFn(lossFn), NewOptimizer(s.o.LR, encoderLR, s.run.opts.GradClip), nil, nil)
	s.perBatch = max(1, s.run.opts.Batch/k)
	return nil
}

func (s *scstStage) name() string             { return "scst" }
func (s *scstStage) progress() *stageProgress { return &s.st.stageProgress }
func (s *scstStage) epochs() int              { return s.o.Epochs }
func (s *scstStage) model() *captioner.Model  { return s.m }
func (s *scstStage) spent(seconds float64)    { s.st.Seconds += seconds }
func (s *scstStage) bar(total int) *progressbar.ProgressBar {
	return progress.New(s.run.opts.Progress, int64(total), fmt.Sprintf("scst %d/%d", s.st.Epoch+1, s.o.Epochs))
}

func (s *scstStage) describe() string {
	return fmt.Sprintf("scst %d/%d reward %.3f", s.st.Epoch+1, s.o.Epochs, s.st.RewardSum/float64(s.st.Batch))
}

// plan cuts the epoch's image order (its own generator, seeded by the run's seed and the
// epoch) into steps of perBatch images; the captions come from sampling, so a batch carries
// none of the references.
func (s *scstStage) plan() ([][]int, func(b int, images []int) preparedBatch) {
	ts := s.run.splits[datasets.Train]
	rng := rand.New(rand.NewPCG(s.run.opts.Seed^0x5c57, uint64(s.st.Epoch)+1))
	order := rng.Perm(len(ts.images))
	batches := make([][]int, len(order)/s.perBatch)
	for b := range batches {
		batches[b] = order[b*s.perBatch : (b+1)*s.perBatch]
	}
	one := make([][]int, len(ts.images)) // makeBatch's caption choice: the first (unused) caption
	for i := range one {
		one[i] = []int{0}
	}
	seed, epoch, maxLen := s.run.opts.Seed, s.st.Epoch, s.m.Config.MaxLen
	return batches, func(b int, images []int) preparedBatch {
		return makeBatch(ts, images, one, 1, maxLen, s.run.imgOpts, augmentRNG(seed, epoch+1000, b))
	}
}

// step samples K captions per image, scores them, and takes one policy-gradient step.
func (s *scstStage) step(pb preparedBatch, idx []int) (loss float64, err error) {
	inputs, k := pb.inputs, s.o.Samples
	in, err := inputs.LocalClone()
	if err != nil {
		return 0, err
	}
	out, err := s.sample.Call(in)
	if err != nil {
		return 0, fmt.Errorf("scst sampling: %w", err)
	}
	captions := hostCopy(out[0]) // the trainer takes it twice (input and label): on the host, not a device buffer
	words, unfinished := decode.SampledWords(s.m.Vocab, captions)
	refs := make([]*metrics.PreparedRefs, len(idx))
	for i, j := range idx {
		refs[i] = s.refs[j]
	}
	rewards := s.reward.ScoreBatchPrepared(words, refs, unfinished)
	var baselines []float64
	if s.greedy != nil {
		in, err := inputs.LocalClone()
		if err != nil {
			return 0, err
		}
		g, err := s.greedy.Call(in)
		if err != nil {
			return 0, fmt.Errorf("scst greedy baseline: %w", err)
		}
		greedyWords, greedyUnfinished := decode.SampledWords(s.m.Vocab, g[0])
		baselines = s.reward.ScoreBatchPrepared(greedyWords, refs, greedyUnfinished)
	}
	adv := Advantages(rewards, k, baselines)
	res, err := s.trainer.TrainStep(gomlxtrain.Batch{Inputs: []*tensors.Tensor{inputs, captions}, Labels: []*tensors.Tensor{captions, tensors.FromValue(adv)}})
	if err != nil {
		return 0, fmt.Errorf("scst step: %w", err)
	}
	l := float64(tensors.ToScalar[float32](res[0]))
	if math.IsNaN(l) || math.IsInf(l, 0) {
		return 0, fmt.Errorf("scst: loss became %v at epoch %d batch %d; lower -scst-lr", l, s.st.Epoch+1, s.st.Batch)
	}
	s.st.LossSum += l
	for _, r := range rewards {
		s.st.RewardSum += r / float64(len(rewards))
	}
	return l, nil
}

// hostCopy is an int32 tensor's values in a new host tensor (and frees t).
func hostCopy(t *tensors.Tensor) *tensors.Tensor {
	c := tensors.FromFlatDataAndDimensions(tensors.MustCopyFlatData[int32](t), t.Shape().Dimensions...)
	t.MustFinalizeAll()
	return c
}

// Advantages turns the rewards of k samples per image (image b's at b·k … b·k+k−1) into
// advantages: reward − baseline, the baseline being baselines[b] (the greedy caption's reward)
// when given, else the mean reward of the image's other k−1 samples (Luo 2020). A reward equal
// for all of an image's samples gives them advantage 0 with the mean baseline.
func Advantages(rewards []float64, k int, baselines []float64) []float32 {
	adv := make([]float32, len(rewards))
	for b := 0; b*k < len(rewards); b++ {
		group := rewards[b*k : (b+1)*k]
		var sum float64
		for _, r := range group {
			sum += r
		}
		for i, r := range group {
			base := 0.0
			if baselines != nil {
				base = baselines[b]
			} else {
				base = (sum - r) / float64(k-1)
			}
			adv[b*k+i] = float32(r - base)
		}
	}
	return adv
}

// validate decodes the val split greedily with the current weights: CIDEr-D and BLEU-4.
func (s *scstStage) validate() (cider, bleu4 float64, err error) {
	s.m.VariablesChanged()
	val := s.run.splits[datasets.Val]
	n := len(val.images)
	if s.run.opts.ValLimit > 0 {
		n = min(n, s.run.opts.ValLimit)
	}
	caps, err := captionSplit(s.m, val, n, decode.Options{SkipAttention: true}, 4*s.perBatch, nil)
	if err != nil {
		return 0, 0, err
	}
	ex := examplesFor(val, caps)
	return metrics.CIDErD(ex), metrics.Bleu(ex)[3], nil
}

// endEpoch validates, records the epoch, keeps the best model in RUN/best and saves scst/last.
func (s *scstStage) endEpoch() error {
	valStart := time.Now()
	cider, bleu, err := s.validate()
	if err != nil {
		return err
	}
	st := s.st
	batches := float64(max(1, st.Batch))
	st.Seconds += time.Since(valStart).Seconds()
	rec := SCSTRecord{Epoch: st.Epoch + 1, Step: optimizer.GetGlobalStep(s.m.Store), Reward: st.RewardSum / batches, Loss: st.LossSum / batches,
		ValCIDEr: cider, ValBLEU4: bleu, Seconds: st.Seconds, StartCIDEr: st.StartCIDEr}
	s.run.logf("scst epoch %d: mean sample reward (CIDEr-D) %.4f, val CIDEr-D %.4f, val BLEU-4 %.4f, %.0f s", rec.Epoch, rec.Reward, cider, bleu, st.Seconds)
	if err := appendJSONLine(s.run.scstPath(runfolder.Metrics), rec); err != nil {
		return err
	}
	if cider > st.BestCIDEr {
		st.BestCIDEr, st.BestEpoch, st.BadEpochs = cider, rec.Epoch, 0
		if err := s.m.Save(s.run.path(runfolder.Best)); err != nil {
			return err
		}
	} else {
		st.BadEpochs++
	}
	st.Epoch++
	st.Batch, st.RewardSum, st.LossSum = 0, 0, 0
	st.Finished = st.Epoch >= s.o.Epochs || (s.o.Patience > 0 && st.BadEpochs >= s.o.Patience)
	return s.saveLast()
}

func (s *scstStage) saveLast() error {
	return saveStage(s.m, filepath.Join(s.run.opts.Out, runfolder.SCST), s.st)
}

// ForkRun copies the finished cross-entropy stage of the run in src into a new run folder dst
// (its options, state, epoch metrics, best/ and last/; the cross-entropy model when src has
// had a self-critical stage), so that resuming dst with SCST enabled adds the stage without
// changing src: `scripts/train -scst-from SRC -out DST`.
func ForkRun(src, dst string) error {
	data, err := os.ReadFile(filepath.Join(src, runfolder.State))
	if err != nil {
		return fmt.Errorf("scst-from: %s holds no run (%w)", src, err)
	}
	var st trainState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("scst-from: %s is damaged (%v)", filepath.Join(src, runfolder.State), err)
	}
	if !st.Finished {
		return fmt.Errorf("scst-from: the cross-entropy stage of %s has not finished; finish it first (scripts/train -resume -out %s)", src, src)
	}
	if _, err := os.Stat(filepath.Join(dst, runfolder.State)); err == nil {
		return fmt.Errorf("scst-from: %s already holds a run (an earlier -scst-from?): continue it with -resume -out %s, or choose another -out", dst, dst)
	}
	best := filepath.Join(src, runfolder.Best)
	if _, err := os.Stat(filepath.Join(src, runfolder.XEBest, captioner.VariablesFile)); err == nil {
		best = filepath.Join(src, runfolder.XEBest)
	}
	for from, to := range map[string]string{best: runfolder.Best, filepath.Join(src, runfolder.Last): runfolder.Last} {
		if err := copyModel(from, filepath.Join(dst, to)); err != nil {
			return err
		}
	}
	for _, name := range []string{runfolder.Options, runfolder.Metrics, runfolder.State} { // state.json last: it makes dst a run
		data, err := os.ReadFile(filepath.Join(src, name))
		if errors.Is(err, fs.ErrNotExist) && name != runfolder.State {
			continue
		}
		if err != nil {
			return fmt.Errorf("scst-from: %w", err)
		}
		if err := atomicfile.WriteFile(filepath.Join(dst, name), data); err != nil {
			return err
		}
	}
	return nil
}

// copyModel copies a model folder's files (config, vocabulary, variables) to dst.
func copyModel(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, name := range []string{captioner.ConfigFile, captioner.VocabFile, captioner.VariablesFile} {
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			return fmt.Errorf("scst: the cross-entropy model: %w", err)
		}
		if err := atomicfile.WriteFile(filepath.Join(dst, name), data); err != nil {
			return err
		}
	}
	return nil
}
