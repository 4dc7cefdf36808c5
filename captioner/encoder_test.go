package captioner_test

import (
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/internal/captest"
	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/gomlx/core/tensors"
	gomlxtrain "github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// trainSteps trains a model end to end from images for a few steps.
func trainSteps(t *testing.T, m *captioner.Model, images, captions *tensors.Tensor, steps int) {
	t.Helper()
	trainer := gomlxtrain.NewTrainer(m.Backend, m.Store, m.ModelFn(), m.LossFn(), optimizer.Adam().LearningRate(0.01).Done(), nil, nil)
	for i := 0; i < steps; i++ {
		if _, err := trainer.TrainStep(gomlxtrain.Batch{Inputs: []*tensors.Tensor{images, captions}, Labels: []*tensors.Tensor{captions}}); err != nil {
			t.Fatal(err)
		}
	}
}

func snapshot(t *testing.T, m *captioner.Model, paths ...string) map[string][]float32 {
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
	backend := captest.Backend(t)
	rng := rand.New(rand.NewPCG(21, 22))
	vocab := text.BuildVocab([][]string{{"a", "b", "c"}}, 1)
	images, _ := captest.RandomTensor[float32](rng, 2, 64, 64, 3)
	ids, _ := vocab.Encode([]string{"a", "b"}, 5)
	ids2, _ := vocab.Encode([]string{"c"}, 5)
	captions := tensors.FromFlatDataAndDimensions(append(ids, ids2...), 2, 5)
	vars := []string{"/encoder/conv1/weight", "/encoder/layer3/0/conv1/weight", "/encoder/layer4/0/conv1/weight",
		"/encoder/layer4/1/conv2/weight", "/encoder/layer4/0/conv1/bias", "/decoder/lstm/dense/weights"}
	for _, from := range []int{0, 4} {
		cfg := captioner.DefaultConfig("resnet18")
		cfg.Weights, cfg.ImageSize, cfg.MaxLen, cfg.FineTuneFrom = "", 64, 5, from
		cfg.EmbedDim, cfg.HiddenDim, cfg.AttentionDim = 8, 16, 8
		m, err := captioner.NewModel(backend, cfg, vocab)
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

func TestExtractFeaturesKeepsImageOrderAcrossStreams(t *testing.T) {
	backend := captest.Backend(t)
	rng := rand.New(rand.NewPCG(25, 26))
	cfg := captioner.DefaultConfig("tiny")
	m, err := captioner.NewEncoderModel(backend, cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var paths []string
	for i := 0; i < 7; i++ { // batches of 2: four batches, the last one short
		img := image.NewRGBA(image.Rect(0, 0, 40+3*i, 30+2*i))
		for p := range img.Pix {
			img.Pix[p] = uint8(rng.IntN(256))
		}
		path := filepath.Join(dir, fmt.Sprintf("img%d.png", i))
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
		paths = append(paths, path)
	}
	got, err := m.ExtractFeatures(paths, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	per := got.Dims[1] * got.Dims[2] * got.Dims[3]
	if got.Dims[0] != len(paths) || len(got.Data) != len(paths)*per {
		t.Fatalf("features %v with %d values for %d images", got.Dims, len(got.Data), len(paths))
	}
	// Reference: each image decoded and encoded alone.
	for i, p := range paths {
		b, err := datasets.LoadImageBatch([]string{p}, m.ImageOptions(), nil)
		if err != nil {
			t.Fatal(err)
		}
		regions, err := m.EncodeImages(b.Tensor())
		if err != nil {
			t.Fatal(err)
		}
		want := tensors.MustCopyFlatData[float32](regions)
		for j := range want {
			if d := math.Abs(float64(got.Data[i*per+j] - want[j])); d > 1e-5*(1+math.Abs(float64(want[j]))) {
				t.Fatalf("image %d (%s) value %d: %v, alone %v", i, got.Images[i], j, got.Data[i*per+j], want[j])
			}
		}
	}
	// A file that is not an image, in a later batch: the error names it, nothing hangs.
	bad := filepath.Join(dir, "broken.jpg")
	if err := os.WriteFile(bad, []byte("not a jpeg"), 0o644); err != nil {
		t.Fatal(err)
	}
	withBad := append(append(append([]string{}, paths[:5]...), bad), paths[5:]...)
	if _, err := m.ExtractFeatures(withBad, 2, nil); err == nil || !strings.Contains(err.Error(), "broken.jpg") {
		t.Fatalf("broken image: err = %v", err)
	}
}

func TestTinyEncoderGrid(t *testing.T) {
	backend := captest.Backend(t)
	rng := rand.New(rand.NewPCG(23, 24))
	cfg := captioner.DefaultConfig("tiny")
	m, err := captioner.NewEncoderModel(backend, cfg)
	if err != nil {
		t.Fatal(err)
	}
	images, _ := captest.RandomTensor[float32](rng, 3, cfg.ImageSize, cfg.ImageSize, 3)
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
