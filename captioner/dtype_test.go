package captioner_test

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decode"
	"github.com/attncap/attncap/captioner/encoder"
	"github.com/attncap/attncap/captioner/internal/captest"
	"github.com/attncap/attncap/captioner/internal/testmodel"
	"github.com/attncap/attncap/captioner/layers"
	"github.com/attncap/attncap/captioner/train"
	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	gomlxtrain "github.com/gomlx/gomlx/ml/train"
)

// How far bfloat16 compute may move the logits from float32's: bfloat16 keeps 8 significant
// bits (relative rounding 2⁻⁹ ≈ 0.2 %), which a few layers of products and sums compound.
// bf16RelativeRMS bounds ‖Δlogits‖₂/‖logits‖₂; bf16MaxRelative bounds any one logit's |Δ|
// relative to the largest |logit|, and any attention weight's |Δ|.
// (Measured on these tiny decoders with random weights: 0.6–1.1 % RMS, 0.6–1.4 % max.)
const bf16RelativeRMS, bf16MaxRelative = 2e-2, 3e-2

// precisionVariants are the decoders (and Transformer options) the bfloat16 tests cover.
var precisionVariants = []struct {
	name string
	cfg  func() *captioner.Config
}{
	{"lstm", func() *captioner.Config { return testmodel.TinyDecoderConfig(captioner.DecoderLSTM, 12) }},
	{"transformer", func() *captioner.Config { return testmodel.TinyDecoderConfig(captioner.DecoderTransformer, 12) }},
	{"transformer-tied-sinusoidal", func() *captioner.Config {
		c := testmodel.TinyDecoderConfig(captioner.DecoderTransformer, 12)
		c.TieEmbeddings, c.Positions = true, "sinusoidal"
		return c
	}},
}

// bf16 returns a copy of cfg that computes in bfloat16.
func bf16(cfg *captioner.Config) *captioner.Config {
	c := *cfg
	c.DType = captioner.DTypeBFloat16
	return &c
}

// teacherForced runs Decoder.TeacherForced of cfg on the store's variables (creating those
// missing) and returns the logits [B, T−1, V] and attention [B, T−1, R] as float32.
func teacherForced(t *testing.T, cfg *captioner.Config, store *model.Store, regions, captions *tensors.Tensor) (logits, alphas []float32) {
	t.Helper()
	out, err := model.CallOnceN(captest.Backend(t), store, func(scope *model.Scope, regions, captions *Node) []*Node {
		l, a := captioner.NewDecoder(cfg).TeacherForced(scope, regions, captions)
		return []*Node{l, a}
	}, regions, captions)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out {
		if o.DType() != dtypes.Float32 {
			t.Fatalf("TeacherForced returned %s: want float32 outputs whatever the compute dtype", o.Shape())
		}
	}
	return tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])
}

// copyModelVariables makes a store with the model variables of from (the same values).
func copyModelVariables(t *testing.T, from *model.Store) *model.Store {
	t.Helper()
	to := model.NewStore()
	for v := range from.IterVariables() {
		if captioner.IsModelVariable(v.Path()) {
			if _, err := to.CreateVariable(v.Path(), v.MustValue()); err != nil {
				t.Fatal(err)
			}
		}
	}
	return to
}

// checkFloat32Variables fails for any floating-point variable of store that is not float32.
func checkFloat32Variables(t *testing.T, store *model.Store) {
	t.Helper()
	n := 0
	for v := range store.IterVariables() {
		if v.DType().IsFloat() {
			n++
			if v.DType() != dtypes.Float32 {
				t.Errorf("variable %s is %s: bfloat16 compute keeps float32 variables", v.Path(), v.Shape())
			}
		}
	}
	if n == 0 {
		t.Fatal("no variables")
	}
}

// relativeRMS is ‖a − b‖₂ / ‖b‖₂.
func relativeRMS(a, b []float32) float64 {
	var d2, b2 float64
	for i := range a {
		d := float64(a[i] - b[i])
		d2, b2 = d2+d*d, b2+float64(b[i])*float64(b[i])
	}
	return math.Sqrt(d2 / b2)
}

// checkAgree compares bfloat16 logits and attention with float32 ones: the logits' relative
// RMS difference within bf16RelativeRMS, every logit within bf16MaxRelative of the largest
// logit, every attention weight within bf16MaxRelative.
func checkAgree(t *testing.T, what string, logits16, logits32, alphas16, alphas32 []float32) {
	t.Helper()
	rms := relativeRMS(logits16, logits32)
	diff, scale := captest.MaxAbsDiff(logits16, logits32)
	alphaDiff, _ := captest.MaxAbsDiff(alphas16, alphas32)
	t.Logf("%s: logits relative RMS Δ %.2g, max |Δ| %.3g of max |logit| %.3g; attention max |Δ| %.3g", what, rms, diff, scale, alphaDiff)
	if rms > bf16RelativeRMS {
		t.Errorf("%s: bfloat16 logits differ from float32 by %.3g (relative RMS), more than %g", what, rms, bf16RelativeRMS)
	}
	if diff > bf16MaxRelative*scale {
		t.Errorf("%s: a bfloat16 logit differs from float32 by %.3g, more than %g × %.3g", what, diff, bf16MaxRelative, scale)
	}
	if alphaDiff > bf16MaxRelative {
		t.Errorf("%s: bfloat16 attention differs from float32 by %.3g, more than %g", what, alphaDiff, bf16MaxRelative)
	}
}

// TestBFloat16LogitsAgreeWithFloat32 runs each decoder with random weights in float32, then in
// bfloat16 on the very same variables: the bfloat16 graph must reuse them as they are (float32,
// no variable of its own) and give logits and attention within bfloat16's precision of the
// float32 ones.
func TestBFloat16LogitsAgreeWithFloat32(t *testing.T) {
	for _, v := range precisionVariants {
		t.Run(v.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(51, 52))
			cfg := v.cfg()
			regions, _ := captest.RandomTensor[float32](rng, 3, 5, 256)
			captions := tensors.FromValue([][]int32{{1, 4, 6, 9, 2, 0, 0, 0}, {1, 5, 2, 0, 0, 0, 0, 0}, {1, 10, 10, 7, 8, 6, 5, 2}})
			store32 := model.NewStore()
			store32.SetParam(model.ParamInitialSeed, int64(3))
			logits32, alphas32 := teacherForced(t, cfg, store32, regions, captions)
			store16 := copyModelVariables(t, store32)
			before := store16.NumVariables()
			logits16, alphas16 := teacherForced(t, bf16(cfg), store16, regions, captions)
			if after := store16.NumVariables(); after != before {
				t.Errorf("the bfloat16 graph created %d variables of its own", after-before)
			}
			checkFloat32Variables(t, store16)
			checkAgree(t, v.name, logits16, logits32, alphas16, alphas32)
		})
	}
}

// bf16TrainedModel trains a bfloat16 copy of cfg (dropout 0.1, so that it trains in bfloat16
// too) with train.NewOptimizer (Adam, learning rate 0.01, clipping at 5) for steps steps on 8 captions
// of fixed random regions [8, 4, 256], and returns the model, the regions, the captions [8, T]
// and the loss of each step.
func bf16TrainedModel(t *testing.T, cfg *captioner.Config, steps int) (m *captioner.Model, regions, captions *tensors.Tensor, losses []float64) {
	t.Helper()
	backend := captest.Backend(t)
	rng := rand.New(rand.NewPCG(53, 54))
	words := [][]string{
		{"a", "red", "circle"}, {"a", "blue", "square"}, {"two", "green", "triangles"},
		{"a", "red", "square", "above", "a", "circle"}, {"a", "blue", "circle"}, {"a", "green", "square"},
		{"two", "red", "circles"}, {"a", "blue", "triangle", "left", "of", "a", "square"},
	}
	vocab := text.BuildVocab(words, 1)
	c := *bf16(cfg)
	c.MaxLen, c.Dropout = 10, 0.1
	m, err := captioner.NewModel(backend, c, vocab)
	if err != nil {
		t.Fatal(err)
	}
	m.Store.SetParam(model.ParamInitialSeed, int64(7))
	regions, _ = captest.RandomTensor[float32](rng, len(words), 4, 256)
	var ids []int32
	for _, w := range words {
		enc, _ := vocab.Encode(w, c.MaxLen)
		ids = append(ids, enc...)
	}
	captions = tensors.FromFlatDataAndDimensions(ids, len(words), c.MaxLen)
	trainer := gomlxtrain.NewTrainer(backend, m.Store, m.ModelFn(), m.LossFn(), train.NewOptimizer(0.01, 0, 5), nil, nil)
	for step := 0; step < steps; step++ {
		out, err := trainer.TrainStep(gomlxtrain.Batch{Inputs: []*tensors.Tensor{regions, captions}, Labels: []*tensors.Tensor{captions}})
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, float64(tensors.ToScalar[float32](out[0])))
	}
	m.VariablesChanged()
	return m, regions, captions, losses
}

// TestBFloat16TrainingKeepsFloat32Weights trains each decoder in bfloat16 for a few steps: the
// loss must fall, every variable (the model's and Adam's moments) stay float32, and the model
// folder it saves (dtype in config.json) must load into a float32 model that scores the
// captions as it does. (Trained attention is sharp: where two regions nearly tie, bfloat16
// rounding can move one logit by far more than the rest — seen at a <pad> position — so the
// check is on the cross-entropy of the real words rather than on every logit.)
func TestBFloat16TrainingKeepsFloat32Weights(t *testing.T) {
	for _, v := range precisionVariants {
		t.Run(v.name, func(t *testing.T) {
			m, regions, captions, losses := bf16TrainedModel(t, v.cfg(), 25)
			first, last := losses[0], losses[len(losses)-1]
			t.Logf("loss %.4f → %.4f in %d bfloat16 steps", first, last, len(losses))
			if !(last < 0.6*first) {
				t.Errorf("bfloat16 training: loss %.4f → %.4f in %d steps, want it below 0.6× the first", first, last, len(losses))
			}
			checkFloat32Variables(t, m.Store)
			dir := t.TempDir()
			if err := m.Save(dir); err != nil {
				t.Fatal(err)
			}
			saved, err := captioner.LoadConfig(filepath.Join(dir, captioner.ConfigFile))
			if err != nil {
				t.Fatal(err)
			}
			if saved.DType != captioner.DTypeBFloat16 {
				t.Errorf("config.json dtype %q, want %q", saved.DType, captioner.DTypeBFloat16)
			}
			cfg32 := *saved
			cfg32.DType = ""
			m32, err := captioner.NewModel(m.Backend, cfg32, m.Vocab)
			if err != nil {
				t.Fatal(err)
			}
			if err := captioner.LoadVariables(m32.Store, filepath.Join(dir, captioner.VariablesFile)); err != nil {
				t.Fatal(err)
			}
			ce16, ce32 := crossEntropy(t, m, regions, captions), crossEntropy(t, m32, regions, captions)
			t.Logf("cross-entropy of the captions: bfloat16 %.5f, float32 %.5f", ce16, ce32)
			if math.Abs(ce16-ce32) > bf16MaxRelative*ce32 {
				t.Errorf("the float32 model loaded from the bfloat16 one scores the captions %.5f, the bfloat16 model %.5f", ce32, ce16)
			}
		})
	}
}

// crossEntropy is the model's cross-entropy (CaptionLoss's CE) on captions [B, T] of regions.
func crossEntropy(t *testing.T, m *captioner.Model, regions, captions *tensors.Tensor) float64 {
	t.Helper()
	out, err := model.CallOnce(m.Backend, m.Store, m.LossGraph, regions, captions)
	if err != nil {
		t.Fatal(err)
	}
	return float64(tensors.ToScalar[float32](out))
}

// TestBFloat16Decoding decodes with a bfloat16 model by greedy search (the host loop and the
// loop in one graph) and beam search: every caption's log-probability must be that of teacher
// forcing its words with the same weights in float32 (within bfloat16's precision), and each
// attention map (a float32 softmax) must sum to 1.
func TestBFloat16Decoding(t *testing.T) {
	for _, v := range precisionVariants[:2] {
		t.Run(v.name, func(t *testing.T) {
			m, regions, _, _ := bf16TrainedModel(t, v.cfg(), 25)
			m32 := &captioner.Model{Config: &captioner.Config{}, Vocab: m.Vocab, Store: copyModelVariables(t, m.Store), Backend: m.Backend}
			*m32.Config = *m.Config
			m32.Config.DType = ""
			for _, opts := range []decode.Options{{Loop: decode.LoopHost}, {Loop: decode.LoopGraph}, {Beam: 3}} {
				caps, err := decode.Beam(m, regions, opts)
				if err != nil {
					t.Fatalf("%+v: %v", opts, err)
				}
				for i, c := range caps {
					checkAttentionSumsToOne(t, c)
					if !c.Finished {
						continue
					}
					want := testmodel.TeacherForcedLogProb(t, m32, regions, i, c.Tokens)
					if math.Abs(want-c.LogProb) > bf16MaxRelative*(1+math.Abs(want)) {
						t.Errorf("%+v image %d %q: bfloat16 log-prob %.4f, float32 teacher forcing %.4f", opts, i, c.Words, c.LogProb, want)
					}
				}
			}
		})
	}
}

// TestBFloat16SamplingForSCST draws captions in one graph (decode.SampleCaptions, as the self-critical
// stage does) with a bfloat16 model: every word is a word of the vocabulary, each row starts
// with <start>.
func TestBFloat16SamplingForSCST(t *testing.T) {
	for _, v := range precisionVariants[:2] {
		t.Run(v.name, func(t *testing.T) {
			m, regions, _, _ := bf16TrainedModel(t, v.cfg(), 5)
			const k, steps = 3, 6
			out, err := model.CallOnce(m.Backend, m.Store, func(scope *model.Scope, regions *Node) *Node {
				return decode.SampleCaptions(scope, m.Config, regions, k, steps, false)
			}, regions)
			if err != nil {
				t.Fatal(err)
			}
			rows := regions.Shape().Dimensions[0] * k
			ids := tensors.MustCopyFlatData[int32](out)
			if len(ids) != rows*(steps+1) {
				t.Fatalf("sampled %s, want [%d, %d]", out.Shape(), rows, steps+1)
			}
			for i, id := range ids {
				if id < 0 || int(id) >= m.Config.VocabSize || (i%(steps+1) == 0) != (id == text.StartID) {
					t.Fatalf("sampled ids %v: id %d at %d", ids, id, i)
				}
			}
		})
	}
}

// checkAttentionSumsToOne fails for an attention map of c that does not sum to 1.
func checkAttentionSumsToOne(t *testing.T, c decode.Caption) {
	t.Helper()
	for w, a := range c.Attention {
		var sum float64
		for _, x := range a {
			sum += float64(x)
		}
		if math.Abs(sum-1) > 1e-4 {
			t.Errorf("%q: the attention of word %d sums to %.6f", c.Words, w, sum)
		}
	}
}

// TestBFloat16EncoderAgreesWithFloat32 runs the tiny encoder (its grid pooled, as with -grid)
// and encoder.ResNet-18 with random weights in float32, then in bfloat16 on the same variables: the
// grid must come back as float32, within bfloat16's precision of the float32 one, with no
// variable of the bfloat16 graph's own.
func TestBFloat16EncoderAgreesWithFloat32(t *testing.T) {
	for _, c := range []struct {
		encoder    string
		size, grid int
	}{{"tiny", 32, 2}, {"resnet18", 64, 0}} {
		t.Run(c.encoder, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(55, 56))
			cfg := captioner.DefaultConfig(c.encoder)
			cfg.Weights, cfg.ImageSize, cfg.GridSize = "", c.size, c.grid
			images, _ := captest.RandomTensor[float32](rng, 2, c.size, c.size, 3)
			store32 := model.NewStore()
			store32.SetParam(model.ParamInitialSeed, int64(5))
			grid32 := encodeGrid(t, &cfg, store32, images)
			store16 := copyModelVariables(t, store32)
			before := store16.NumVariables()
			grid16 := encodeGrid(t, bf16(&cfg), store16, images)
			if after := store16.NumVariables(); after != before {
				t.Errorf("the bfloat16 graph created %d variables of its own", after-before)
			}
			checkFloat32Variables(t, store16)
			rms := relativeRMS(grid16, grid32)
			t.Logf("%s grid: relative RMS Δ %.2g", c.encoder, rms)
			if rms > bf16RelativeRMS {
				t.Errorf("bfloat16 grid differs from float32 by %.3g (relative RMS), more than %g", rms, bf16RelativeRMS)
			}
		})
	}
}

// encodeGrid runs captioner.EncodeGrid of cfg on the store's variables (creating those missing) and
// returns the grid, which must be float32.
func encodeGrid(t *testing.T, cfg *captioner.Config, store *model.Store, images *tensors.Tensor) []float32 {
	t.Helper()
	out, err := model.CallOnce(captest.Backend(t), store, func(scope *model.Scope, images *Node) *Node {
		return encoder.Grid(scope, cfg.EncoderOptions(), images)
	}, images)
	if err != nil {
		t.Fatal(err)
	}
	if out.DType() != dtypes.Float32 {
		t.Fatalf("EncodeGrid returned %s: want float32 whatever the compute dtype", out.Shape())
	}
	return tensors.MustCopyFlatData[float32](out)
}

// TestBFloat16TrainsTheEncoder trains the tiny encoder with the LSTM end to end from images in
// bfloat16: the loss must fall and the encoder's variables change, staying float32.
func TestBFloat16TrainsTheEncoder(t *testing.T) {
	backend := captest.Backend(t)
	rng := rand.New(rand.NewPCG(57, 58))
	vocab := text.BuildVocab([][]string{{"a", "b", "c"}}, 1)
	cfg := captioner.DefaultConfig("tiny")
	cfg.ImageSize, cfg.EmbedDim, cfg.HiddenDim, cfg.AttentionDim, cfg.MaxLen, cfg.DType = 32, 16, 32, 16, 5, captioner.DTypeBFloat16
	m, err := captioner.NewModel(backend, cfg, vocab)
	if err != nil {
		t.Fatal(err)
	}
	m.Store.SetParam(model.ParamInitialSeed, int64(9))
	images, _ := captest.RandomTensor[float32](rng, 2, 32, 32, 3)
	ids, _ := vocab.Encode([]string{"a", "b"}, 5)
	ids2, _ := vocab.Encode([]string{"c"}, 5)
	captions := tensors.FromFlatDataAndDimensions(append(ids, ids2...), 2, 5)
	clone := func(x *tensors.Tensor) *tensors.Tensor { // each call may take its inputs over
		c, err := x.LocalClone()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ce := func() float64 { return crossEntropy(t, m, clone(images), clone(captions)) }
	trainSteps(t, m, clone(images), clone(captions), 1)
	first, before := ce(), snapshot(t, m, "/encoder/conv1/weight")
	trainSteps(t, m, clone(images), clone(captions), 40)
	last, after := ce(), snapshot(t, m, "/encoder/conv1/weight")
	t.Logf("cross-entropy %.4f → %.4f", first, last)
	if !(last < 0.7*first) { // float32, the same steps: 1.93 → 0.87 (dropout 0.2)
		t.Errorf("bfloat16 training from images: cross-entropy %.4f → %.4f, want it below 0.7× the first", first, last)
	}
	if !changed(before["/encoder/conv1/weight"], after["/encoder/conv1/weight"]) {
		t.Error("the encoder did not train")
	}
	checkFloat32Variables(t, m.Store)
}

// TestDTypeErrorsAreClear: a compute dtype other than float32 or bfloat16 is refused with a
// message naming it and the choices, by Validate, captioner.NewEncoderModel and captioner.LoadConfig, while
// config.json files without a dtype load as float32.
func TestDTypeErrorsAreClear(t *testing.T) {
	want := `dtype "float16": want float32 (the default) or bfloat16`
	cfg := testmodel.TinyConfig(20)
	cfg.DType = "float16"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Validate: %v, want %q", err, want)
	}
	if _, err := captioner.NewEncoderModel(captest.Backend(t), *cfg); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("NewEncoderModel: %v, want %q", err, want)
	}
	for _, ok := range []string{"", captioner.DTypeFloat32, captioner.DTypeBFloat16} {
		cfg.DType = ok
		if err := cfg.Validate(); err != nil {
			t.Errorf("dtype %q: %v", ok, err)
		}
	}

	dir := t.TempDir()
	path := filepath.Join(dir, captioner.ConfigFile)
	old := `{"encoder": "tiny", "image_size": 64, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
	"vocab_size": 41, "max_len": 16, "embed_dim": 128, "hidden_dim": 256, "attention_dim": 128, "dropout": 0.2, "attention_reg": 1}`
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, err := captioner.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.DType != "" || layers.ComputeDType(loaded.DType, dtypes.Float32) != dtypes.Float32 {
		t.Errorf("a config.json without dtype: DType %q, computes in %s; want float32", loaded.DType, layers.ComputeDType(loaded.DType, dtypes.Float32))
	}
	if err := os.WriteFile(path, []byte(strings.Replace(old, "{", `{"dtype": "fp8",`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := captioner.LoadConfig(path); err == nil || !strings.Contains(err.Error(), `dtype "fp8"`) || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadConfig with dtype fp8: %v, want an error naming the file and the dtype", err)
	}
}
