// Package runfolder is the layout of a training run's folder, in one place for the trainer, the
// scripts, the notebooks and the service:
//
//	RUN/
//	  best/              the best model (a model folder: config.json, vocab.json, model.safetensors)
//	  last/              everything needed to resume: the model, Adam's moments, the random state
//	  xe-best/           with SCST: the cross-entropy stage's best model (best/ is then SCST's)
//	  scst/              with SCST: the stage's last/, state.json and metrics.jsonl
//	  options.json       the options the run was started with (checked on resume)
//	  state.json         where the run stands: epoch, batch, best score, "finished"
//	  metrics.jsonl      one line per epoch
//	  test_metrics.json  the final test's scores
package runfolder

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// The names of a run folder's parts.
const (
	Best        = "best"
	Last        = "last"
	XEBest      = "xe-best"
	SCST        = "scst"
	Options     = "options.json"
	State       = "state.json"
	Metrics     = "metrics.jsonl"
	TestMetrics = "test_metrics.json"
)

// stage is what Finished reads of a stage's state.json.
type stage struct {
	Finished bool `json:"finished"`
}

// Finished says whether the cross-entropy stage of the run in dir has finished (its state.json
// says so). A folder without state.json is no run: false and no error; a state.json that
// cannot be read or parsed is an error naming it.
func Finished(dir string) (bool, error) {
	return finished(filepath.Join(dir, State))
}

// SCSTFinished says whether the self-critical stage of the run in dir has finished
// (scst/state.json), as Finished does.
func SCSTFinished(dir string) (bool, error) {
	return finished(filepath.Join(dir, SCST, State))
}

func finished(path string) (bool, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var st stage
	if err := json.Unmarshal(data, &st); err != nil {
		return false, fmt.Errorf("%s is damaged (%v)", path, err)
	}
	return st.Finished, nil
}
