package train

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/internal/optflags"
)

// Flags are TrainOptions as command-line flags, declared from the options' struct tags (`flag`
// names the flag, `help` says what it does) with help that states each default as
// DefaultTrainOptionsFor computes it: scripts/train's flags.
type Flags struct {
	set *optflags.Set
}

// RegisterFlags declares a flag on fs for every TrainOptions field with a `flag` tag.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	return &Flags{set: optflags.Register(fs, &TrainOptions{}, func(f *optflags.Flag) string {
		return f.Help + " (" + defaultText(f) + ")"
	})}
}

// defaultVariant is a configuration whose default the help names when it differs from the
// defaults of every configuration it refines (parents, indices into defaultVariants).
type defaultVariant struct {
	name             string
	encoder, decoder string
	scst             bool
	parents          []int
}

var defaultVariants = []defaultVariant{
	{"", "resnet50", captioner.DecoderLSTM, false, nil},
	{"resnet18/34/101/152", "resnet101", captioner.DecoderLSTM, false, []int{0}},
	{"tiny", "tiny", captioner.DecoderLSTM, false, []int{0}},
	{"tiny with -scst", "tiny", captioner.DecoderLSTM, true, []int{2}},
	{"transformer", "resnet50", captioner.DecoderTransformer, false, []int{0}},
	{"tiny transformer", "tiny", captioner.DecoderTransformer, false, []int{2, 4}},
}

// defaultText says a flag's default: the resnet50 LSTM's, then each variant whose default
// differs from its parents' ("default 0.001; tiny: 0.002; …"). A size one decoder does not
// use (0 or none in its defaults) is said to be unused there rather than given.
func defaultText(f *optflags.Flag) string {
	switch f.Name {
	case "data":
		return "default shapes"
	case "encoder":
		return "default tiny for -data shapes, resnet50 otherwise"
	case "decoder":
		return "default " + captioner.DecoderLSTM
	}
	texts := make([]string, len(defaultVariants))
	for i, v := range defaultVariants {
		o := DefaultTrainOptionsFor(v.encoder, v.decoder)
		if v.scst {
			o.SCST.Enabled = true
			o = WithSCSTDefaults(o, func(string) bool { return false })
		}
		texts[i] = showDefault(f.Name, f.FieldValue(&o))
	}
	zero := func(t string) bool { return t == "0" || t == "none" }
	var parts []string
	for i, v := range defaultVariants {
		otherDecoder := v.decoder != defaultVariants[0].decoder
		same := false
		for _, p := range v.parents {
			same = same || texts[p] == texts[i]
		}
		switch {
		case i == 0:
			parts = append(parts, "default "+texts[i])
		case same || f.Name == "scst":
			// as a configuration it refines
		case otherDecoder && zero(texts[i]) && !zero(texts[0]):
			// a size of the LSTM that this decoder does not have
		case otherDecoder && !zero(texts[i]) && zero(texts[0]):
			parts[0] = "unused by the LSTM"
			parts = append(parts, v.name+": "+texts[i])
		default:
			parts = append(parts, v.name+": "+texts[i])
		}
	}
	return strings.Join(parts, "; ")
}

// showDefault writes a default as the flag takes it: the empty names of the LSTM, float32 and
// the plateau schedule by their names.
func showDefault(name string, v reflect.Value) string {
	s := fmt.Sprint(v.Interface())
	if s != "" {
		return s
	}
	switch name {
	case "decoder":
		return captioner.DecoderLSTM
	case "dtype":
		return captioner.DTypeFloat32
	case "lr-schedule":
		return LRPlateau
	}
	return "none"
}

// Given reports whether the command line gave the flag.
func (f *Flags) Given(name string) bool { return f.set.Given(name) }

// RunOptions are what the command line says about the run folder besides TrainOptions' flags.
type RunOptions struct {
	Out      string // -out ("": runs/<dataset>-<encoder>[-<decoder>])
	Resume   bool   // -resume
	SCSTFrom string // -scst-from: the run a new -out copies before adding SCST
}

// Options are the TrainOptions the command line asks for. A fresh run starts from the defaults
// of its encoder and decoder (DefaultTrainOptionsFor, and WithSCSTDefaults with -scst); a
// resumed run (or the copy -scst-from makes) from the options it was started with
// (LoadRunOptions), so that only the flags given now differ and Train refuses those that would
// change the run. Out, Resume and RebuildFeatures are set; Meteor, Progress and the callbacks
// are left to the caller.
func (f *Flags) Options(run RunOptions) (TrainOptions, error) {
	var given TrainOptions
	f.set.Apply(&given)
	data := "shapes"
	if f.Given("data") {
		data = given.Data
	}
	enc := given.Model.Encoder
	if !f.Given("encoder") {
		enc = "resnet50"
		if data == "shapes" {
			enc = "tiny"
		}
	}
	dec := captioner.DecoderLSTM
	if f.Given("decoder") {
		dec = given.Model.Decoder
	}
	if run.SCSTFrom != "" && (run.Out == "" || run.Resume) {
		return TrainOptions{}, fmt.Errorf("-scst-from RUN needs a new -out folder (e.g. -out runs/shapes-tiny-scst) and no -resume")
	}
	if run.Out == "" {
		run.Out = "runs/" + strings.TrimSuffix(filepath.Base(strings.TrimRight(data, "/")), ".json") + "-" + enc
		if dec != captioner.DecoderLSTM {
			run.Out += "-" + dec
		}
	}
	opts, fromRun := DefaultTrainOptionsFor(enc, dec), false
	if run.Resume || run.SCSTFrom != "" {
		src := run.Out
		if run.SCSTFrom != "" {
			src = run.SCSTFrom // the copy resumes with the source run's options
		}
		saved, err := LoadRunOptions(src)
		switch {
		case err == nil:
			opts, fromRun = saved, true
		case !errors.Is(err, fs.ErrNotExist): // a run from before options.json: defaults, as it was started
			return TrainOptions{}, err
		}
	}
	if !fromRun {
		opts.Data, opts.Model.Encoder = data, enc
	}
	f.set.Apply(&opts)
	if f.Given("decoder") && opts.Model.Decoder == captioner.DecoderLSTM {
		opts.Model.Decoder = "" // the LSTM is the unnamed default, as in every run from before the Transformer
	}
	if f.Given("dtype") && opts.Model.DType == captioner.DTypeFloat32 {
		opts.Model.DType = "" // likewise float32, from before bfloat16
	}
	if run.SCSTFrom != "" {
		opts.SCST.Enabled = true
	}
	if !fromRun { // a longer first stage before SCST, and region coordinates (docs/scst.md)
		opts = WithSCSTDefaults(opts, f.Given)
	}
	opts.Out, opts.Resume = run.Out, run.Resume
	return opts, nil
}
