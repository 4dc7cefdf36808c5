package train

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/attncap/attncap/captioner/runfolder"
)

// LoadRunOptions reads the options a run was started with (RUN/options.json, written by Train;
// safe options changed on a resume are updated there). Programs that resume a run start from
// these and apply only what the user asked to change (Flags.Options, scripts/train). The error wraps
// fs.ErrNotExist for runs written before options.json existed.
func LoadRunOptions(run string) (TrainOptions, error) {
	path := filepath.Join(run, runfolder.Options)
	data, err := os.ReadFile(path)
	if err != nil {
		return TrainOptions{}, err
	}
	var o TrainOptions
	if err := json.Unmarshal(data, &o); err != nil {
		return TrainOptions{}, fmt.Errorf("%s is damaged (%v); restore it or start a new run in another -out", path, err)
	}
	return o, nil
}

// ResumeOptionsError is returned by Train when a resumed run is given options that differ from
// those it was started with, in options that change what the rest of training computes.
type ResumeOptionsError struct {
	Run         string
	Differences []string // "-lr 0.5 (the run: 0.002)", one per option
}

// Error names each differing option, its value now and the run's, and what to do.
func (e *ResumeOptionsError) Error() string {
	return fmt.Sprintf("resume %s: %s differ from the run's own options, and each changes what the rest of training "+
		"computes (which images a step sees, the optimiser, the model). Resume without them to continue with the run's "+
		"values, or start a new run in another -out. Options that may change on resume: %s",
		e.Run, strings.Join(e.Differences, ", "), strings.Join(safeResumeOptions(), ", "))
}

// CompareOptions compares a run's saved options with the options it is resumed with. Each
// difference is described as "-flag NOW (the run: SAVED)" (options without a flag by their Go
// field path) and goes to refused, or to changed for options tagged resume:"safe".
func CompareOptions(saved, now TrainOptions) (refused, changed []string) {
	walkOptions(reflect.ValueOf(saved), reflect.ValueOf(now), "", func(name string, was, is reflect.Value, safe bool) {
		if reflect.DeepEqual(was.Interface(), is.Interface()) {
			return
		}
		d := fmt.Sprintf("%s %s (the run: %s)", name, showValue(is), showValue(was))
		if safe {
			changed = append(changed, d)
		} else {
			refused = append(refused, d)
		}
	})
	return refused, changed
}

// walkOptions calls visit for every saved (JSON) leaf field of two TrainOptions, descending into
// nested structs such as captioner.Model.
func walkOptions(a, b reflect.Value, path string, visit func(name string, a, b reflect.Value, safe bool)) {
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Tag.Get("json") == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			walkOptions(a.Field(i), b.Field(i), path+f.Name+".", visit)
			continue
		}
		name := path + f.Name
		if flag := f.Tag.Get("flag"); flag != "" {
			name = "-" + flag
		}
		visit(name, a.Field(i), b.Field(i), f.Tag.Get("resume") == "safe")
	}
}

// safeResumeOptions lists the options tagged resume:"safe".
func safeResumeOptions() []string {
	var out []string
	v := reflect.ValueOf(TrainOptions{})
	walkOptions(v, v, "", func(name string, _, _ reflect.Value, safe bool) {
		if safe {
			out = append(out, name)
		}
	})
	return out
}

func showValue(v reflect.Value) string {
	if v.Kind() == reflect.String {
		return fmt.Sprintf("%q", v.String())
	}
	return fmt.Sprint(v.Interface())
}
