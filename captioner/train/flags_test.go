package train

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/internal/atomicfile"
)

func parseFlags(t *testing.T, args ...string) *Flags {
	t.Helper()
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f
}

// Every option flag's help states the defaults DefaultTrainOptionsFor gives, read here from the
// options themselves (the help once said "-layers: default 3" while the default was 2).
func TestFlagHelpStatesTheDefaults(t *testing.T) {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	RegisterFlags(fs)
	lstm, tiny := DefaultTrainOptionsFor("resnet50", captioner.DecoderLSTM), DefaultTrainOptionsFor("tiny", captioner.DecoderLSTM)
	transformer := DefaultTrainOptionsFor("resnet50", captioner.DecoderTransformer)
	for name, want := range map[string][]string{
		"epochs":        {"default 30", "tiny: 8", "tiny with -scst: 14"},
		"lr":            {"default 0.001", "tiny: 0.002", "transformer: 0.0005"},
		"layers":        {"unused by the LSTM", "transformer: 2"},
		"heads":         {"transformer: 8", "tiny transformer: 4"},
		"region-coords": {"default false", "tiny with -scst: true"},
		"batch":         {"default 64"},
		"min-count":     {"default 5"},
		"decoder":       {"default lstm"},
		"dtype":         {"default float32"},
	} {
		usage := fs.Lookup(name).Usage
		for _, w := range want {
			if !strings.Contains(usage, w) {
				t.Errorf("-%s: help %q does not say %q", name, usage, w)
			}
		}
	}
	if tiny.Epochs != 8 || lstm.Epochs != 30 || transformer.Model.Layers != 2 {
		t.Fatalf("the defaults this test names changed: epochs %d/%d, layers %d", lstm.Epochs, tiny.Epochs, transformer.Model.Layers)
	}
	// Every TrainOptions field with a flag tag is a flag, with help of its own.
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(f.Usage, "default") && !strings.Contains(f.Usage, "unused by the LSTM") || strings.HasPrefix(f.Usage, " (") {
			t.Errorf("-%s: help %q states no default or says nothing", f.Name, f.Usage)
		}
	})
}

// With no flags, a fresh run takes the defaults of the tiny encoder on shapes; flags given
// change only their options; "lstm" and "float32" are stored as the unnamed defaults.
func TestFlagOptionsOfAFreshRun(t *testing.T) {
	got, err := parseFlags(t).Options(RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultTrainOptionsFor("tiny", captioner.DecoderLSTM)
	want.Data, want.Out = "shapes", "runs/shapes-tiny"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("no flags:\n got %+v\nwant %+v", got, want)
	}
	got, err = parseFlags(t, "-data", "data/flickr8k/", "-decoder", "transformer", "-layers", "3", "-dtype", "float32", "-attention-reg", "0").Options(RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want = DefaultTrainOptionsFor("resnet50", captioner.DecoderTransformer)
	want.Data, want.Out, want.Model.Layers = "data/flickr8k/", "runs/flickr8k-resnet50-transformer", 3
	if !reflect.DeepEqual(got, want) {
		t.Errorf("transformer flags:\n got %+v\nwant %+v", got, want)
	}
	got, err = parseFlags(t, "-scst", "-decoder", "lstm").Options(RunOptions{Out: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Epochs != SCSTTinyCrossEntropyEpochs || !got.Model.RegionCoords || got.Model.Decoder != "" || !got.SCST.Enabled {
		t.Errorf("-scst: epochs %d, region coordinates %v, decoder %q, scst %v; want %d, true, \"\", true", got.Epochs, got.Model.RegionCoords, got.Model.Decoder, got.SCST.Enabled, SCSTTinyCrossEntropyEpochs)
	}
}

// A resumed run starts from its saved options: flags not given keep the run's values, even
// where the defaults differ.
func TestFlagOptionsOfAResumedRun(t *testing.T) {
	run := filepath.Join(t.TempDir(), "run")
	saved := DefaultTrainOptionsFor("tiny", captioner.DecoderLSTM)
	saved.Data, saved.LR, saved.Epochs = "somewhere", 0.5, 3
	if err := os.MkdirAll(run, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.WriteJSON(filepath.Join(run, "options.json"), saved); err != nil {
		t.Fatal(err)
	}
	got, err := parseFlags(t, "-epochs", "5").Options(RunOptions{Out: run, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	want := saved
	want.Epochs, want.Out, want.Resume = 5, run, true
	if !reflect.DeepEqual(got, want) {
		t.Errorf("resume:\n got %+v\nwant %+v", got, want)
	}
	if _, err := parseFlags(t).Options(RunOptions{SCSTFrom: run}); err == nil || !strings.Contains(err.Error(), "needs a new -out") {
		t.Errorf("-scst-from without -out: err = %v", err)
	}
}
