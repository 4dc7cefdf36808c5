package train

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"image"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decode"
	"github.com/attncap/attncap/captioner/internal/captest"
	"github.com/attncap/attncap/captioner/metrics"
	"github.com/attncap/attncap/captioner/runfolder"
	"github.com/attncap/attncap/captioner/viz"
	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/gomlx/core/tensors"
)

// smallShapes writes a small synthetic set once per test binary.
func smallShapes(t *testing.T, n int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "shapes")
	if err := datasets.GenerateShapes(dir, datasets.ShapesOptions{N: n, Seed: 5, MinSize: 48, MaxSize: 64}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// smallTrainOptions is a tiny model that trains in seconds.
func smallTrainOptions(t *testing.T, data string, epochs int) TrainOptions {
	o := DefaultTrainOptions("tiny")
	o.Data, o.Out, o.CacheDir, o.Epochs = data, filepath.Join(t.TempDir(), "run"), t.TempDir(), epochs
	o.Model.ImageSize, o.Model.EmbedDim, o.Model.HiddenDim, o.Model.AttentionDim, o.Model.Dropout = 32, 32, 64, 32, 0.1
	o.Batch, o.MinCount, o.Patience, o.TestBeam, o.Crop = 40, 1, 0, 3, false
	o.LR = 3e-3
	o.Meteor.Off = true // never the network in tests; TestFinalTestReportsMeteor uses local data
	return o
}

// bestConstantCaption is an image-blind baseline: the one train caption that, used for every
// image, scores the highest corpus BLEU-4 on the train split.
func bestConstantCaption(ds *datasets.Dataset) []string {
	var train []metrics.Example
	var candidates [][]string
	for _, e := range ds.Split(datasets.Train) {
		var refs [][]string
		for _, c := range e.Captions {
			refs = append(refs, text.Tokenize(c))
		}
		train = append(train, metrics.Example{References: refs})
		candidates = append(candidates, refs...)
	}
	best, bestScore := candidates[0], -1.0
	for _, c := range candidates {
		for i := range train {
			train[i].Candidate = c
		}
		if s := metrics.Bleu(train)[3]; s > bestScore {
			best, bestScore = c, s
		}
	}
	return best
}

func TestTrainEvaluateCaptionEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	backend := captest.Backend(t)
	data := smallShapes(t, 200)
	opts := smallTrainOptions(t, data, 8)
	res, err := Train(context.Background(), backend, opts)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := datasets.Load(data, datasets.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Image-blind baseline on the same test split.
	constant := bestConstantCaption(ds)
	var blind []metrics.Example
	for _, e := range ds.Split(datasets.Test) {
		var refs [][]string
		for _, c := range e.Captions {
			refs = append(refs, text.Tokenize(c))
		}
		blind = append(blind, metrics.Example{Candidate: constant, References: refs})
	}
	baseline, err := metrics.Evaluate(blind)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after %d epochs: test BLEU-4 %.3f CIDEr %.3f; image-blind constant caption %q: BLEU-4 %.3f CIDEr %.3f",
		res.Epochs, res.Test.Bleu4, res.Test.CIDEr, strings.Join(constant, " "), baseline.Bleu4, baseline.CIDEr)
	if res.Test.Bleu4 < baseline.Bleu4+0.1 || res.Test.CIDEr < 2*baseline.CIDEr {
		t.Errorf("test BLEU-4 %.3f / CIDEr %.3f not clearly above the image-blind %.3f / %.3f", res.Test.Bleu4, res.Test.CIDEr, baseline.Bleu4, baseline.CIDEr)
	}

	// The run folder alone evaluates and captions.
	m, err := captioner.OpenModel(backend, opts.Out)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := decode.EvaluateSplit(m, ds, datasets.Test, decode.Options{Beam: opts.TestBeam}, 16, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Scores != res.Test {
		t.Errorf("evaluating the saved model gives %+v, training reported %+v", ev.Scores, res.Test)
	}
	// Object accuracy (the set has shapes ground truth): the same from both, in test_metrics.json.
	obj, _, err := ev.ObjectAccuracy(data)
	if err != nil || obj == nil || res.Objects == nil || !reflect.DeepEqual(*obj, *res.Objects) {
		t.Errorf("object accuracy: evaluation %+v (%v), training %+v", obj, err, res.Objects)
	}
	if raw, _ := os.ReadFile(filepath.Join(opts.Out, runfolder.TestMetrics)); !strings.Contains(string(raw), `"objects": {`) {
		t.Errorf("%s has no object accuracy: %s", runfolder.TestMetrics, raw)
	}
	caps, err := decode.Images(m, ev.Images[:2], decode.Options{Beam: 3}, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, w := m.Config.GridDims()
	for i, c := range caps {
		if len(c.Words) == 0 || len(c.Attention) != len(c.Words) || len(c.Attention[0]) != h*w {
			t.Errorf("caption %d: %q with %d attention maps", i, c.Words, len(c.Attention))
		}
	}
	fig := viz.AttentionFigure(mustDecode(t, ev.Images[0]), caps[0].Words, caps[0].Attention, h, w, 64, 4)
	if fig.Bounds().Dx() != 4*64 {
		t.Errorf("attention figure %v", fig.Bounds())
	}
	lines := readLines(t, filepath.Join(opts.Out, runfolder.Metrics))
	if len(lines) != res.Epochs {
		t.Errorf("metrics.jsonl has %d lines for %d epochs", len(lines), res.Epochs)
	}
}

func mustDecode(t *testing.T, path string) *image.RGBA {
	img, err := datasets.DecodeImage(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func readLines(t *testing.T, path string) []EpochRecord {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []EpochRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r EpochRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		r.Seconds = 0
		out = append(out, r)
	}
	return out
}

func TestInterruptedRunResumesExactly(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model three times")
	}
	backend := captest.Backend(t)
	data := smallShapes(t, 60)

	straight := smallTrainOptions(t, data, 2)
	straightRes, err := Train(context.Background(), backend, straight)
	if err != nil {
		t.Fatal(err)
	}

	broken := smallTrainOptions(t, data, 2)
	ctx, cancel := context.WithCancel(context.Background())
	broken.OnStep = func(s StepInfo) {
		if s.Epoch == 2 && s.Batch == 2 { // mid-epoch, after one finished epoch
			cancel()
		}
	}
	_, err = Train(ctx, backend, broken)
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted run: err = %v", err)
	}
	broken.OnStep, broken.Resume = nil, true
	resumedRes, err := Train(context.Background(), backend, broken)
	if err != nil {
		t.Fatal(err)
	}
	a, b := readLines(t, filepath.Join(straight.Out, runfolder.Metrics)), readLines(t, filepath.Join(broken.Out, runfolder.Metrics))
	if len(a) != len(b) {
		t.Fatalf("epochs: %d straight, %d resumed", len(a), len(b))
	}
	for i := range a {
		if !reflect.DeepEqual(a[i], b[i]) {
			t.Errorf("epoch %d: straight %+v, resumed %+v", i+1, a[i], b[i])
		}
	}
	if straightRes.Test != resumedRes.Test {
		t.Errorf("test scores: straight %+v, resumed %+v", straightRes.Test, resumedRes.Test)
	}
	// A finished run refuses to resume, and a fresh run refuses an occupied folder.
	if _, err := Train(context.Background(), backend, broken); err == nil || !strings.Contains(err.Error(), "already finished") {
		t.Errorf("resuming a finished run: err = %v", err)
	}
	broken.Resume = false
	if _, err := Train(context.Background(), backend, broken); err == nil || !strings.Contains(err.Error(), "-resume") {
		t.Errorf("reusing a run folder: err = %v", err)
	}
}

func TestTrainMissingDatasetSaysHowToGetOne(t *testing.T) {
	opts := smallTrainOptions(t, filepath.Join(t.TempDir(), "flickr8k"), 1)
	_, err := Train(context.Background(), captest.Backend(t), opts)
	if err == nil || !strings.Contains(err.Error(), "scripts/download") || !strings.Contains(err.Error(), "-data shapes") {
		t.Fatalf("err = %v", err)
	}
}

// TestInitStartsFromTheModelFolder trains a run from another run's model (-init): the new run
// takes that model's config and vocabulary, whatever its own flags say, and starts from its
// weights (with a learning rate too small to move them, the saved model equals the one it
// started from).
func TestInitStartsFromTheModelFolder(t *testing.T) {
	data := smallShapes(t, 60)
	first := smallTrainOptions(t, data, 1)
	if _, err := Train(context.Background(), captest.Backend(t), first); err != nil {
		t.Fatal(err)
	}
	from, err := captioner.OpenModel(captest.Backend(t), first.Out)
	if err != nil {
		t.Fatal(err)
	}
	second := smallTrainOptions(t, data, 1)
	second.Init, second.LR = first.Out, 1e-12
	second.Model.EmbedDim, second.MinCount = 16, 1000 // ignored: the config and vocabulary are the init's
	if _, err := Train(context.Background(), captest.Backend(t), second); err != nil {
		t.Fatal(err)
	}
	got, err := captioner.OpenModel(captest.Backend(t), second.Out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Vocab.Words, from.Vocab.Words) || got.Config.EmbedDim != from.Config.EmbedDim {
		t.Fatalf("vocabulary or config not the init's: %d words (want %d), embed %d (want %d)", got.Vocab.Size(), from.Vocab.Size(), got.Config.EmbedDim, from.Config.EmbedDim)
	}
	for v := range from.Store.IterVariables() {
		if !captioner.IsModelVariable(v.Path()) {
			continue
		}
		want, _ := v.Value()
		have, err := got.Store.GetVariable(v.Path()).Value()
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := captest.MaxAbsDiff(tensors.MustCopyFlatData[float32](want), tensors.MustCopyFlatData[float32](have)); d > 1e-6 {
			t.Errorf("%s moved by %g from the init model's", v.Path(), d)
		}
	}
}
