package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decode"
	"github.com/attncap/attncap/captioner/decoder"
	"github.com/attncap/attncap/captioner/internal/captest"
	"github.com/attncap/attncap/captioner/internal/testmodel"
	"github.com/attncap/attncap/captioner/runfolder"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	gomlxtrain "github.com/gomlx/gomlx/ml/train"
)

func TestAdvantagesUseTheMeanOfTheOtherSamples(t *testing.T) {
	// Image 0: rewards 1, 2, 3 → baselines 2.5, 2, 1.5; image 1: all 0.7 → no preference.
	got := Advantages([]float64{1, 2, 3, 0.7, 0.7, 0.7}, 3, nil)
	want := []float32{-1.5, 0, 1.5, 0, 0, 0}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-7 {
			t.Fatalf("advantages %v, want %v", got, want)
		}
	}
	// Greedy baseline: reward − the image's greedy reward.
	got = Advantages([]float64{1, 2, 3, 4}, 2, []float64{1.5, 5})
	want = []float32{-0.5, 0.5, -2, -1}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-7 {
			t.Fatalf("greedy-baseline advantages %v, want %v", got, want)
		}
	}
}

// TestSCSTLossGradientMatchesFiniteDifferences checks the policy-gradient loss's gradient with
// respect to the logits against central differences of the loss itself.
func TestSCSTLossGradientMatchesFiniteDifferences(t *testing.T) {
	backend := captest.Backend(t)
	rng := rand.New(rand.NewPCG(31, 32))
	const n, steps, vocab = 3, 4, 6
	logits, values := captest.RandomTensor[float64](rng, n, steps, vocab)
	captions := tensors.FromValue([][]int32{{1, 4, 5, 2, 0}, {1, 2, 0, 0, 0}, {1, 5, 5, 4, 2}})
	adv := tensors.FromValue([]float64{0.5, -1.25, 2})
	lossOf := func(l *tensors.Tensor) float64 {
		out, err := ExecOnce(backend, decoder.SCSTLoss, captions, l, adv)
		if err != nil {
			t.Fatal(err)
		}
		return tensors.ToScalar[float64](out)
	}
	grad, err := ExecOnce(backend, func(c, l, a *Node) *Node {
		return AddScalar(Gradient(decoder.SCSTLoss(c, l, a), l)[0], 0)
	}, captions, logits, adv)
	if err != nil {
		t.Fatal(err)
	}
	g := tensors.MustCopyFlatData[float64](grad)
	for i := range values {
		const eps = 1e-6
		at := func(x float64) float64 {
			v := append([]float64{}, values...)
			v[i] = x
			return lossOf(tensors.FromFlatDataAndDimensions(v, n, steps, vocab))
		}
		numeric := (at(values[i]+eps) - at(values[i]-eps)) / (2 * eps)
		if math.Abs(numeric-g[i]) > 1e-7+1e-5*math.Abs(numeric) {
			t.Errorf("logit %d: analytic %.9g, finite differences %.9g", i, g[i], numeric)
		}
	}
	// Row 2's <pad> targets carry no gradient.
	for i := range values {
		row, step := i/(steps*vocab), (i/vocab)%steps
		if row == 1 && step >= 1 && g[i] != 0 {
			t.Fatalf("gradient %v at a <pad> target (row 1, step %d)", g[i], step)
		}
	}
}

// TestConstantRewardChangesNothing: equal rewards give zero advantages with the mean-of-others
// baseline, hence a zero gradient, and an SCST step leaves every model weight as it was.
func TestConstantRewardChangesNothing(t *testing.T) {
	for _, name := range testmodel.Decoders {
		t.Run(name, func(t *testing.T) {
			trained, regions, _ := testmodel.TrainedTinyDecoder(t, name)
			// As the SCST stage does: the model's weights alone, in a fresh store (no Adam moments
			// left from cross-entropy training, which would keep moving the weights).
			dir := t.TempDir()
			if err := trained.Save(dir); err != nil {
				t.Fatal(err)
			}
			m, err := captioner.LoadModel(trained.Backend, dir)
			if err != nil {
				t.Fatal(err)
			}
			const k = 3
			sampled, err := model.CallOnce(m.Backend, m.Store, func(scope *model.Scope, regions *Node) *Node {
				return decode.SampleCaptions(scope, m.Config, regions, k, m.Config.MaxLen-1, false)
			}, regions)
			if err != nil {
				t.Fatal(err)
			}
			captions := hostCopy(sampled)
			before := map[string][]float32{}
			for v := range m.Store.IterVariables() {
				if captioner.IsModelVariable(v.Path()) {
					before[v.Path()] = tensors.MustCopyFlatData[float32](v.MustValue())
				}
			}
			adv := Advantages(make([]float64, 8*k), k, nil)
			trainer := gomlxtrain.NewTrainer(m.Backend, m.Store, m.ModelFn(), func(labels, predictions []*Node) *Node {
				return decoder.SCSTLoss(labels[0], predictions[0], labels[1])
			}, NewOptimizer(1e-2, 0, 5), nil, nil)
			if _, err := trainer.TrainStep(gomlxtrain.Batch{Inputs: []*tensors.Tensor{regions, captions}, Labels: []*tensors.Tensor{captions, tensors.FromValue(adv)}}); err != nil {
				t.Fatal(err)
			}
			for v := range m.Store.IterVariables() {
				if want, ok := before[v.Path()]; ok {
					got := tensors.MustCopyFlatData[float32](v.MustValue())
					for i := range got {
						if got[i] != want[i] {
							t.Fatalf("%s[%d] changed: %v → %v", v.Path(), i, want[i], got[i])
						}
					}
				}
			}
		})
	}
}

// TestSCSTStageResumesExactly trains a run with its SCST stage straight through, and the same
// run as a cross-entropy run forked with ForkRun whose SCST stage is interrupted after its
// first step and resumed: both stages' records and the final best models must be identical.
func TestSCSTStageResumesExactly(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model three times")
	}
	backend := captest.Backend(t)
	data := smallShapes(t, 60)
	scst := SCSTOptions{Enabled: true, Samples: 4, Baseline: "mean", LR: 1e-3, Epochs: 2, Patience: 3}

	straight := smallTrainOptions(t, data, 1)
	straight.SCST = scst
	straightRes, err := Train(context.Background(), backend, straight)
	if err != nil {
		t.Fatal(err)
	}
	if straightRes.SCST == nil || straightRes.SCST.Epochs != 2 {
		t.Fatalf("SCST result %+v, want 2 epochs", straightRes.SCST)
	}

	xe := smallTrainOptions(t, data, 1)
	if _, err := Train(context.Background(), backend, xe); err != nil {
		t.Fatal(err)
	}
	forked := filepath.Join(t.TempDir(), "forked")
	if err := ForkRun(xe.Out, forked); err != nil {
		t.Fatal(err)
	}
	if err := ForkRun(xe.Out, forked); err == nil || !strings.Contains(err.Error(), "already holds a run") {
		t.Errorf("forking into an existing run: err = %v", err)
	}
	broken := xe
	broken.Out, broken.Resume, broken.SCST = forked, true, scst
	ctx, cancel := context.WithCancel(context.Background())
	steps := 0
	broken.OnStep = func(s StepInfo) {
		if s.Stage != "scst" {
			t.Errorf("step of stage %q in a resumed finished cross-entropy run", s.Stage)
		}
		if steps++; s.Epoch == 1 && s.Batch == 1 {
			cancel()
		}
	}
	if _, err := Train(ctx, backend, broken); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted SCST stage: err = %v", err)
	}
	broken.OnStep = nil
	resumedRes, err := Train(context.Background(), backend, broken)
	if err != nil {
		t.Fatal(err)
	}
	a, b := readSCSTRecords(t, straight.Out), readSCSTRecords(t, forked)
	if len(a) != 2 || !reflect.DeepEqual(a, b) {
		t.Errorf("SCST epochs: straight %+v, resumed %+v", a, b)
	}
	if straightRes.Test != resumedRes.Test {
		t.Errorf("test scores: straight %+v, resumed %+v", straightRes.Test, resumedRes.Test)
	}
	for _, dir := range []string{runfolder.Best, runfolder.XEBest} {
		x, err1 := os.ReadFile(filepath.Join(straight.Out, dir, captioner.VariablesFile))
		y, err2 := os.ReadFile(filepath.Join(forked, dir, captioner.VariablesFile))
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs between the straight and the resumed run (%v, %v)", dir, err1, err2)
		}
	}
	// The source run is unchanged: no SCST files, its best model the cross-entropy one.
	if _, err := os.Stat(filepath.Join(xe.Out, runfolder.SCST)); err == nil {
		t.Errorf("ForkRun's source %s got an scst/ folder", xe.Out)
	}
	// A run whose SCST stage finished refuses to resume.
	if _, err := Train(context.Background(), backend, broken); err == nil || !strings.Contains(err.Error(), "self-critical stage too") {
		t.Errorf("resuming a finished SCST stage: err = %v", err)
	}
}

func readSCSTRecords(t *testing.T, run string) []SCSTRecord {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(run, runfolder.SCST, runfolder.Metrics))
	if err != nil {
		t.Fatal(err)
	}
	var out []SCSTRecord
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r SCSTRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		r.Seconds = 0
		out = append(out, r)
	}
	return out
}

// TestForkRunRefusesAnUnfinishedRun: only a finished cross-entropy stage can be forked.
func TestForkRunRefusesAnUnfinishedRun(t *testing.T) {
	opts := interruptedRun(t)
	err := ForkRun(opts.Out, filepath.Join(t.TempDir(), "x"))
	if err == nil || !strings.Contains(err.Error(), "has not finished") {
		t.Errorf("forking an unfinished run: err = %v", err)
	}
	if err := ForkRun(filepath.Join(t.TempDir(), "none"), filepath.Join(t.TempDir(), "y")); err == nil || !strings.Contains(err.Error(), "holds no run") {
		t.Errorf("forking a missing run: err = %v", err)
	}
}

// TestSCSTOptionsDefaultsFillZeroFields: a run saved before SCST existed has zero SCST options.
func TestSCSTOptionsDefaultsFillZeroFields(t *testing.T) {
	got := SCSTOptions{Enabled: true, LR: 1e-4}.withDefaults("tiny")
	want := DefaultSCSTOptions("tiny")
	want.Enabled, want.LR = true, 1e-4
	if got != want {
		t.Errorf("withDefaults: %+v, want %+v", got, want)
	}
}

// TestTrainChecksSCSTOptionsFirst: SCST options that cannot run are refused before anything is
// trained or written.
func TestTrainChecksSCSTOptionsFirst(t *testing.T) {
	for _, c := range []struct {
		edit func(o *TrainOptions)
		want string
	}{
		{func(o *TrainOptions) { o.SCST.Baseline = "greedyy" }, `baseline "greedyy"`},
		{func(o *TrainOptions) { o.SCST.Samples = 1 }, "at least 2 samples"},
		{func(o *TrainOptions) { o.NoValidation = true }, "needs a val split"},
		{func(o *TrainOptions) { o.SCST.LR = -1 }, "must be positive"},
	} {
		opts := smallTrainOptions(t, filepath.Join(t.TempDir(), "no-data-needed"), 1)
		opts.SCST = SCSTOptions{Enabled: true}
		c.edit(&opts)
		_, err := Train(context.Background(), captest.Backend(t), opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error with %q, got %v", c.want, err)
		}
		if _, err := os.Stat(opts.Out); err == nil {
			t.Errorf("%s was written before the options were checked", opts.Out)
		}
	}
}

func TestWithSCSTDefaults(t *testing.T) {
	none := func(string) bool { return false }
	tiny := DefaultTrainOptions("tiny")
	tiny.SCST.Enabled = true
	if o := WithSCSTDefaults(tiny, none); o.Epochs != SCSTTinyCrossEntropyEpochs || !o.Model.RegionCoords {
		t.Errorf("tiny LSTM with -scst: %d epochs, region coordinates %v; want %d and on", o.Epochs, o.Model.RegionCoords, SCSTTinyCrossEntropyEpochs)
	}
	given := func(name string) bool { return name == "epochs" || name == "region-coords" }
	if o := WithSCSTDefaults(tiny, given); o.Epochs != tiny.Epochs || o.Model.RegionCoords {
		t.Errorf("flags given: %d epochs, region coordinates %v; want the given %d and off", o.Epochs, o.Model.RegionCoords, tiny.Epochs)
	}
	tiny.SCST.Enabled = false
	if o := WithSCSTDefaults(tiny, none); o.Epochs != 8 || o.Model.RegionCoords {
		t.Errorf("without -scst: %d epochs, region coordinates %v; want the main command's 8 and off", o.Epochs, o.Model.RegionCoords)
	}
	tf := DefaultTrainOptionsFor("tiny", captioner.DecoderTransformer)
	tf.SCST.Enabled = true
	if o := WithSCSTDefaults(tf, none); o.Model.RegionCoords {
		t.Error("the Transformer got region coordinates, which are for the LSTM only")
	}
	resnet := DefaultTrainOptions("resnet50")
	resnet.SCST.Enabled = true
	if o := WithSCSTDefaults(resnet, none); o.Epochs != resnet.Epochs || o.Model.RegionCoords {
		t.Errorf("resnet50 with -scst: %d epochs, region coordinates %v; want its own %d and off", o.Epochs, o.Model.RegionCoords, resnet.Epochs)
	}
}
