package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decode"
	"github.com/attncap/attncap/captioner/metrics"
	"github.com/attncap/attncap/captioner/runfolder"
	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/datasets/text"
	"github.com/attncap/attncap/internal/atomicfile"
	"github.com/gomlx/compute"
	gomlxtrain "github.com/gomlx/gomlx/ml/train"
)

// TrainOptions configure Train. Zero values take the defaults of DefaultTrainOptions.
//
// The options that shape what training computes are saved in the run folder (options.json)
// and checked on Resume: the struct tag `flag` names the command-line flag of each (see
// scripts/train), and `resume:"safe"` marks those that may change when a run is resumed.
type TrainOptions struct {
	Data         string `json:"data" flag:"data" help:"dataset: Flickr8k-layout folder, Kaggle folder, Karpathy/COCO .json, or shapes (built-in synthetic set)"` // dataset folder, Karpathy/COCO .json, or "shapes"
	Images       string `json:"images" flag:"images" help:"image folder, when it is not where the dataset layout puts it"`                                       // image folder for .json datasets
	AllowMissing bool   `json:"allow_missing" flag:"allow-missing" help:"drop images that are listed but missing on disk"`

	Model    captioner.Config `json:"model"`                                                                                   // encoder, weights, fine-tuning, image size, model sizes (VocabSize and MaxLen are derived)
	MinCount int              `json:"min_count" flag:"min-count" help:"words seen fewer times in train captions map to <unk>"` // vocabulary: words seen fewer times in train captions map to <unk>
	// Init starts the run from a model folder's weights and vocabulary (captioner.OpenModel:
	// a model or run folder, hf:OWNER/REPO): an imported model (scripts/convert) or attncap's
	// own. Its config replaces Model except FineTuneFrom and DType; MinCount is not used.
	Init string `json:"init,omitempty" flag:"init" help:"start from this model folder's weights and vocabulary (an imported model or attncap's own; its config replaces the model flags except -finetune and -dtype)"`

	Batch            int                           `json:"batch" flag:"batch" help:"captions per training step"`                                                                                                                                                   // captions per training step
	CaptionsPerImage int                           `json:"captions_per_image"`                                                                                                                                                                                     // captions of each image in a step (its image is encoded once)
	Epochs           int                           `json:"epochs" flag:"epochs" help:"maximum epochs of cross-entropy training" resume:"safe"`                                                                                                                     // at most this many epochs
	LR               float64                       `json:"lr" flag:"lr" help:"Adam learning rate"`                                                                                                                                                                 // Adam learning rate
	EncoderLR        float64                       `json:"encoder_lr" flag:"encoder-lr" help:"learning rate of fine-tuned encoder stages (0: -lr)"`                                                                                                                // learning rate of fine-tuned encoder stages (0: LR)
	LRSchedule       string                        `json:"lr_schedule,omitempty" flag:"lr-schedule" help:"cross-entropy learning-rate schedule: plateau (×0.5 after 2 epochs without a better val BLEU-4; empty means plateau) or cosine (annealed over -epochs)"` // "plateau" ("": LRDecay/LRPatience) or "cosine" (LR·½(1+cos(π·e/Epochs)) in epoch e, from 0)
	LRDecay          float64                       `json:"lr_decay"`                                                                                                                                                                                               // plateau: LR ×= LRDecay after LRPatience epochs without a better val BLEU-4
	LRPatience       int                           `json:"lr_patience"`                                                                                                                                                                                            //
	Patience         int                           `json:"patience" flag:"patience" help:"stop after this many epochs without a better val BLEU-4" resume:"safe"`                                                                                                  // stop after this many epochs without a better val BLEU-4
	GradClip         float64                       `json:"grad_clip"`                                                                                                                                                                                              // clip gradients to this global norm (0: off)
	Beam             int                           `json:"beam" flag:"beam" help:"beam width for validation decoding (1: greedy)"`                                                                                                                                 // beam width for validation decoding (1: greedy)
	TestBeam         int                           `json:"test_beam" flag:"test-beam" help:"beam width for the final test evaluation" resume:"safe"`                                                                                                               // beam width for the final test evaluation
	Crop             bool                          `json:"crop"`                                                                                                                                                                                                   // random crops when the encoder is trained
	Flip             bool                          `json:"flip" flag:"flip" help:"random horizontal flips when the encoder is trained (wrong for captions that say left/right)"`                                                                                   // random flips when the encoder is trained (contradicts left/right captions)
	Seed             uint64                        `json:"seed" flag:"seed" help:"random seed (initialisation, data order, dropout, augmentation)"`                                                                                                                //
	ValLimit         int                           `json:"val_limit"`                                                                                                                                                                                              // decode at most this many val images per epoch (0: all)
	NoValidation     bool                          `json:"no_validation" flag:"no-val" help:"train without validation (for a dataset without a val split): constant learning rate, no early stop, the last epoch's model is kept"`                                 // train without a val split: no LR decay, no early stop, the last epoch's model is kept
	NoTest           bool                          `json:"no_test" flag:"no-test" help:"skip the final test (for a dataset without a test split)" resume:"safe"`                                                                                                   // skip the final test (allowed without a test split)
	SCST             SCSTOptions                   `json:"scst"`                                                                                                                                                                                                   // the self-critical stage after cross-entropy (off unless Enabled)
	RebuildFeatures  bool                          `json:"-" flag:"rebuild-features" help:"recompute the cached encoder features instead of reusing them"`                                                                                                         // recompute cached encoder features
	Meteor           MeteorChoice                  `json:"-"`                                                                                                                                                                                                      // METEOR in the final test (reporting only)
	CacheDir         string                        `json:"-"`                                                                                                                                                                                                      // feature cache ("" : the user cache folder)
	Out              string                        `json:"-"`                                                                                                                                                                                                      // run folder
	Resume           bool                          `json:"-"`                                                                                                                                                                                                      // continue the run in Out exactly where it stopped
	Progress         io.Writer                     `json:"-"`                                                                                                                                                                                                      // progress bars (nil: none)
	Logf             func(format string, a ...any) `json:"-"`                                                                                                                                                                                                      // one line per event (nil: silent)
	OnStep           func(StepInfo)                `json:"-"`                                                                                                                                                                                                      // after every training step (nil: none)
	OnEpoch          func(EpochRecord)             `json:"-"`                                                                                                                                                                                                      // after every epoch's validation (nil: none)
}

// MeteorChoice says how the final test computes METEOR 1.5 (see metrics.LoadMeteor).
type MeteorChoice struct {
	Off        bool   // no METEOR
	Data       string // data folder ("": $ATTNCAP_METEOR_DATA, else the cache, downloading on first use)
	Paraphrase string // paraphrase table ("": paraphrase-en.gz in the data folder, if there)
}

// StepInfo describes a finished training step, for OnStep.
type StepInfo struct {
	Stage                 string // "cross-entropy" or "scst"
	Epoch, Batch, Batches int    // 1-based epoch of the stage; batch just done (1-based) of Batches
	Loss                  float64
	Step                  int64 // the stage's optimizer step (the SCST stage counts from 1 again)
}

// DefaultTrainOptions returns the defaults for an encoder: Adam at 1e-3 decayed ×0.5 after 2
// epochs without a better val BLEU-4, stop after 4, 64 captions per step, embedding and
// hidden 512, gradients clipped at norm 5, greedy validation and beam 3 at test. The tiny
// encoder (trained from scratch, for synthetic data) gets 64-pixel images, a smaller decoder
// and a schedule that fits in minutes on two CPU cores.
func DefaultTrainOptions(encoder string) TrainOptions {
	return DefaultTrainOptionsFor(encoder, captioner.DecoderLSTM)
}

// DefaultTrainOptionsFor returns the defaults for an encoder and a decoder (captioner.DefaultConfigFor):
// the LSTM's are DefaultTrainOptions'; the Transformer trains with the same schedule at Adam
// 5e-4 (1e-3 for the tiny encoder), see docs/decoders.md.
func DefaultTrainOptionsFor(encoder, decoder string) TrainOptions {
	o := TrainOptions{
		Model: captioner.DefaultConfigFor(encoder, decoder), MinCount: text.DefaultMinCount,
		Batch: 64, CaptionsPerImage: 5, Epochs: 30, LR: 1e-3, LRDecay: 0.5, LRPatience: 2, Patience: 4,
		GradClip: 5, Beam: 1, TestBeam: 3, Crop: true, Seed: 1, ValLimit: 0,
	}
	if encoder == "tiny" {
		o.Epochs, o.Patience = 8, 4
	}
	o.LR = captioner.DefaultLR(encoder, decoder)
	o.SCST = DefaultSCSTOptions(encoder)
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
	Epochs      int                   // epochs completed
	BestEpoch   int                   // epoch of the best val BLEU-4 (1-based; the last epoch without validation)
	BestValBLEU float64               // its val BLEU-4 (0 without validation)
	Test        metrics.Scores        // scores of the best checkpoint on the test split
	Tested      bool                  // whether Test holds scores (false with NoTest)
	Objects     *metrics.ObjectScores // object accuracy on the test split (nil: no shapes ground truth; decode.ObjectAccuracy)
	Samples     []Sample              // a few test captions
	Interrupted bool                  // stopped by the context (state saved; resume with Resume)
	Elapsed     time.Duration         // training time, all sessions of the run together
	SCST        *SCSTResult           // the self-critical stage (nil without SCST.Enabled)
	Backend     compute.Backend       // where it ran
}

// SCSTResult summarises the self-critical stage of a run.
type SCSTResult struct {
	Epochs     int           // SCST epochs completed
	BestEpoch  int           // epoch of the best val CIDEr-D (0: the cross-entropy model stayed best)
	BestCIDEr  float64       // its val CIDEr-D (greedy decoding)
	StartCIDEr float64       // the cross-entropy model's val CIDEr-D
	Elapsed    time.Duration // the stage's time, validation included, all sessions together
}

// ErrInterrupted is returned (wrapped) when the context stops training; the run was saved.
var ErrInterrupted = errors.New("training interrupted")

// EpochRecord is one line of metrics.jsonl. ValLoss and ValBLEU4 are nil (absent from the
// line) when the run trains without validation.
type EpochRecord struct {
	Epoch     int      `json:"epoch"`
	Step      int64    `json:"step"`
	TrainLoss float64  `json:"train_loss"`
	ValLoss   *float64 `json:"val_loss,omitempty"`
	ValBLEU4  *float64 `json:"val_bleu4,omitempty"`
	LR        float64  `json:"lr"`
	Seconds   float64  `json:"seconds"`
}

// trainRun is one call of Train: what each stage reads and leaves for the next.
type trainRun struct {
	ctx     context.Context
	backend compute.Backend
	opts    TrainOptions
	logf    func(format string, a ...any)

	meteor  *metrics.Meteor               // loadMeteor (nil: no METEOR)
	ds      *datasets.Dataset             // loadData
	m       *captioner.Model              // buildModel
	state   *trainState                   // buildModel
	splits  map[datasets.Split]*splitData // prepareSplits
	frozen  bool                          // prepareSplits: encoder not trained, features cached
	trainer *gomlxtrain.Trainer           // startTrainer
	// initWeights is the -init model folder's variables file, which the encoder came from.
	initWeights string
	steps       stepPlan              // startTrainer
	imgOpts     datasets.ImageOptions // startTrainer
}

// Train trains a captioner, in stages each a method of trainRun:
//
//  1. loadData: the dataset, checked to have the splits the run needs;
//  2. buildModel: a fresh model (vocabulary from the train split) or, with Resume, the run's
//     last checkpoint, after checking the options against the run's saved ones;
//  3. prepareSplits: encoded captions, and encoder features cached once when the encoder is frozen;
//  4. startTrainer: Adam (NewOptimizer), the optimizer state of a resumed run, the step plan;
//  5. the cross-entropy stage (xe.go) on the stage driver (stage.go): epochs of steps, each
//     ended by validation (decoding the val split), model selection, LR schedule, RUN/last;
//  6. with SCST.Enabled, the self-critical stage (scst.go) on the same driver: the best
//     cross-entropy model trained on the CIDEr-D of its sampled captions; RUN/best becomes the
//     best model by val CIDEr-D;
//  7. finalTest: the best model decoded on the test split with TestBeam.
//
// It writes RUN/best (the best model), RUN/last (everything needed to resume), RUN/state.json,
// RUN/options.json and a line of RUN/metrics.jsonl per epoch. When ctx is cancelled it saves
// RUN/last at the current step and returns an error wrapping ErrInterrupted; Resume continues
// exactly (same steps, optimizer state and data order).
func Train(ctx context.Context, backend compute.Backend, opts TrainOptions) (*TrainResult, error) {
	r := &trainRun{ctx: ctx, backend: backend, opts: opts, logf: opts.Logf}
	if r.logf == nil {
		r.logf = func(string, ...any) {}
	}
	for _, stage := range []func() error{r.checkOptions, r.loadMeteor, r.loadData, r.buildModel, r.prepareSplits, r.startTrainer} {
		if err := stage(); err != nil {
			return nil, err
		}
	}
	res := &TrainResult{Backend: backend}
	interrupted, err := r.runStage(xeStage{r})
	if err != nil {
		return nil, err
	}
	if interrupted {
		res.Interrupted, res.Epochs, res.Elapsed = true, r.state.Epoch, seconds(r.state.Seconds)
		return res, fmt.Errorf("%w at epoch %d, batch %d; state saved in %s; resume it with -resume (TrainOptions.Resume)", ErrInterrupted, r.state.Epoch+1, r.state.Batch, r.opts.Out)
	}
	res.Epochs, res.BestEpoch, res.BestValBLEU, res.Elapsed = r.state.Epoch, r.state.BestEpoch, r.state.BestBLEU, seconds(r.state.Seconds)
	if r.opts.SCST.Enabled {
		if res.SCST, err = r.scst(); err != nil {
			if errors.Is(err, ErrInterrupted) {
				res.Interrupted = true
				return res, err
			}
			return nil, err
		}
	}
	if err := r.finalTest(res); err != nil {
		return nil, err
	}
	return res, nil
}

// checkOptions rejects options that cannot train, before anything is read.
func (r *trainRun) checkOptions() error {
	o := r.opts
	if o.Out == "" {
		return fmt.Errorf("train: no run folder (-out)")
	}
	if o.LRSchedule != "" && o.LRSchedule != LRPlateau && o.LRSchedule != LRCosine {
		return fmt.Errorf("train: -lr-schedule %q: want plateau (the default) or cosine", o.LRSchedule)
	}
	if o.Batch < 1 || o.CaptionsPerImage < 1 || o.Epochs < 1 {
		return fmt.Errorf("train: batch (%d), captions per image (%d) and epochs (%d) must be positive", o.Batch, o.CaptionsPerImage, o.Epochs)
	}
	if err := o.Model.ValidateDecoder(); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := o.Model.ValidateDType(); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return CheckSCSTOptions(o)
}

// loadMeteor loads METEOR's data for the final test before training starts. Data that was
// named and cannot be read stops the run; the default data that cannot be downloaded (offline)
// only drops METEOR from the test, with a warning saying how to get it.
func (r *trainRun) loadMeteor() error {
	c := r.opts.Meteor
	if c.Off || r.opts.NoTest {
		return nil
	}
	m, missing, err := metrics.LoadMeteorIfAvailable(metrics.MeteorOptions{DataDir: c.Data, Paraphrase: c.Paraphrase, Progress: r.opts.Progress})
	switch {
	case err != nil:
		return fmt.Errorf("train: %w", err)
	case missing != nil:
		r.logf("warning: the final test goes without METEOR: %v (give -meteor-data DIR, or -meteor=false)", missing)
	default:
		r.meteor = m
		r.logf("final test with %s", m.Name())
	}
	return nil
}

// finalTest decodes the test split with the best model and scores it.
func (r *trainRun) finalTest(res *TrainResult) error {
	test := r.splits[datasets.Test]
	if r.opts.NoTest {
		r.logf("no final test (-no-test)")
		return nil
	}
	best, err := captioner.LoadModel(r.backend, r.path(runfolder.Best))
	if err != nil {
		return err
	}
	caps, err := captionSplit(best, test, len(test.images), decode.Options{Beam: r.opts.TestBeam, SkipAttention: true}, r.steps.imagesPerBatch, r.opts.Progress)
	if err != nil {
		return err
	}
	if res.Test, err = metrics.EvaluateWith(examplesFor(test, caps), r.meteor); err != nil {
		return err
	}
	if w := metrics.CIDErWarning(len(caps)); w != "" {
		r.logf("warning: test %s", w)
	}
	res.Objects = r.testObjectAccuracy(test.images, caps)
	res.Tested = true
	for i := 0; i < min(5, len(caps)); i++ {
		res.Samples = append(res.Samples, Sample{Image: test.images[i], Caption: strings.Join(caps[i].Words, " "), References: test.raw[i]})
	}
	return atomicfile.WriteJSON(r.path(runfolder.TestMetrics), metrics.ScoreReport{Scores: res.Test, Objects: res.Objects})
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func orNone(s string) string {
	if s == "" {
		return "trained from scratch"
	}
	return s
}

// testObjectAccuracy is the final test's object accuracy, when the run's dataset has shapes
// ground truth (nil otherwise). A ground truth that cannot be used is a warning, not an error:
// the run and its other test scores are kept, and scripts/evaluate can judge the model later.
func (r *trainRun) testObjectAccuracy(images []string, caps []decode.Caption) *metrics.ObjectScores {
	path, err := datasets.ResolveData(r.opts.Data)
	var file string
	if err == nil {
		file, err = datasets.EnsureShapesObjects(path)
	}
	var s *metrics.ObjectScores
	if err == nil {
		s, _, err = decode.ObjectAccuracy(file, images, caps)
	}
	if err != nil {
		r.logf("warning: the final test goes without object accuracy: %v", err)
		return nil
	}
	return s
}
