package captioner

import (
	"math/rand/v2"
	"testing"

	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// trainSteps trains a model end to end from images for a few steps.
func trainSteps(t *testing.T, m *Model, images, captions *tensors.Tensor, steps int) {
	t.Helper()
	trainer := train.NewTrainer(m.Backend, m.Store, m.ModelFn(), m.LossFn(), optimizer.Adam().LearningRate(0.01).Done(), nil, nil)
	for i := 0; i < steps; i++ {
		if _, err := trainer.TrainStep(train.Batch{Inputs: []*tensors.Tensor{images, captions}, Labels: []*tensors.Tensor{captions}}); err != nil {
			t.Fatal(err)
		}
	}
}

func snapshot(t *testing.T, m *Model, paths ...string) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for _, p := range paths {
		v := m.Store.GetVariable(p)
		if v == nil {
			t.Fatalf("no variable %s", p)
		}
		out[p] = tensors.MustCopyFlatData[float32](v.MustValue())
	}
	return out
}

func changed(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return true
		}
	}
	return false
}

func TestFineTuningTrainsOnlyTheRequestedStages(t *testing.T) {
	backend := testBackend(t)
	rng := rand.New(rand.NewPCG(21, 22))
	vocab := text.BuildVocab([][]string{{"a", "b", "c"}}, 1)
	images, _ := randomTensor[float32](rng, 2, 64, 64, 3)
	ids, _ := vocab.Encode([]string{"a", "b"}, 5)
	ids2, _ := vocab.Encode([]string{"c"}, 5)
	captions := tensors.FromFlatDataAndDimensions(append(ids, ids2...), 2, 5)
	vars := []string{"/encoder/conv1/weight", "/encoder/layer3/0/conv1/weight", "/encoder/layer4/0/conv1/weight",
		"/encoder/layer4/1/conv2/weight", "/encoder/layer4/0/conv1/bias", "/decoder/lstm/dense/weights"}
	for _, from := range []int{0, 4} {
		cfg := DefaultConfig("resnet18")
		cfg.Weights, cfg.ImageSize, cfg.MaxLen, cfg.FineTuneFrom = "", 64, 5, from
		cfg.EmbedDim, cfg.HiddenDim, cfg.AttentionDim = 8, 16, 8
		m, err := NewModel(backend, cfg, vocab)
		if err != nil {
			t.Fatal(err)
		}
		trainSteps(t, m, images, captions, 1) // creates and initialises the variables
		before := snapshot(t, m, vars...)
		trainSteps(t, m, images, captions, 2)
		after := snapshot(t, m, vars...)
		want := map[string]bool{ // trained?
			"/encoder/conv1/weight": false, "/encoder/layer3/0/conv1/weight": false,
			"/encoder/layer4/0/conv1/weight": from == 4, "/encoder/layer4/1/conv2/weight": from == 4,
			"/encoder/layer4/0/conv1/bias": from == 4, "/decoder/lstm/dense/weights": true,
		}
		for _, p := range vars {
			if got := changed(before[p], after[p]); got != want[p] {
				t.Errorf("fine-tune from %d: %s changed=%v, want %v", from, p, got, want[p])
			}
		}
	}
}

func TestTinyEncoderGrid(t *testing.T) {
	backend := testBackend(t)
	rng := rand.New(rand.NewPCG(23, 24))
	cfg := DefaultConfig("tiny")
	m, err := NewEncoderModel(backend, cfg)
	if err != nil {
		t.Fatal(err)
	}
	images, _ := randomTensor[float32](rng, 3, cfg.ImageSize, cfg.ImageSize, 3)
	regions, err := m.EncodeImages(images)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.ImageSize / 8
	if d := regions.Shape().Dimensions; d[0] != 3 || d[1] != s*s || d[2] != 256 {
		t.Fatalf("tiny regions %v, want [3 %d 256]", d, s*s)
	}
	if _, err := m.EncodeImages(tensors.FromFlatDataAndDimensions(make([]float32, 2*32*32*3), 2, 32, 32, 3)); err == nil {
		t.Fatal("images of the wrong size were accepted")
	}
}
