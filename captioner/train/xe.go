package train

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decode"
	"github.com/attncap/attncap/captioner/metrics"
	"github.com/attncap/attncap/captioner/runfolder"
	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/datasets/text"
	"github.com/attncap/attncap/internal/progress"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	gomlxtrain "github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/schollz/progressbar/v3"
)

// epochOrder draws the epoch's image order and the captions each image uses, from a generator
// seeded by (seed, epoch): a resumed run draws the same.
func (r *trainRun) epochOrder() (order []int, choice [][]int) {
	ts := r.splits[datasets.Train]
	rng := rand.New(rand.NewPCG(r.opts.Seed, uint64(r.state.Epoch)+1))
	order = rng.Perm(len(ts.images))
	choice = make([][]int, len(ts.images))
	for i, caps := range ts.captions {
		choice[i] = pickCaptions(rng, len(caps), r.opts.CaptionsPerImage)
	}
	return order, choice
}

// xeStage is the cross-entropy stage of a run on the stage driver: teacher-forced steps on the
// caption loss, validation by decoding the val split, model selection by val BLEU-4.
type xeStage struct{ r *trainRun }

func (s xeStage) name() string             { return "cross-entropy" }
func (s xeStage) progress() *stageProgress { return &s.r.state.stageProgress }
func (s xeStage) epochs() int              { return s.r.opts.Epochs }
func (s xeStage) model() *captioner.Model  { return s.r.m }
func (s xeStage) saveLast() error          { return s.r.saveLast() }
func (s xeStage) endEpoch() error          { return s.r.endEpoch() }
func (s xeStage) bar(total int) *progressbar.ProgressBar {
	return newEpochBar(s.r.opts.Progress, total, s.r.state.Epoch+1, s.r.opts.Epochs)
}

func (s xeStage) describe() string {
	st := s.r.state
	return fmt.Sprintf("epoch %d/%d loss %.3f", st.Epoch+1, s.r.opts.Epochs, st.LossSum/float64(st.Batch))
}

func (s xeStage) spent(seconds float64) {
	s.r.state.EpochSeconds += seconds
	s.r.state.Seconds += seconds
}

// plan cuts the epoch's image order (epochOrder) into steps of imagesPerBatch images, each with
// the CaptionsPerImage captions the epoch drew for it.
func (s xeStage) plan() ([][]int, func(b int, images []int) preparedBatch) {
	r := s.r
	order, choice := r.epochOrder()
	per := r.steps.imagesPerBatch
	batches := make([][]int, r.steps.numBatches)
	for b := range batches {
		batches[b] = order[b*per : (b+1)*per]
	}
	ts, epoch := r.splits[datasets.Train], r.state.Epoch
	return batches, func(b int, images []int) preparedBatch {
		return makeBatch(ts, images, choice, r.opts.CaptionsPerImage, r.m.Config.MaxLen, r.imgOpts, augmentRNG(r.opts.Seed, epoch, b))
	}
}

// step runs one training step and accounts its loss.
func (s xeStage) step(pb preparedBatch, _ []int) (float64, error) {
	st := s.r.state
	out, err := s.r.trainer.TrainStep(gomlxtrain.Batch{Inputs: []*tensors.Tensor{pb.inputs, pb.captions}, Labels: []*tensors.Tensor{pb.captions}})
	if err != nil {
		return 0, fmt.Errorf("train step: %w", err)
	}
	loss := float64(tensors.ToScalar[float32](out[0]))
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return 0, fmt.Errorf("train: loss became %v at epoch %d batch %d; lower -lr or -grad-clip", loss, st.Epoch+1, st.Batch)
	}
	st.LossSum += loss
	return loss, nil
}

// endEpoch validates the epoch's model (unless NoValidation), records the epoch, selects the
// best model, decays the learning rate or stops early, and saves RUN/last.
func (r *trainRun) endEpoch() error {
	st := r.state
	valStart := time.Now()
	rec := EpochRecord{Epoch: st.Epoch + 1, Step: optimizer.GetGlobalStep(r.m.Store), TrainLoss: st.LossSum / float64(max(1, st.Batch)), LR: st.LR}
	if !r.opts.NoValidation {
		r.m.VariablesChanged()
		valLoss, valBLEU, err := validate(r.m, r.splits[datasets.Val], r.steps.imagesPerBatch, r.opts)
		if err != nil {
			return err
		}
		rec.ValLoss, rec.ValBLEU4 = &valLoss, &valBLEU
	}
	rec.Seconds = st.EpochSeconds + time.Since(valStart).Seconds()
	st.Seconds += time.Since(valStart).Seconds()
	r.logEpoch(rec)
	if err := appendJSONLine(r.path(runfolder.Metrics), rec); err != nil {
		return err
	}
	if r.opts.OnEpoch != nil {
		r.opts.OnEpoch(rec)
	}
	stop, err := r.selectModel(rec)
	if err != nil {
		return err
	}
	st.Batch, st.LossSum, st.EpochSeconds = 0, 0, 0
	st.Epoch++
	st.Finished = stop || st.Epoch >= r.opts.Epochs
	if r.opts.LRSchedule == LRCosine && !st.Finished {
		st.LR = CosineLR(r.opts.LR, st.Epoch, r.opts.Epochs)
		if err := SetLearningRate(r.m.Store, st.LR); err != nil {
			return err
		}
	}
	return r.saveLast()
}

// The learning-rate schedules of the cross-entropy stage (TrainOptions.LRSchedule).
const (
	// LRPlateau multiplies the rate by LRDecay after LRPatience epochs without a better val
	// BLEU-4 (the default).
	LRPlateau = "plateau"
	// LRCosine anneals the rate over the run's epochs (CosineLR), whatever validation says:
	// a fixed budget ends on a small rate instead of on a noisy iterate.
	LRCosine = "cosine"
)

// CosineLR is the cosine schedule's rate in epoch e (0-based) of n: lr·½(1 + cos(π·e/n)), set
// once per epoch (Loshchilov & Hutter 2017, "SGDR", without restarts): lr in the first epoch,
// lr·½(1+cos(π/14)) ≈ 0.013·lr in the last of 14.
func CosineLR(lr float64, e, n int) float64 {
	return lr * 0.5 * (1 + math.Cos(math.Pi*float64(e)/float64(n)))
}

func (r *trainRun) logEpoch(rec EpochRecord) {
	if rec.ValBLEU4 == nil {
		r.logf("epoch %d: train loss %.4f, no validation, lr %.2g, %.0f s", rec.Epoch, rec.TrainLoss, rec.LR, rec.Seconds)
		return
	}
	r.logf("epoch %d: train loss %.4f, val loss %.4f, val BLEU-4 %.4f, lr %.2g, %.0f s", rec.Epoch, rec.TrainLoss, *rec.ValLoss, *rec.ValBLEU4, rec.LR, rec.Seconds)
}

// selectModel keeps the epoch's model as RUN/best when its val BLEU-4 is the best so far (every
// epoch's, without validation), and otherwise counts the epoch towards LR decay and early
// stopping. It says whether training should stop.
func (r *trainRun) selectModel(rec EpochRecord) (stop bool, err error) {
	st, o := r.state, r.opts
	if rec.ValBLEU4 == nil || *rec.ValBLEU4 > st.BestBLEU || st.BestEpoch == 0 {
		if rec.ValBLEU4 != nil {
			st.BestBLEU = *rec.ValBLEU4
		}
		st.BestEpoch, st.BadEpochs, st.LRBadEpochs = rec.Epoch, 0, 0
		return false, r.m.Save(r.path(runfolder.Best))
	}
	st.BadEpochs++
	st.LRBadEpochs++
	if o.LRSchedule != LRCosine && o.LRPatience > 0 && st.LRBadEpochs >= o.LRPatience && o.LRDecay > 0 && o.LRDecay < 1 {
		st.LR *= o.LRDecay
		st.LRBadEpochs = 0
		if err := SetLearningRate(r.m.Store, st.LR); err != nil {
			return false, err
		}
		r.logf("val BLEU-4 has not improved for %d epochs: learning rate now %.2g", o.LRPatience, st.LR)
	}
	if o.Patience > 0 && st.BadEpochs >= o.Patience {
		r.logf("val BLEU-4 has not improved for %d epochs: stopping", st.BadEpochs)
		return true, nil
	}
	return false, nil
}

// validate computes the val split's teacher-forced loss (cross-entropy per real token) and
// the BLEU-4 of its decoded captions.
func validate(m *captioner.Model, val *splitData, imagesPerBatch int, opts TrainOptions) (loss, bleu4 float64, err error) {
	if len(val.images) == 0 {
		return 0, 0, fmt.Errorf("validation: the val split is empty")
	}
	exec, err := model.NewExec(m.Backend, m.Store, func(scope *model.Scope, inputs []*Node) *Node {
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
	caps, err := captionSplit(m, val, n, decode.Options{Beam: opts.Beam, SkipAttention: true}, 4*imagesPerBatch, nil)
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

func newEpochBar(w io.Writer, images, epoch, epochs int) *progressbar.ProgressBar {
	return progress.New(w, int64(images), fmt.Sprintf("epoch %d/%d", epoch, epochs),
		progressbar.OptionShowIts(), progressbar.OptionSetItsString("img"), progressbar.OptionSetWidth(25))
}
