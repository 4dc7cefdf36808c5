// Package nb holds what the notebooks in this folder share: the repository root as working
// directory (so that paths in committed outputs are relative), which trained model to show,
// and failing with one plain sentence instead of a panic and its stack trace.
//
// Importing it from a GoNB notebook (whose $GONB_DIR is the notebooks/ folder) makes the
// repository root the working directory of every cell.
package nb

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/runfolder"
	"github.com/attncap/attncap/captioner/train"
)

// Runs the notebooks read and write, relative to the repository root.
const (
	// MainRun is where the README's main command (go run ./scripts/train -data shapes) trains.
	MainRun = "runs/shapes-tiny"
	// NotebookRun is where notebook 02 trains, on NotebookData.
	NotebookRun = "runs/notebook-shapes"
	// NotebookData is notebook 02's small synthetic set.
	NotebookData = "runs/notebook-shapes-data"
	// TransformerRun is where `go run ./scripts/train -data shapes -decoder transformer` trains
	// (notebook 05 trains it there when it is missing).
	TransformerRun = "runs/shapes-tiny-transformer"
	// SCSTRun is where `go run ./scripts/train -scst-from runs/shapes-tiny -out
	// runs/shapes-tiny-scst` adds the self-critical stage to a copy of MainRun (notebook 06
	// trains it there when it is missing).
	SCSTRun = "runs/shapes-tiny-scst"
)

func init() {
	if dir := os.Getenv("GONB_DIR"); dir != "" {
		_ = os.Chdir(filepath.Join(dir, ".."))
	}
}

// Fail prints "attncap: " and one plain sentence to stderr and ends the cell (exit status 1).
// scripts/nbcheck reports the sentence as the cell's cause.
func Fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "attncap: "+format+"\n", args...)
	os.Exit(1)
}

// Check ends the cell with err's message when err is not nil.
func Check(err error) {
	if err != nil {
		Fail("%v", err)
	}
}

// Must returns v, or ends the cell with err's message.
func Must[T any](v T, err error) T {
	Check(err)
	return v
}

// Must2 returns a and b, or ends the cell with err's message.
func Must2[A, B any](a A, b B, err error) (A, B) {
	Check(err)
	return a, b
}

// Run is a trained run the notebooks can show.
type Run struct {
	Dir  string // run folder, relative to the repository root
	Data string // its dataset, as TrainOptions.Data ("shapes" or a folder)
	Why  string // one sentence: which run this is and why it was chosen
}

// TrainedRun picks the best trained model there is: the README main command's run when it has
// finished training (8 epochs on 3,000 images), else notebook 02's (4 epochs on 600). With
// neither it ends the cell saying what to run first.
func TrainedRun() Run {
	for _, r := range []Run{
		{MainRun, "shapes", "the README main command's run (8 epochs on 3,000 images)"},
		{NotebookRun, NotebookData, "notebook 02's run (4 epochs on 600 images; the README main command's run " + MainRun + " is better where it exists)"},
	} {
		if Finished(r.Dir) {
			if opts, err := train.LoadRunOptions(r.Dir); err == nil && opts.Data != "" {
				r.Data = opts.Data
			}
			r.Why = "model: " + r.Dir + ", " + r.Why
			return r
		}
	}
	Fail("no trained model yet: run notebook 02 first (it writes %s in a minute or two), or the README's main command (it writes %s)", NotebookRun, MainRun)
	return Run{}
}

// Finished says whether a run folder holds a best model and a finished training state.
func Finished(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, runfolder.Best, captioner.ConfigFile)); err != nil {
		return false
	}
	done, err := runfolder.Finished(dir)
	return err == nil && done
}

// SCSTFinished says whether a run folder holds a finished self-critical stage and its final
// test.
func SCSTFinished(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, runfolder.TestMetrics)); err != nil {
		return false
	}
	done, err := runfolder.SCSTFinished(dir)
	return err == nil && done
}

// Rel shows a path relative to the repository root, or under ~ for the user's cache, so that
// committed outputs name no one's folders.
func Rel(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		if wd, err := os.Getwd(); err == nil {
			if r, err := filepath.Rel(wd, abs); err == nil && !strings.HasPrefix(r, "..") {
				return r
			}
		}
		if home, err := os.UserHomeDir(); err == nil {
			if r, err := filepath.Rel(home, abs); err == nil && !strings.HasPrefix(r, "..") {
				return filepath.Join("~", r)
			}
		}
	}
	return path
}

// Exists says whether path exists; other errors than "not there" end the cell.
func Exists(path string) bool {
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	Check(err)
	return true
}
