package captioner

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// sharedBackend is one Go backend for all tests: tensors are bound to the backend that used them.
var sharedBackend = sync.OnceValues(func() (compute.Backend, error) {
	b, _, err := NewBackend("")
	return b, err
})

func testBackend(t testing.TB) compute.Backend {
	t.Helper()
	b, err := sharedBackend()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randomTensor[T float32 | float64](rng *rand.Rand, dims ...int) (*tensors.Tensor, []T) {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]T, n)
	for i := range data {
		data[i] = T(rng.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(data, dims...), data
}

func maxAbsDiff(a, b []float32) (diff, scale float64) {
	for i := range a {
		diff = math.Max(diff, math.Abs(float64(a[i]-b[i])))
		scale = math.Max(scale, math.Abs(float64(b[i])))
	}
	return
}

func TestConvIm2colMatchesNative(t *testing.T) {
	backend := testBackend(t)
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct{ h, w, cin, cout, k, stride, pad int }{
		{9, 11, 5, 4, 3, 1, 1},
		{9, 11, 5, 4, 3, 2, 1},
		{16, 16, 3, 8, 7, 2, 3}, // the ResNet stem
		{8, 6, 6, 5, 1, 2, 0},   // a projection shortcut
		{7, 7, 2, 3, 3, 1, 0},
	}
	for _, c := range cases {
		x, _ := randomTensor[float32](rng, 2, c.h, c.w, c.cin)
		kernel, _ := randomTensor[float32](rng, c.k, c.k, c.cin, c.cout)
		run := func(impl ConvImpl) []float32 {
			out, err := graph.ExecOnce(backend, func(x, k *graph.Node) *graph.Node { return Conv2D(x, k, c.stride, c.pad, impl) }, x, kernel)
			if err != nil {
				t.Fatal(err)
			}
			return tensors.MustCopyFlatData[float32](out)
		}
		native, im2col := run(ConvNative), run(ConvIm2col)
		if len(native) != len(im2col) {
			t.Fatalf("%+v: sizes %d vs %d", c, len(native), len(im2col))
		}
		if diff, scale := maxAbsDiff(im2col, native); diff > 1e-5*math.Max(1, scale) {
			t.Errorf("%+v: im2col differs from native by %g (scale %g)", c, diff, scale)
		}
	}
}

func TestMaxPool2DMatchesBackendMaxPool(t *testing.T) {
	backend := testBackend(t)
	rng := rand.New(rand.NewPCG(31, 32))
	for _, c := range []struct{ h, w, k, stride, pad int }{{9, 8, 3, 2, 1}, {8, 8, 2, 2, 0}, {7, 5, 3, 1, 1}} {
		x, _ := randomTensor[float32](rng, 2, c.h, c.w, 3)
		gathered, err := graph.ExecOnce(backend, func(x *graph.Node) *graph.Node { return MaxPool2D(x, c.k, c.stride, c.pad) }, x)
		if err != nil {
			t.Fatal(err)
		}
		native, err := graph.ExecOnce(backend, func(x *graph.Node) *graph.Node {
			return graph.MaxPool(x).Window(c.k).Strides(c.stride).PaddingPerDim([][2]int{{c.pad, c.pad}, {c.pad, c.pad}}).Done()
		}, x)
		if err != nil {
			t.Fatal(err)
		}
		a, b := tensors.MustCopyFlatData[float32](gathered), tensors.MustCopyFlatData[float32](native)
		if !equalInts(gathered.Shape().Dimensions, native.Shape().Dimensions) {
			t.Fatalf("%+v: shapes %v vs %v", c, gathered.Shape(), native.Shape())
		}
		if diff, _ := maxAbsDiff(a, b); diff != 0 {
			t.Errorf("%+v: differs by %g", c, diff)
		}
	}
}

func TestMaxPool2DGradientMatchesBackendMaxPool(t *testing.T) {
	backend := testBackend(t)
	rng := rand.New(rand.NewPCG(33, 34))
	for _, c := range []struct{ h, w, k, stride, pad int }{{9, 8, 3, 2, 1}, {8, 8, 2, 2, 0}} {
		x, _ := randomTensor[float32](rng, 2, c.h, c.w, 5)
		grad := func(pool func(x *graph.Node) *graph.Node) []float32 {
			out, err := graph.ExecOnce(backend, func(x *graph.Node) *graph.Node {
				y := pool(x)
				// Weight each output differently so that every routing error shows.
				w := graph.AddScalar(graph.MulScalar(graph.ConvertDType(graph.IotaFull(x.Graph(), y.Shape()), y.DType()), 0.01), 1)
				return graph.Gradient(graph.ReduceAllSum(graph.Mul(y, w)), x)[0]
			}, x)
			if err != nil {
				t.Fatal(err)
			}
			return tensors.MustCopyFlatData[float32](out)
		}
		gathered := grad(func(x *graph.Node) *graph.Node { return MaxPool2D(x, c.k, c.stride, c.pad) })
		native := grad(func(x *graph.Node) *graph.Node {
			return graph.MaxPool(x).Window(c.k).Strides(c.stride).PaddingPerDim([][2]int{{c.pad, c.pad}, {c.pad, c.pad}}).Done()
		})
		if diff, _ := maxAbsDiff(gathered, native); diff > 1e-6 {
			t.Errorf("%+v: gradients differ by %g", c, diff)
		}
	}
}

func TestAdaptiveAvgPoolMatchesDefinition(t *testing.T) {
	backend := testBackend(t)
	rng := rand.New(rand.NewPCG(3, 4))
	const h, w, c, g = 7, 5, 2, 3
	x, data := randomTensor[float32](rng, 1, h, w, c)
	out, err := graph.ExecOnce(backend, func(x *graph.Node) *graph.Node { return AdaptiveAvgPool(x, g) }, x)
	if err != nil {
		t.Fatal(err)
	}
	got := tensors.MustCopyFlatData[float32](out)
	// PyTorch's rule: cell i spans [floor(i·H/G), ceil((i+1)·H/G)).
	bounds := func(i, n int) (int, int) { return i * n / g, ((i+1)*n + g - 1) / g }
	for i := 0; i < g; i++ {
		r0, r1 := bounds(i, h)
		for j := 0; j < g; j++ {
			c0, c1 := bounds(j, w)
			for ch := 0; ch < c; ch++ {
				var sum float64
				for r := r0; r < r1; r++ {
					for cc := c0; cc < c1; cc++ {
						sum += float64(data[(r*w+cc)*c+ch])
					}
				}
				want := sum / float64((r1-r0)*(c1-c0))
				if v := got[(i*g+j)*c+ch]; math.Abs(float64(v)-want) > 1e-5 {
					t.Fatalf("cell (%d,%d,%d) = %v, want %v", i, j, ch, v, want)
				}
			}
		}
	}
}

// tinyConfig is a small LSTM decoder over regions of the tiny encoder's 256 channels.
func tinyConfig(vocab int) *Config { return tinyDecoderConfig(DecoderLSTM, vocab) }

// decoders are the decoders every decoding test runs with.
var decoders = []string{DecoderLSTM, DecoderTransformer}

// tinyDecoderConfig is a small decoder of the given kind over regions of 256 channels.
func tinyDecoderConfig(decoder string, vocab int) *Config {
	c := DefaultConfigFor("tiny", decoder)
	c.VocabSize, c.MaxLen, c.EmbedDim, c.Dropout = vocab, 8, 16, 0
	if decoder == DecoderLSTM {
		c.HiddenDim, c.AttentionDim = 32, 16
	} else {
		c.Layers, c.Heads, c.FFDim = 2, 2, 32
	}
	return &c
}

func TestAttentionWeightsSumToOne(t *testing.T) {
	backend := testBackend(t)
	rng := rand.New(rand.NewPCG(5, 6))
	cfg := tinyConfig(10)
	regions, _ := randomTensor[float32](rng, 3, 6, 256)
	h, _ := randomTensor[float32](rng, 3, cfg.HiddenDim)
	store := model.NewStore()
	out, err := model.CallOnce(backend, store, func(scope *model.Scope, regions, h *graph.Node) *graph.Node {
		_, alpha := Attend(scope, cfg, regions, ProjectRegions(scope, cfg, regions), h)
		return alpha
	}, regions, h)
	if err != nil {
		t.Fatal(err)
	}
	alpha := tensors.MustCopyFlatData[float32](out)
	for b := 0; b < 3; b++ {
		var sum float64
		for r := 0; r < 6; r++ {
			v := alpha[b*6+r]
			if v < 0 || v > 1 {
				t.Fatalf("alpha[%d,%d] = %v outside [0,1]", b, r, v)
			}
			sum += float64(v)
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Fatalf("image %d: attention sums to %v", b, sum)
		}
	}
}

// lossOf evaluates CaptionLoss on given tensors.
func lossOf(t *testing.T, backend compute.Backend, cfg *Config, captions, logits, alphas *tensors.Tensor) (loss, ce float64) {
	t.Helper()
	out, err := graph.ExecOnceN(backend, func(c, l, a *graph.Node) []*graph.Node {
		loss, ce := CaptionLoss(cfg, c, l, a)
		return []*graph.Node{loss, ce}
	}, captions, logits, alphas)
	if err != nil {
		t.Fatal(err)
	}
	return tensors.ToScalar[float64](out[0]), tensors.ToScalar[float64](out[1])
}

func TestCaptionLossIsMaskedCrossEntropy(t *testing.T) {
	backend := testBackend(t)
	rng := rand.New(rand.NewPCG(7, 8))
	const b, steps, v, r = 2, 4, 6, 3
	cfg := tinyConfig(v)
	cfg.AttentionReg = 0.5
	// <start>=1 w w <end>=2 <pad>… : image 0 has 3 real targets, image 1 has 2.
	captions := tensors.FromValue([][]int32{{1, 4, 5, 2, 0}, {1, 5, 2, 0, 0}})
	logits, lg := randomTensor[float64](rng, b, steps, v)
	alphas, al := randomTensor[float64](rng, b, steps, r)
	loss, ce := lossOf(t, backend, cfg, captions, logits, alphas)

	// By hand: mean over real targets of −log softmax; regulariser over real steps.
	targets := [][]int{{4, 5, 2, 0}, {5, 2, 0, 0}}
	var sum float64
	n := 0
	attn := make([][r]float64, b)
	for i := 0; i < b; i++ {
		for s := 0; s < steps; s++ {
			if targets[i][s] == 0 {
				continue
			}
			row := lg[(i*steps+s)*v : (i*steps+s+1)*v]
			var z float64
			for _, x := range row {
				z += math.Exp(x)
			}
			sum += math.Log(z) - row[targets[i][s]]
			n++
			for k := 0; k < r; k++ {
				attn[i][k] += al[(i*steps+s)*r+k]
			}
		}
	}
	wantCE := sum / float64(n)
	var reg float64
	for i := range attn {
		for k := 0; k < r; k++ {
			reg += (1 - attn[i][k]) * (1 - attn[i][k])
		}
	}
	wantLoss := wantCE + 0.5*reg/float64(b*r)
	if math.Abs(ce-wantCE) > 1e-9 || math.Abs(loss-wantLoss) > 1e-9 {
		t.Fatalf("ce %v loss %v, want %v and %v", ce, loss, wantCE, wantLoss)
	}

	// Changing logits and attention at padded steps changes nothing.
	for i := 0; i < b; i++ {
		for s := 0; s < steps; s++ {
			if targets[i][s] == 0 {
				for k := 0; k < v; k++ {
					lg[(i*steps+s)*v+k] = rng.NormFloat64() * 10
				}
				for k := 0; k < r; k++ {
					al[(i*steps+s)*r+k] = rng.NormFloat64() * 10
				}
			}
		}
	}
	loss2, ce2 := lossOf(t, backend, cfg, captions,
		tensors.FromFlatDataAndDimensions(lg, b, steps, v), tensors.FromFlatDataAndDimensions(al, b, steps, r))
	if loss2 != loss || ce2 != ce {
		t.Fatalf("padded steps changed the loss: %v → %v", loss, loss2)
	}
}

func TestLossGradientMatchesFiniteDifferences(t *testing.T) {
	backend := testBackend(t)
	rng := rand.New(rand.NewPCG(9, 10))
	cfg := tinyConfig(7)
	cfg.MaxLen = 5
	regions, _ := randomTensor[float64](rng, 2, 4, 256)
	captions := tensors.FromValue([][]int32{{1, 4, 6, 2, 0}, {1, 5, 2, 0, 0}})
	store := model.NewStore()
	lossFn := func(scope *model.Scope, regions, captions *graph.Node) *graph.Node {
		logits, alphas := TeacherForced(scope, cfg, regions, captions)
		l, _ := CaptionLoss(cfg, captions, logits, alphas)
		return l
	}
	// Analytic gradient of the loss with respect to a few variables.
	paths := []string{"/decoder/lstm/dense/weights", "/decoder/attention_enc/dense/weights", "/decoder/embedding/embeddings", "/decoder/gate/dense/biases"}
	if _, err := model.CallOnce(backend, store, lossFn, regions, captions); err != nil {
		t.Fatal(err)
	}
	for _, path := range paths {
		v := store.GetVariable(path)
		if v == nil {
			t.Fatalf("no variable %s", path)
		}
		grad, err := model.CallOnce(backend, store, func(scope *model.Scope, regions, captions *graph.Node) *graph.Node {
			l := lossFn(scope, regions, captions)
			// AddScalar(·, 0): compute v0.1.14's Go backend panics (index out of range in its
			// executor) when a multi-output gradient node is itself a graph output.
			return graph.AddScalar(graph.Gradient(l, v.NodeValue(l.Graph()))[0], 0)
		}, regions, captions)
		if err != nil {
			t.Fatal(err)
		}
		g := toFloat64(grad)
		values := tensors.MustCopyFlatData[float64](v.MustValue())
		for trial := 0; trial < 4; trial++ {
			i := rng.IntN(len(values))
			const eps = 1e-5
			at := func(x float64) float64 {
				vals := append([]float64{}, values...)
				vals[i] = x
				v.MustSetValue(tensors.FromFlatDataAndDimensions(vals, v.Shape().Dimensions...))
				out, err := model.CallOnce(backend, store, lossFn, regions, captions)
				if err != nil {
					t.Fatal(err)
				}
				return tensors.ToScalar[float64](out)
			}
			numeric := (at(values[i]+eps) - at(values[i]-eps)) / (2 * eps)
			v.MustSetValue(tensors.FromFlatDataAndDimensions(values, v.Shape().Dimensions...))
			if math.Abs(numeric-g[i]) > 1e-6+1e-4*math.Abs(numeric) {
				t.Errorf("%s[%d]: analytic %.9g, finite differences %.9g", path, i, g[i], numeric)
			}
		}
	}
}

// trainedTinyModel overfits the tiny LSTM decoder to captions of 8 images with fixed random
// regions, and returns it with its regions.
func trainedTinyModel(t *testing.T) (*Model, *tensors.Tensor, [][]string) {
	t.Helper()
	return trainedTinyDecoder(t, DecoderLSTM)
}

// trainedTinyDecoder is trainedTinyModel with the given decoder.
func trainedTinyDecoder(t *testing.T, decoder string) (*Model, *tensors.Tensor, [][]string) {
	t.Helper()
	backend := testBackend(t)
	rng := rand.New(rand.NewPCG(11, 12))
	captions := [][]string{
		{"a", "red", "circle"}, {"a", "blue", "square"}, {"two", "green", "triangles"},
		{"a", "red", "square", "above", "a", "circle"}, {"a", "blue", "circle"}, {"a", "green", "square"},
		{"two", "red", "circles"}, {"a", "blue", "triangle", "left", "of", "a", "square"},
	}
	vocab := text.BuildVocab(captions, 1)
	cfg := *tinyDecoderConfig(decoder, 0)
	cfg.MaxLen = 10
	m, err := NewModel(backend, cfg, vocab)
	if err != nil {
		t.Fatal(err)
	}
	m.Store.SetParam(model.ParamInitialSeed, int64(7)) // same initial weights every run
	regions, _ := randomTensor[float32](rng, len(captions), 4, 256)
	var ids []int32
	for _, c := range captions {
		enc, _ := vocab.Encode(c, cfg.MaxLen)
		ids = append(ids, enc...)
	}
	caps := tensors.FromFlatDataAndDimensions(ids, len(captions), cfg.MaxLen)
	trainer := train.NewTrainer(backend, m.Store, m.ModelFn(), m.LossFn(), optimizer.Adam().LearningRate(0.01).Done(), nil, nil)
	for step := 0; step < 150; step++ {
		if _, err := trainer.TrainStep(train.Batch{Inputs: []*tensors.Tensor{regions, caps}, Labels: []*tensors.Tensor{caps}}); err != nil {
			t.Fatal(err)
		}
	}
	return m, regions, captions
}

func TestTinyModelOverfitsEightCaptions(t *testing.T) {
	for _, decoder := range decoders {
		t.Run(decoder, func(t *testing.T) {
			m, regions, captions := trainedTinyDecoder(t, decoder)
			got, err := m.Greedy(regions, DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range captions {
				if strings.Join(got[i].Words, " ") != strings.Join(c, " ") || !got[i].Finished {
					t.Errorf("image %d: decoded %q (finished %v), want %q", i, got[i].Words, got[i].Finished, c)
				}
				if len(got[i].Attention) != len(got[i].Words) || len(got[i].Attention[0]) != 4 {
					t.Errorf("image %d: %d attention maps for %d words", i, len(got[i].Attention), len(got[i].Words))
				}
			}
		})
	}
}

func TestBeamSizeOneEqualsGreedy(t *testing.T) {
	for _, decoder := range decoders {
		t.Run(decoder, func(t *testing.T) {
			m, regions, _ := trainedTinyDecoder(t, decoder)
			// A model mid-training makes the choice less obvious: perturb the regions.
			rng := rand.New(rand.NewPCG(13, 14))
			noisy, _ := randomTensor[float32](rng, 8, 4, 256)
			for _, r := range []*tensors.Tensor{regions, noisy} {
				greedy, err := m.Greedy(r, DecodeOptions{})
				if err != nil {
					t.Fatal(err)
				}
				beam, err := m.BeamSearch(r, DecodeOptions{Beam: 1})
				if err != nil {
					t.Fatal(err)
				}
				for i := range greedy {
					if strings.Join(beam[i].Words, " ") != strings.Join(greedy[i].Words, " ") || math.Abs(beam[i].LogProb-greedy[i].LogProb) > 1e-9 {
						t.Errorf("image %d: beam 1 %q (%v), greedy %q (%v)", i, beam[i].Words, beam[i].LogProb, greedy[i].Words, greedy[i].LogProb)
					}
				}
			}
		})
	}
}

func TestBeamSearchNeverWorseThanGreedy(t *testing.T) {
	for _, decoder := range decoders {
		t.Run(decoder, func(t *testing.T) {
			m, _, _ := trainedTinyDecoder(t, decoder)
			rng := rand.New(rand.NewPCG(15, 16))
			noisy, _ := randomTensor[float32](rng, 16, 4, 256)
			greedy, err := m.Greedy(noisy, DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			better := 0
			for _, k := range []int{2, 3, 5} {
				beam, err := m.BeamSearch(noisy, DecodeOptions{Beam: k})
				if err != nil {
					t.Fatal(err)
				}
				for i := range greedy {
					if greedy[i].Finished && (!beam[i].Finished || beam[i].LogProb < greedy[i].LogProb-1e-9) {
						t.Errorf("k=%d image %d: beam %q (%v) worse than greedy %q (%v)", k, i, beam[i].Words, beam[i].LogProb, greedy[i].Words, greedy[i].LogProb)
					}
					if beam[i].LogProb > greedy[i].LogProb+1e-6 {
						better++
					}
				}
			}
			t.Logf("beam search found a more probable caption than greedy for %d of 48 image/beam pairs", better)
		})
	}
}

func TestBeamSearchReturnsUnfinishedWhenNoBeamEnds(t *testing.T) {
	for _, decoder := range decoders {
		t.Run(decoder, func(t *testing.T) {
			m, regions, _ := trainedTinyDecoder(t, decoder)
			// Make <end> impossible: its output bias becomes hugely negative.
			bias := m.Store.GetVariable("/decoder/output/dense/biases")
			if bias == nil {
				t.Fatal("no output bias variable")
			}
			values := tensors.MustCopyFlatData[float32](bias.MustValue())
			values[text.EndID] = -1e9
			bias.MustSetValue(tensors.FromFlatDataAndDimensions(values, len(values)))
			for _, k := range []int{1, 3} {
				caps, err := m.BeamSearch(regions, DecodeOptions{Beam: k, MaxLen: 6})
				if err != nil {
					t.Fatal(err)
				}
				for i, c := range caps {
					if c.Finished || len(c.Words) != 5 || math.IsInf(c.LogProb, 0) || math.IsNaN(c.LogProb) {
						t.Errorf("k=%d image %d: %q finished=%v logprob=%v; want 5 unfinished words", k, i, c.Words, c.Finished, c.LogProb)
					}
				}
			}
		})
	}
}

func TestModelFolderAloneReproducesCaptions(t *testing.T) {
	for _, decoder := range decoders {
		t.Run(decoder, func(t *testing.T) {
			m, regions, _ := trainedTinyDecoder(t, decoder)
			before, err := m.BeamSearch(regions, DecodeOptions{Beam: 3})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := m.Save(dir); err != nil {
				t.Fatal(err)
			}
			loaded, err := LoadModel(testBackend(t), dir)
			if err != nil {
				t.Fatal(err)
			}
			after, err := loaded.BeamSearch(regions, DecodeOptions{Beam: 3})
			if err != nil {
				t.Fatal(err)
			}
			for i := range before {
				if strings.Join(before[i].Words, " ") != strings.Join(after[i].Words, " ") || before[i].LogProb != after[i].LogProb {
					t.Errorf("image %d: %q (%v) before saving, %q (%v) after loading", i, before[i].Words, before[i].LogProb, after[i].Words, after[i].LogProb)
				}
			}
			if *loaded.Config != *m.Config {
				t.Errorf("config changed: %+v vs %+v", loaded.Config, m.Config)
			}
			// A folder missing a file says which.
			os.Remove(filepath.Join(dir, VocabFile))
			if _, err := LoadModel(testBackend(t), dir); err == nil || !strings.Contains(err.Error(), VocabFile) {
				t.Errorf("missing vocab: err = %v", err)
			}
		})
	}
}

func TestDecodingOneImage(t *testing.T) {
	for _, decoder := range decoders {
		t.Run(decoder, func(t *testing.T) {
			m, regions, captions := trainedTinyDecoder(t, decoder)
			one, err := m.gather(regions, []int32{2})
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []int{1, 3} {
				caps, err := m.BeamSearch(one, DecodeOptions{Beam: k})
				if err != nil {
					t.Fatal(err)
				}
				if len(caps) != 1 || strings.Join(caps[0].Words, " ") != strings.Join(captions[2], " ") {
					t.Errorf("beam %d on one image: %+v, want %q", k, caps, captions[2])
				}
			}
		})
	}
}

func TestTopAllowedWordsMatchesFullSort(t *testing.T) {
	backend := testBackend(t)
	rng := rand.New(rand.NewPCG(41, 42))
	const rows, vocab = 30, 40
	lp := make([]float32, rows*vocab)
	for i := range lp {
		lp[i] = float32(rng.IntN(10)) - 12 // many ties
	}
	for _, n := range []int{1, 2, 6, vocab} {
		out, err := graph.ExecOnceN(backend, func(x *graph.Node) []*graph.Node {
			v, ids := TopAllowedWords(x, n)
			return []*graph.Node{v, ids}
		}, tensors.FromFlatDataAndDimensions(lp, rows, vocab))
		if err != nil {
			t.Fatal(err)
		}
		values, ids := tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[int32](out[1])
		for r := 0; r < rows; r++ {
			row := lp[r*vocab : (r+1)*vocab]
			// Reference: the allowed words stably sorted by value, best first (ties: lower id).
			var all []int
			for w := range row {
				if allowed(w) {
					all = append(all, w)
				}
			}
			sort.SliceStable(all, func(a, b int) bool { return row[all[a]] > row[all[b]] })
			for i := 0; i < n; i++ {
				v, id := values[r*n+i], int(ids[r*n+i])
				if i >= len(all) {
					if !math.IsInf(float64(v), -1) {
						t.Fatalf("n=%d row %d: entry %d past the %d allowed words is %v (id %d), want -inf", n, r, i, len(all), v, id)
					}
					continue
				}
				if id != all[i] || v != row[all[i]] {
					t.Fatalf("n=%d row %d entry %d: word %d (%v), full sort says %d (%v)", n, r, i, id, v, all[i], row[all[i]])
				}
			}
		}
	}
}

func TestSkippingAttentionLeavesCaptionsUnchanged(t *testing.T) {
	for _, decoder := range decoders {
		t.Run(decoder, func(t *testing.T) {
			m, regions, _ := trainedTinyDecoder(t, decoder)
			for _, k := range []int{1, 3} {
				with, err := m.BeamSearch(regions, DecodeOptions{Beam: k})
				if err != nil {
					t.Fatal(err)
				}
				without, err := m.BeamSearch(regions, DecodeOptions{Beam: k, SkipAttention: true})
				if err != nil {
					t.Fatal(err)
				}
				for i := range with {
					if strings.Join(with[i].Words, " ") != strings.Join(without[i].Words, " ") || with[i].LogProb != without[i].LogProb {
						t.Errorf("k=%d image %d: %q (%v) with attention, %q (%v) without", k, i, with[i].Words, with[i].LogProb, without[i].Words, without[i].LogProb)
					}
					if len(with[i].Attention) != len(with[i].Words) || without[i].Attention != nil {
						t.Errorf("k=%d image %d: %d attention maps kept for %d words; %d when skipped", k, i, len(with[i].Attention), len(with[i].Words), len(without[i].Attention))
					}
				}
			}
		})
	}
}
