package captioner_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decoder"
	"github.com/attncap/attncap/captioner/internal/captest"
	"github.com/attncap/attncap/captioner/internal/testmodel"
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// lossOf evaluates CaptionLoss on given tensors.
func lossOf(t *testing.T, backend compute.Backend, cfg *captioner.Config, captions, logits, alphas *tensors.Tensor) (loss, ce float64) {
	t.Helper()
	out, err := ExecOnceN(backend, func(c, l, a *Node) []*Node {
		loss, ce := decoder.CaptionLoss(c, l, a, cfg.AttentionReg)
		return []*Node{loss, ce}
	}, captions, logits, alphas)
	if err != nil {
		t.Fatal(err)
	}
	return tensors.ToScalar[float64](out[0]), tensors.ToScalar[float64](out[1])
}

func TestCaptionLossIsMaskedCrossEntropy(t *testing.T) {
	backend := captest.Backend(t)
	rng := rand.New(rand.NewPCG(7, 8))
	const b, steps, v, r = 2, 4, 6, 3
	cfg := testmodel.TinyConfig(v)
	cfg.AttentionReg = 0.5
	// <start>=1 w w <end>=2 <pad>… : image 0 has 3 real targets, image 1 has 2.
	captions := tensors.FromValue([][]int32{{1, 4, 5, 2, 0}, {1, 5, 2, 0, 0}})
	logits, lg := captest.RandomTensor[float64](rng, b, steps, v)
	alphas, al := captest.RandomTensor[float64](rng, b, steps, r)
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
	backend := captest.Backend(t)
	rng := rand.New(rand.NewPCG(9, 10))
	cfg := testmodel.TinyConfig(7)
	cfg.MaxLen = 5
	regions, _ := captest.RandomTensor[float64](rng, 2, 4, 256)
	captions := tensors.FromValue([][]int32{{1, 4, 6, 2, 0}, {1, 5, 2, 0, 0}})
	store := model.NewStore()
	lossFn := func(scope *model.Scope, regions, captions *Node) *Node {
		logits, alphas := captioner.NewDecoder(cfg).TeacherForced(scope, regions, captions)
		l, _ := decoder.CaptionLoss(captions, logits, alphas, cfg.AttentionReg)
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
		grad, err := model.CallOnce(backend, store, func(scope *model.Scope, regions, captions *Node) *Node {
			l := lossFn(scope, regions, captions)
			// AddScalar(·, 0): compute v0.1.14's Go backend panics (index out of range in its
			// executor) when a multi-output gradient node is itself a graph output.
			return AddScalar(Gradient(l, v.NodeValue(l.Graph()))[0], 0)
		}, regions, captions)
		if err != nil {
			t.Fatal(err)
		}
		g := tensors.MustCopyFlatData[float64](grad)
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

func TestTransformerConfigErrorsNameTheSetting(t *testing.T) {
	for _, c := range []struct {
		change func(*captioner.Config)
		want   string
	}{
		{func(c *captioner.Config) { c.Heads = 3 }, "multiple of -heads 3"},
		{func(c *captioner.Config) { c.Layers = 0 }, "layers 0"},
		{func(c *captioner.Config) { c.Positions = "rotary" }, `positions "rotary"`},
		{func(c *captioner.Config) { c.AttentionReg = 1 }, "attention regulariser"},
		{func(c *captioner.Config) { c.RegionCoords = true }, "region coordinates (-region-coords) are for the LSTM decoder only"},
		{func(c *captioner.Config) { c.Decoder = "gru" }, `unknown decoder "gru"`},
	} {
		cfg := testmodel.TinyDecoderConfig(captioner.DecoderTransformer, 20)
		c.change(cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v, want it to say %q", err, c.want)
		}
	}
	if err := testmodel.TinyDecoderConfig(captioner.DecoderTransformer, 20).Validate(); err != nil {
		t.Errorf("the default tiny transformer: %v", err)
	}
	lstm := testmodel.TinyDecoderConfig(captioner.DecoderLSTM, 20)
	lstm.AttentionReg = -1
	if err := lstm.Validate(); err == nil || !strings.Contains(err.Error(), "λ = -1") {
		t.Errorf("LSTM with λ = -1: err = %v, want it to name λ", err)
	}
	lstm.AttentionReg = 0
	if err := lstm.Validate(); err != nil {
		t.Errorf("LSTM with λ = 0 (off): %v", err)
	}
}
