package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/runfolder"
	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/datasets/text"
	"github.com/attncap/attncap/internal/atomicfile"
	"github.com/gomlx/gomlx/ml/model"
	gomlxtrain "github.com/gomlx/gomlx/ml/train"
)

// trainState is what a run folder records beyond the variables, to resume exactly.
type trainState struct {
	stageProgress
	LossSum      float64 `json:"loss_sum"`      // train loss summed over the epoch's batches so far
	BestBLEU     float64 `json:"best_bleu4"`    // best val BLEU-4
	BestEpoch    int     `json:"best_epoch"`    // 1-based, 0: none yet
	BadEpochs    int     `json:"bad_epochs"`    // epochs since the best
	LRBadEpochs  int     `json:"lr_bad_epochs"` // epochs since the best or the last decay
	LR           float64 `json:"lr"`
	TrainImages  int     `json:"train_images"`  // to check that a resumed run sees the same data
	EpochSeconds float64 `json:"epoch_seconds"` // time spent in the current epoch so far
}

// stepPlan is how an epoch is cut into training steps.
type stepPlan struct {
	imagesPerBatch int // images per step (each with CaptionsPerImage captions)
	numBatches     int // steps per epoch
}

// path is a file or folder of the run folder.
func (r *trainRun) path(name string) string { return filepath.Join(r.opts.Out, name) }

// buildModel makes a fresh model, or loads the last checkpoint of the run being resumed.
func (r *trainRun) buildModel() error {
	r.state = &trainState{}
	build := r.freshModel
	if r.opts.Resume {
		build = r.resumedModel
	}
	if err := build(); err != nil {
		return err
	}
	cfg := r.m.Config
	r.logf("model: %s encoder (%s), %d×%d images, vocabulary %d, captions ≤ %d tokens, %s decoder (%s)",
		cfg.Encoder, orNone(cfg.Weights), cfg.ImageSize, cfg.ImageSize, cfg.VocabSize, cfg.MaxLen, cfg.DecoderName(), cfg.DecoderSizes())
	if cfg.DType == captioner.DTypeBFloat16 {
		r.logf("compute in bfloat16 with float32 variables, Adam moments, softmaxes, layer norms and loss (-dtype bfloat16)")
	}
	return nil
}

// freshModel builds the vocabulary from the train split and a model with its initial weights.
func (r *trainRun) freshModel() error {
	if _, err := os.Stat(r.path(runfolder.State)); err == nil {
		return fmt.Errorf("train: %s already holds a run; pass -resume to continue it or choose another -out", r.opts.Out)
	}
	if r.opts.Init != "" {
		return r.initModel()
	}
	vocab, err := r.ds.BuildVocab(r.opts.MinCount)
	if err != nil {
		return err
	}
	cfg := r.opts.Model
	cfg.MaxLen = min(cfg.MaxLen, longestCaption(r.ds)+2)
	if r.m, err = captioner.NewModel(r.backend, cfg, vocab); err != nil {
		return err
	}
	r.m.Store.SetParam(model.ParamInitialSeed, int64(r.opts.Seed))
	if err := r.m.LoadEncoderWeights(); err != nil {
		return err
	}
	r.state.LR = r.opts.LR
	return nil
}

// initModel starts from the model folder opts.Init: its config (but the run's fine-tuning and
// compute dtype), vocabulary and weights, the encoder's included (Config.Weights is not
// reloaded over them).
func (r *trainRun) initModel() error {
	m, err := captioner.OpenModel(r.backend, r.opts.Init)
	if err != nil {
		return fmt.Errorf("train -init: %w", err)
	}
	m.Config.FineTuneFrom, m.Config.DType = r.opts.Model.FineTuneFrom, r.opts.Model.DType
	if err := m.Config.Validate(); err != nil {
		return fmt.Errorf("train -init %s: %w", r.opts.Init, err)
	}
	m.Store.SetParam(model.ParamInitialSeed, int64(r.opts.Seed))
	var tokenized [][]string
	for _, ex := range r.ds.Split(datasets.Train) {
		for _, c := range ex.Captions {
			tokenized = append(tokenized, text.Tokenize(c))
		}
	}
	unknown, total := m.Vocab.CountUnknown(tokenized)
	r.logf("-init %s: %s model, vocabulary %d (%.1f%% of the training words are not in it and map to <unk>)",
		r.opts.Init, orNone(m.Config.Source), m.Vocab.Size(), 100*float64(unknown)/float64(max(1, total)))
	r.m, r.initWeights = m, filepath.Join(m.Dir(), captioner.VariablesFile)
	r.state.LR = r.opts.LR
	return nil
}

// resumedModel reads the run's state, checks the options against the run's own and loads the
// last checkpoint.
func (r *trainRun) resumedModel() error {
	data, err := os.ReadFile(r.path(runfolder.State))
	if err != nil {
		return fmt.Errorf("resume: %w (no run to resume in %s)", err, r.opts.Out)
	}
	if err := json.Unmarshal(data, r.state); err != nil {
		return fmt.Errorf("resume: %s is damaged (%v); start a new run in another -out", r.path(runfolder.State), err)
	}
	if r.state.Finished && !r.opts.SCST.Enabled {
		return fmt.Errorf("resume: the run in %s already finished (-scst -resume adds the self-critical stage to it)", r.opts.Out)
	}
	if r.state.Finished {
		scstDone, err := runfolder.SCSTFinished(r.opts.Out)
		if err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		if scstDone {
			return fmt.Errorf("resume: the run in %s already finished, its self-critical stage too", r.opts.Out)
		}
	}
	if err := r.checkResumedOptions(); err != nil {
		return err
	}
	if r.m, err = captioner.LoadModel(r.backend, r.path(runfolder.Last)); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	r.logf("resuming %s at epoch %d, batch %d", r.opts.Out, r.state.Epoch+1, r.state.Batch)
	return nil
}

// checkResumedOptions compares the options with those the run was started with (options.json).
func (r *trainRun) checkResumedOptions() error {
	saved, err := LoadRunOptions(r.opts.Out)
	if errors.Is(err, fs.ErrNotExist) {
		r.logf("warning: %s has no %s (a run from an older attncap): the flags cannot be checked against the run's; "+
			"the model's sizes come from its checkpoint", r.opts.Out, runfolder.Options)
		return nil
	}
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	refused, changed := CompareOptions(saved, r.opts)
	for _, c := range changed {
		r.logf("resume: %s", c)
	}
	if len(refused) > 0 {
		return &ResumeOptionsError{Run: r.opts.Out, Differences: refused}
	}
	return nil
}

// startTrainer sets up the optimizer (with a resumed run's state), saves a fresh run's model
// folder and options, and plans the steps of an epoch.
func (r *trainRun) startTrainer() error {
	if err := os.MkdirAll(r.opts.Out, 0o755); err != nil {
		return err
	}
	m := r.m
	r.trainer = gomlxtrain.NewTrainer(r.backend, m.Store, m.ModelFn(), m.LossFn(), NewOptimizer(r.opts.LR, r.opts.EncoderLR, r.opts.GradClip), nil, nil)
	if r.opts.Resume {
		if err := captioner.LoadVariables(m.Store, filepath.Join(r.path(runfolder.Last), captioner.VariablesFile)); err != nil { // optimizer state too
			return fmt.Errorf("resume: %w", err)
		}
	}
	if err := SetLearningRate(m.Store, r.state.LR); err != nil {
		return err
	}
	if !r.opts.Resume {
		if err := m.Save(r.path(runfolder.Best)); err != nil { // config and vocabulary from the start
			return err
		}
	}
	if err := atomicfile.WriteJSON(r.path(runfolder.Options), r.opts); err != nil { // a resumed run's may differ only in safe options
		return err
	}
	nTrain := len(r.splits[datasets.Train].images)
	r.steps.imagesPerBatch = max(1, r.opts.Batch/r.opts.CaptionsPerImage)
	r.steps.numBatches = nTrain / r.steps.imagesPerBatch
	if r.steps.numBatches == 0 {
		r.steps = stepPlan{imagesPerBatch: nTrain, numBatches: 1}
	}
	r.imgOpts = m.ImageOptions()
	r.imgOpts.RandomCrop, r.imgOpts.Flip = r.opts.Crop && !r.frozen, r.opts.Flip && !r.frozen
	return nil
}

// saveLast writes RUN/last and RUN/state.json: everything needed to resume.
func (r *trainRun) saveLast() error { return saveStage(r.m, r.opts.Out, r.state) }
