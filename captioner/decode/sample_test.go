package decode

import (
	"math"
	"strings"
	"testing"

	"github.com/attncap/attncap/captioner/internal/captest"
	"github.com/attncap/attncap/captioner/internal/testmodel"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// TestGreedySamplingInOneGraphEqualsGreedyDecoding checks the in-graph decoder against Greedy.
func TestGreedySamplingInOneGraphEqualsGreedyDecoding(t *testing.T) {
	for _, decoder := range testmodel.Decoders {
		t.Run(decoder, func(t *testing.T) {
			m, regions, _ := testmodel.TrainedTinyDecoder(t, decoder)
			want, err := Greedy(m, regions, Options{})
			if err != nil {
				t.Fatal(err)
			}
			out, err := model.CallOnce(m.Backend, m.Store, func(scope *model.Scope, regions *Node) *Node {
				return SampleCaptions(scope, m.Config, regions, 1, m.Config.MaxLen-1, true)
			}, regions)
			if err != nil {
				t.Fatal(err)
			}
			words, unfinished := SampledWords(m.Vocab, out)
			for i := range words {
				if strings.Join(words[i], " ") != strings.Join(want[i].Words, " ") || unfinished[i] == want[i].Finished {
					t.Errorf("image %d: in-graph greedy %q (unfinished %v), Greedy %q (finished %v)", i, words[i], unfinished[i], want[i].Words, want[i].Finished)
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
	out, err := model.CallOnce(captest.Backend(t), store, func(scope *model.Scope, lp *Node) *Node {
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
