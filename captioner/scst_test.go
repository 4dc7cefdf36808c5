package captioner

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
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
	backend := testBackend(t)
	rng := rand.New(rand.NewPCG(31, 32))
	const n, steps, vocab = 3, 4, 6
	logits, values := randomTensor[float64](rng, n, steps, vocab)
	captions := tensors.FromValue([][]int32{{1, 4, 5, 2, 0}, {1, 2, 0, 0, 0}, {1, 5, 5, 4, 2}})
	adv := tensors.FromValue([]float64{0.5, -1.25, 2})
	lossOf := func(l *tensors.Tensor) float64 {
		out, err := graph.ExecOnce(backend, SCSTLoss, captions, l, adv)
		if err != nil {
			t.Fatal(err)
		}
		return tensors.ToScalar[float64](out)
	}
	grad, err := graph.ExecOnce(backend, func(c, l, a *graph.Node) *graph.Node {
		return graph.AddScalar(graph.Gradient(SCSTLoss(c, l, a), l)[0], 0)
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
	for _, decoder := range decoders {
		t.Run(decoder, func(t *testing.T) {
			trained, regions, _ := trainedTinyDecoder(t, decoder)
			// As the SCST stage does: the model's weights alone, in a fresh store (no Adam moments
			// left from cross-entropy training, which would keep moving the weights).
			dir := t.TempDir()
			if err := trained.Save(dir); err != nil {
				t.Fatal(err)
			}
			m, err := LoadModel(trained.Backend, dir)
			if err != nil {
				t.Fatal(err)
			}
			const k = 3
			sampled, err := model.CallOnce(m.Backend, m.Store, func(scope *model.Scope, regions *graph.Node) *graph.Node {
				return SampleCaptions(scope, m.Config, regions, k, m.Config.MaxLen-1, false)
			}, regions)
			if err != nil {
				t.Fatal(err)
			}
			captions := hostCopy(sampled)
			before := map[string][]float32{}
			for v := range m.Store.IterVariables() {
				if IsModelVariable(v.Path()) {
					before[v.Path()] = tensors.MustCopyFlatData[float32](v.MustValue())
				}
			}
			adv := Advantages(make([]float64, 8*k), k, nil)
			trainer := train.NewTrainer(m.Backend, m.Store, m.ModelFn(), func(labels, predictions []*graph.Node) *graph.Node {
				return SCSTLoss(labels[0], predictions[0], labels[1])
			}, NewOptimizer(1e-2, 0, 5), nil, nil)
			if _, err := trainer.TrainStep(train.Batch{Inputs: []*tensors.Tensor{regions, captions}, Labels: []*tensors.Tensor{captions, tensors.FromValue(adv)}}); err != nil {
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

// TestGreedySamplingInOneGraphEqualsGreedyDecoding checks the in-graph decoder against Greedy.
func TestGreedySamplingInOneGraphEqualsGreedyDecoding(t *testing.T) {
	for _, decoder := range decoders {
		t.Run(decoder, func(t *testing.T) {
			m, regions, _ := trainedTinyDecoder(t, decoder)
			want, err := m.Greedy(regions, DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			out, err := model.CallOnce(m.Backend, m.Store, func(scope *model.Scope, regions *graph.Node) *graph.Node {
				return SampleCaptions(scope, m.Config, regions, 1, m.Config.MaxLen-1, true)
			}, regions)
			if err != nil {
				t.Fatal(err)
			}
			s := &scstRun{m: m}
			for i, words := range s.captionWords(out) {
				if strings.Join(words, " ") != strings.Join(want[i].Words, " ") {
					t.Errorf("image %d: in-graph greedy %q, Greedy %q", i, words, want[i].Words)
				}
			}
		})
	}
}

// TestDrawWordsFollowsTheDistribution draws 20,000 words from a fixed distribution and checks
// each word's frequency is within 4.5 standard deviations of its probability.
func TestDrawWordsFollowsTheDistribution(t *testing.T) {
	probs := []float64{0.5, 0.25, 0.15, 0.1, 0}
	const n = 20000
	lp := make([]float32, 0, n*len(probs))
	for i := 0; i < n; i++ {
		for _, p := range probs {
			lp = append(lp, float32(math.Log(p)))
		}
	}
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, int64(3))
	out, err := model.CallOnce(testBackend(t), store, func(scope *model.Scope, lp *graph.Node) *graph.Node {
		return DrawWords(scope, lp)
	}, tensors.FromFlatDataAndDimensions(lp, n, len(probs)))
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]float64, len(probs))
	for _, w := range tensors.MustCopyFlatData[int32](out) {
		counts[w]++
	}
	for w, p := range probs {
		sd := math.Sqrt(n * p * (1 - p))
		if math.Abs(counts[w]-n*p) > 4.5*sd+1e-9 {
			t.Errorf("word %d drawn %v times of %d, expected %v ± %.0f", w, counts[w], n, n*p, sd)
		}
	}
}
