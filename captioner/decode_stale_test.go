package captioner

import (
	"math/rand/v2"
	"testing"

	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
)

// TestDecodingSeesUpdatedVariables guards against decoding with stale weights: the Go backend
// compiles variables into inference graphs as constants, so ResetCompiled must make decoding
// see the values training wrote since.
func TestDecodingSeesUpdatedVariables(t *testing.T) {
	backend := testBackend(t)
	rng := rand.New(rand.NewPCG(11, 12))
	captions := [][]string{{"a", "red", "circle"}, {"a", "blue", "square"}}
	vocab := text.BuildVocab(captions, 1)
	cfg := *tinyConfig(0)
	m, _ := NewModel(backend, cfg, vocab)
	regions, _ := randomTensor[float32](rng, 2, 4, 256)
	var ids []int32
	for _, c := range captions {
		enc, _ := vocab.Encode(c, cfg.MaxLen)
		ids = append(ids, enc...)
	}
	caps := tensors.FromFlatDataAndDimensions(ids, 2, cfg.MaxLen)
	trainer := train.NewTrainer(backend, m.Store, m.ModelFn(), m.LossFn(), NewOptimizer(0.01, 0, 5), nil, nil)
	var last float64
	for round := 0; round < 3; round++ {
		for step := 0; step < 5; step++ {
			r2, _ := regions.LocalClone()
			c2, _ := caps.LocalClone()
			_, err := trainer.TrainStep(train.Batch{Inputs: []*tensors.Tensor{r2, c2}, Labels: []*tensors.Tensor{c2}})
			if err != nil {
				t.Fatal(err)
			}
		}
		m.ResetCompiled()
		g, err := m.Greedy(regions, DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if round > 0 && g[0].LogProb == last {
			t.Fatalf("round %d: log-probability %v unchanged after 5 more training steps", round, last)
		}
		last = g[0].LogProb
	}
}
