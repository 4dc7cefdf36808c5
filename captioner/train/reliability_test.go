package train

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/internal/captest"
	"github.com/attncap/attncap/captioner/runfolder"
	"github.com/attncap/attncap/internal/safetensors"
)

// withoutDevList empties a Flickr8k-layout set's val list, leaving train and test.
func withoutDevList(t *testing.T, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(data, "Flickr_8k.devImages.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTrainRefusesADatasetWithoutAValSplit(t *testing.T) {
	data := smallShapes(t, 40)
	withoutDevList(t, data)
	opts := smallTrainOptions(t, data, 1)
	_, err := Train(context.Background(), captest.Backend(t), opts)
	if err == nil {
		t.Fatal("a dataset without val images trained")
	}
	for _, want := range []string{"no validation images", "val 0", "-no-val"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, statErr := os.Stat(opts.Out); !os.IsNotExist(statErr) {
		t.Errorf("the refused run left a run folder %s", opts.Out)
	}
}

func TestTrainRefusesADatasetWithoutATestSplit(t *testing.T) {
	data := smallShapes(t, 40)
	if err := os.WriteFile(filepath.Join(data, "Flickr_8k.testImages.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Train(context.Background(), captest.Backend(t), smallTrainOptions(t, data, 1))
	if err == nil || !strings.Contains(err.Error(), "no test images") || !strings.Contains(err.Error(), "-no-test") {
		t.Fatalf("err = %v", err)
	}
}

// Without validation, asked for explicitly: every epoch runs at a constant learning rate, the
// last epoch's model is the best one, and metrics.jsonl has no val numbers.
func TestTrainWithoutValidationKeepsTheLastModel(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	data := smallShapes(t, 40)
	withoutDevList(t, data)
	opts := smallTrainOptions(t, data, 3)
	opts.NoValidation, opts.Patience, opts.LRPatience = true, 1, 1
	res, err := Train(context.Background(), captest.Backend(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Epochs != 3 || res.BestEpoch != 3 {
		t.Errorf("ran %d epochs, best %d; want all 3, the last kept", res.Epochs, res.BestEpoch)
	}
	raw, err := os.ReadFile(filepath.Join(opts.Out, runfolder.Metrics))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "val_") {
		t.Errorf("metrics.jsonl reports validation numbers that were never computed:\n%s", raw)
	}
	for _, r := range readLines(t, filepath.Join(opts.Out, runfolder.Metrics)) {
		if r.LR != opts.LR {
			t.Errorf("epoch %d: learning rate %v, want the constant %v", r.Epoch, r.LR, opts.LR)
		}
	}
	// best/ holds the model variables of the last epoch: the same bytes as last/ (which also
	// holds the optimizer state).
	best, err := safetensors.Open(filepath.Join(opts.Out, runfolder.Best, captioner.VariablesFile))
	if err != nil {
		t.Fatal(err)
	}
	defer best.Close()
	last, err := safetensors.Open(filepath.Join(opts.Out, runfolder.Last, captioner.VariablesFile))
	if err != nil {
		t.Fatal(err)
	}
	defer last.Close()
	for _, name := range best.Names() {
		_, a, _ := best.Bytes(name)
		_, b, err := last.Bytes(name)
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("variable %s differs between best/ and last/ (%v)", name, err)
		}
	}
}

// interruptedRun trains until the first step of the first epoch and stops there.
func interruptedRun(t *testing.T) TrainOptions {
	t.Helper()
	opts := smallTrainOptions(t, smallShapes(t, 40), 2)
	ctx, cancel := context.WithCancel(context.Background())
	opts.OnStep = func(StepInfo) { cancel() }
	if _, err := Train(ctx, captest.Backend(t), opts); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupting: err = %v", err)
	}
	opts.OnStep, opts.Resume = nil, true
	return opts
}

func TestResumeRefusesOptionsThatChangeTheRun(t *testing.T) {
	opts := interruptedRun(t)
	saved, err := LoadRunOptions(opts.Out)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Batch != opts.Batch || saved.LR != opts.LR || saved.Model.HiddenDim != opts.Model.HiddenDim {
		t.Errorf("options.json holds %+v", saved)
	}
	changed := opts
	changed.Batch, changed.LR, changed.Model.HiddenDim = 32, 0.5, 128
	_, err = Train(context.Background(), captest.Backend(t), changed)
	var roe *ResumeOptionsError
	if !errors.As(err, &roe) {
		t.Fatalf("resume with other -batch, -lr and -hidden: err = %v", err)
	}
	want := []string{"-hidden 128 (the run: 64)", "-batch 32 (the run: 40)", "-lr 0.5 (the run: 0.003)"} // in TrainOptions' order
	if strings.Join(roe.Differences, "|") != strings.Join(want, "|") {
		t.Errorf("differences %q, want %q", roe.Differences, want)
	}
	if msg := err.Error(); !strings.Contains(msg, "-epochs, -patience, -test-beam, -no-test") {
		t.Errorf("the error does not list the options that may change: %s", msg)
	}
}

func TestCompareOptionsSeparatesSafeOptions(t *testing.T) {
	saved := DefaultTrainOptions("tiny")
	now := saved
	now.Epochs, now.TestBeam, now.Seed, now.Model.Mean[0] = 20, 5, 9, 0.5
	now.Out, now.CacheDir, now.RebuildFeatures = "elsewhere", "/tmp/x", true // not part of the run
	refused, changed := CompareOptions(saved, now)
	if got := strings.Join(refused, "|"); got != "Model.Mean [0.5 0.456 0.406] (the run: [0.485 0.456 0.406])|-seed 9 (the run: 1)" {
		t.Errorf("refused: %s", got)
	}
	if got := strings.Join(changed, "|"); got != "-epochs 20 (the run: 8)|-test-beam 5 (the run: 3)" {
		t.Errorf("changed: %s", got)
	}
}

func writePNG(t *testing.T, path string, shade uint8) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for i := range img.Pix {
		img.Pix[i] = shade + uint8(i%7)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// Replacing an image under the same name must not serve its old features.
func TestFeatureCacheSeesReplacedImages(t *testing.T) {
	m, err := captioner.NewEncoderModel(captest.Backend(t), captioner.DefaultConfig("tiny"))
	if err != nil {
		t.Fatal(err)
	}
	dir, cache := t.TempDir(), featureCacheOptions{Dir: t.TempDir()}
	paths := []string{filepath.Join(dir, "a.png"), filepath.Join(dir, "b.png")}
	writePNG(t, paths[0], 10)
	writePNG(t, paths[1], 90)
	var log []string
	logf := func(f string, a ...any) { log = append(log, fmt.Sprintf(f, a...)) }
	first, err := cachedFeatures(m, paths, cache, nil, logf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cachedFeatures(m, paths, cache, nil, logf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log[1], "from the cache") || !strings.Contains(log[1], "-rebuild-features") {
		t.Errorf("second call: %q, want a cache hit that says how to rebuild", log[1])
	}
	writePNG(t, paths[1], 200)
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(paths[1], later, later); err != nil {
		t.Fatal(err)
	}
	again, err := cachedFeatures(m, paths, cache, nil, logf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log[2], "encoding 2 images") {
		t.Errorf("after replacing b.png: %q, want the features recomputed", log[2])
	}
	per := len(first.Data) / 2
	if fmt.Sprint(first.Data[per:]) == fmt.Sprint(again.Data[per:]) {
		t.Error("b.png's features did not change after it was replaced")
	}
	if fmt.Sprint(first.Data[:per]) != fmt.Sprint(again.Data[:per]) {
		t.Error("a.png's features changed though a.png did not")
	}
	cache.Rebuild = true
	if _, err := cachedFeatures(m, paths, cache, nil, logf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log[3], "encoding") {
		t.Errorf("with Rebuild: %q, want the features recomputed", log[3])
	}
}

// Replacing the weights file under the same name changes the cache key.
func TestFeatureCacheKeyFollowsTheWeightsFile(t *testing.T) {
	m, err := captioner.NewEncoderModel(captest.Backend(t), captioner.DefaultConfig("tiny"))
	if err != nil {
		t.Fatal(err)
	}
	weights := filepath.Join(t.TempDir(), "w.safetensors")
	if err := os.WriteFile(weights, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	m.Config.Weights = weights
	img := filepath.Join(t.TempDir(), "a.png")
	writePNG(t, img, 1)
	k1, err := featureCacheKey(m, []string{img}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(weights, []byte("other weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	k2, err := featureCacheKey(m, []string{img}, "")
	if err != nil {
		t.Fatal(err)
	}
	if k1 == k2 {
		t.Errorf("cache key %s did not change when the weights file was replaced", k1)
	}
}

// The final test reports METEOR under the name its modules earn (no paraphrase table here:
// METEOR_noparaphrase); METEOR data that was named but is not there stops the run before it
// trains.
func TestFinalTestReportsMeteor(t *testing.T) {
	data := smallShapes(t, 40)
	opts := smallTrainOptions(t, data, 1)
	opts.Meteor = MeteorChoice{Data: t.TempDir()}
	if _, err := Train(context.Background(), captest.Backend(t), opts); err == nil || !strings.Contains(err.Error(), "lacks english.synsets") {
		t.Fatalf("empty METEOR data folder: err = %v", err)
	}
	if _, err := os.Stat(opts.Out); !os.IsNotExist(err) {
		t.Errorf("the refused run left %s", opts.Out)
	}
	shared := filepath.Join("..", "..", "shared", "meteor")
	if _, err := os.Stat(filepath.Join(shared, "english.synsets")); err != nil {
		t.Skipf("no METEOR data in %s (the project's shared folder)", shared)
	}
	opts.Meteor = MeteorChoice{Data: shared}
	res, err := Train(context.Background(), captest.Backend(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	name, v, ok := res.Test.MeteorScore()
	if !ok || name != "METEOR_noparaphrase" || v <= 0 || v > 1 {
		t.Errorf("test METEOR: %q %v %v", name, v, ok)
	}
}
