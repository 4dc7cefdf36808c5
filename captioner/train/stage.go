package train

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/runfolder"
	"github.com/attncap/attncap/internal/atomicfile"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/schollz/progressbar/v3"
)

// The stage driver: the cross-entropy stage (xe.go) and the self-critical stage (scst.go) are
// both epochs of steps over the train split, interruptible between two steps, resumable at the
// step where they stopped, with a progress bar, a line of metrics per epoch and the stage's
// last checkpoint and state saved after each. runStage does that once for both; a stage says
// how it cuts an epoch into batches, what a step is, and what ends an epoch.

// stageProgress is where a stage stands; each stage's state.json holds it (embedded, so the
// file keeps its fields "epoch", "batch", "seconds" and "finished").
type stageProgress struct {
	Epoch    int     `json:"epoch"`   // current epoch, 0-based
	Batch    int     `json:"batch"`   // next batch of that epoch
	Seconds  float64 `json:"seconds"` // training time so far, validation included
	Finished bool    `json:"finished"`
}

// stage is one training stage on the driver.
type stage interface {
	// name is the stage's StepInfo.Stage ("cross-entropy", "scst").
	name() string
	// progress is the stage's position, saved in its state.
	progress() *stageProgress
	// epochs is how many epochs the stage trains at most.
	epochs() int
	// plan cuts the current epoch into batches of train-image indices (the same cut again when
	// a resumed run re-plans it) and returns a function that loads batch b.
	plan() (batches [][]int, load func(b int, images []int) preparedBatch)
	// step trains on one batch and returns its loss.
	step(b preparedBatch, images []int) (loss float64, err error)
	// bar is the progress bar of an epoch of total images; describe its text after a step.
	bar(total int) *progressbar.ProgressBar
	describe() string
	// spent adds the epoch's training seconds (steps, not validation) to the stage's state.
	spent(seconds float64)
	// endEpoch validates, records the epoch, selects the model, sets Finished when the stage is
	// done, and saves the stage (saveLast).
	endEpoch() error
	// saveLast saves what resuming the stage needs: its last checkpoint and state.
	saveLast() error
	// model is the model the stage trains.
	model() *captioner.Model
}

// runStage trains s until it finishes or the context ends; interrupted says the context ended
// it (the stage was saved at the step it reached).
func (r *trainRun) runStage(s stage) (interrupted bool, err error) {
	for p := s.progress(); !p.Finished && p.Epoch < s.epochs(); {
		interrupted, err := r.stageEpoch(s)
		if err != nil {
			return false, err
		}
		if interrupted {
			if err := s.saveLast(); err != nil {
				return true, fmt.Errorf("train: interrupted, and saving failed: %w", err)
			}
			return true, nil
		}
		if err := s.endEpoch(); err != nil {
			return false, err
		}
	}
	return false, nil
}

// stageEpoch trains on the rest of the current epoch's batches, preparing them ahead of the
// steps (prefetch). It returns interrupted = true when the context was cancelled between two
// steps (the progress then names the next batch).
func (r *trainRun) stageEpoch(s stage) (interrupted bool, err error) {
	p := s.progress()
	start := time.Now()
	batches, load := s.plan()
	per := 0
	if len(batches) > 0 {
		per = len(batches[0])
	}
	bar := s.bar(len(batches) * per)
	if bar != nil && p.Batch > 0 {
		_ = bar.Set(p.Batch * per)
	}
	prepared, stop := prefetch(p.Batch, len(batches), func(b int) preparedBatch { return load(b, batches[b]) })
	defer func() {
		close(stop)
		for range prepared { //nolint:revive // drain the prefetcher
		}
	}()
	for pb := range prepared {
		if pb.err != nil {
			return false, pb.err
		}
		if r.ctx.Err() != nil {
			interrupted = true
			break
		}
		loss, err := s.step(pb, batches[p.Batch])
		if err != nil {
			return false, err
		}
		p.Batch++
		if r.opts.OnStep != nil {
			r.opts.OnStep(StepInfo{Stage: s.name(), Epoch: p.Epoch + 1, Batch: p.Batch, Batches: len(batches), Loss: loss, Step: optimizer.GetGlobalStep(s.model().Store)})
		}
		if bar != nil {
			bar.Describe(s.describe())
			_ = bar.Add(per)
		}
	}
	s.spent(time.Since(start).Seconds())
	if bar != nil && !interrupted {
		_ = bar.Finish()
	}
	return interrupted, nil
}

// prefetch prepares batches first … n−1 with load, two ahead of the steps, on a goroutine;
// closing stop ends it early. The channel closes after the last batch or the first error.
func prefetch(first, n int, load func(b int) preparedBatch) (batches chan preparedBatch, stop chan struct{}) {
	batches, stop = make(chan preparedBatch, 2), make(chan struct{})
	go func() {
		defer close(batches)
		for b := first; b < n; b++ {
			pb := load(b)
			select {
			case batches <- pb:
			case <-stop:
				return
			}
			if pb.err != nil {
				return
			}
		}
	}()
	return batches, stop
}

// augmentRNG is the random generator of the image augmentation of one batch, from the run's
// seed, an epoch key and the batch: a resumed run draws the same crops and flips.
func augmentRNG(seed uint64, epochKey, batch int) *rand.Rand {
	return rand.New(rand.NewPCG(seed^0x9e3779b97f4a7c15, uint64(epochKey)<<32|uint64(batch)))
}

// saveStage writes a stage's last checkpoint (DIR/last: every variable, the optimizer's too)
// and its state (DIR/state.json), where DIR is the run folder or its scst/.
func saveStage(m *captioner.Model, dir string, state any) error {
	if err := m.SaveCheckpoint(filepath.Join(dir, runfolder.Last)); err != nil {
		return err
	}
	return atomicfile.WriteJSON(filepath.Join(dir, runfolder.State), state)
}

// appendJSONLine appends v as one JSON line to path (metrics.jsonl), synced.
func appendJSONLine(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	data = append(data, '\n')
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
