// Package testmodel builds the small captioners that attncap's tests decode and train: tiny
// configurations of both decoders, and one overfitted to eight captions.
package testmodel

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/internal/captest"
	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/datasets/text"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	gomlxtrain "github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// Decoders are the decoders every decoding test runs with.
var Decoders = []string{captioner.DecoderLSTM, captioner.DecoderTransformer}

// TinyConfig is TinyDecoderConfig of the LSTM.
func TinyConfig(vocab int) *captioner.Config { return TinyDecoderConfig(captioner.DecoderLSTM, vocab) }

// TinyDecoderConfig is a small decoder of the given kind over regions of 256 channels.
func TinyDecoderConfig(decoder string, vocab int) *captioner.Config {
	c := captioner.DefaultConfigFor("tiny", decoder)
	c.VocabSize, c.MaxLen, c.EmbedDim, c.Dropout = vocab, 8, 16, 0
	if decoder == captioner.DecoderLSTM {
		c.HiddenDim, c.AttentionDim = 32, 16
	} else {
		c.Layers, c.Heads, c.FFDim = 2, 2, 32
	}
	return &c
}

// TrainedTinyModel is TrainedTinyDecoder of the LSTM.
func TrainedTinyModel(t *testing.T) (*captioner.Model, *tensors.Tensor, [][]string) {
	t.Helper()
	return TrainedTinyDecoder(t, captioner.DecoderLSTM)
}

// TrainedTinyDecoder overfits a tiny decoder of the given kind to the captions of 8 images with
// fixed random regions [8, 4, 256] (150 Adam steps, the same initial weights every run), and
// returns it with its regions and captions.
func TrainedTinyDecoder(t *testing.T, decoder string) (*captioner.Model, *tensors.Tensor, [][]string) {
	t.Helper()
	backend := captest.Backend(t)
	rng := rand.New(rand.NewPCG(11, 12))
	captions := [][]string{
		{"a", "red", "circle"}, {"a", "blue", "square"}, {"two", "green", "triangles"},
		{"a", "red", "square", "above", "a", "circle"}, {"a", "blue", "circle"}, {"a", "green", "square"},
		{"two", "red", "circles"}, {"a", "blue", "triangle", "left", "of", "a", "square"},
	}
	vocab := text.BuildVocab(captions, 1)
	cfg := *TinyDecoderConfig(decoder, 0)
	cfg.MaxLen = 10
	m, err := captioner.NewModel(backend, cfg, vocab)
	if err != nil {
		t.Fatal(err)
	}
	m.Store.SetParam(model.ParamInitialSeed, int64(7)) // same initial weights every run
	regions, _ := captest.RandomTensor[float32](rng, len(captions), 4, 256)
	var ids []int32
	for _, c := range captions {
		enc, _ := vocab.Encode(c, cfg.MaxLen)
		ids = append(ids, enc...)
	}
	caps := tensors.FromFlatDataAndDimensions(ids, len(captions), cfg.MaxLen)
	trainer := gomlxtrain.NewTrainer(backend, m.Store, m.ModelFn(), m.LossFn(), optimizer.Adam().LearningRate(0.01).Done(), nil, nil)
	for step := 0; step < 150; step++ {
		if _, err := trainer.TrainStep(gomlxtrain.Batch{Inputs: []*tensors.Tensor{regions, caps}, Labels: []*tensors.Tensor{caps}}); err != nil {
			t.Fatal(err)
		}
	}
	return m, regions, captions
}

// SmallShapes generates a synthetic shapes set of n images (48–64 pixels, seed 5) in a
// temporary folder and returns it.
func SmallShapes(t *testing.T, n int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "shapes")
	if err := datasets.GenerateShapes(dir, datasets.ShapesOptions{N: n, Seed: 5, MinSize: 48, MaxSize: 64}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TeacherForcedLogProb is log p(tokens, <end> | image i) by TeacherForced.
func TeacherForcedLogProb(t *testing.T, m *captioner.Model, regions *tensors.Tensor, i int, tokens []int32) float64 {
	t.Helper()
	d := regions.Shape().Dimensions
	per := d[1] * d[2]
	one := tensors.FromFlatDataAndDimensions(tensors.MustCopyFlatData[float32](regions)[i*per:(i+1)*per], 1, d[1], d[2])
	ids := append(append([]int32{text.StartID}, tokens...), text.EndID)
	caption := tensors.FromFlatDataAndDimensions(ids, 1, len(ids))
	out, err := model.CallOnce(m.Backend, m.Store, func(scope *model.Scope, regions, captions *Node) *Node {
		logits, _ := captioner.NewDecoder(m.Config).TeacherForced(scope, regions, captions)
		return LogSoftmax(logits, -1)
	}, one, caption)
	if err != nil {
		t.Fatal(err)
	}
	lp := tensors.MustCopyFlatData[float32](out)
	v := m.Config.VocabSize
	var sum float64
	for p, w := range ids[1:] {
		sum += float64(lp[p*v+int(w)])
	}
	return sum
}
