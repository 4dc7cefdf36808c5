package captioner_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decode"
	"github.com/attncap/attncap/captioner/internal/captest"
	"github.com/attncap/attncap/captioner/train"
	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/gomlx/core/tensors"
	gomlxtrain "github.com/gomlx/gomlx/ml/train"
)

// BenchmarkResNet50Forward measures the encoder alone (random weights: speed does not depend
// on their values), reporting images/s.
func BenchmarkResNet50Forward(b *testing.B) {
	backend := captest.Backend(b)
	rng := rand.New(rand.NewPCG(1, 1))
	cfg := captioner.DefaultConfig("resnet50")
	cfg.Weights = ""
	m, err := captioner.NewEncoderModel(backend, cfg)
	if err != nil {
		b.Fatal(err)
	}
	for _, batch := range []int{1, 8} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			images, _ := captest.RandomTensor[float32](rng, batch, 224, 224, 3)
			if _, err := m.EncodeImages(images); err != nil { // compile, initialise
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				out, err := m.EncodeImages(images)
				if err != nil {
					b.Fatal(err)
				}
				out.MustFinalizeAll()
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "img/s")
		})
	}
}

// BenchmarkDecoderTrainStep measures one full training step of the decoder on cached features
// at Flickr8k size: B=32 images, 49 regions × 2048 channels, vocabulary 3000, 20 decoding
// steps, embedding/hidden/attention 512, Adam.
func BenchmarkDecoderTrainStep(b *testing.B) {
	backend := captest.Backend(b)
	rng := rand.New(rand.NewPCG(2, 2))
	const batch, regions, channels, vocabSize, steps = 32, 49, 2048, 3000, 20
	words := make([]string, vocabSize-4)
	for i := range words {
		words[i] = fmt.Sprintf("w%d", i)
	}
	vocab := text.BuildVocab([][]string{words}, 1)
	cfg := captioner.DefaultConfig("resnet50")
	cfg.MaxLen = steps + 1
	features, _ := captest.RandomTensor[float32](rng, batch, regions, channels)
	ids := make([]int32, batch*(steps+1))
	for i := range ids {
		ids[i] = int32(4 + rng.IntN(vocabSize-4))
		if i%(steps+1) == 0 {
			ids[i] = text.StartID
		}
	}
	captions := tensors.FromFlatDataAndDimensions(ids, batch, steps+1)
	for _, clip := range []float64{0, 5} {
		b.Run(fmt.Sprintf("clip=%g", clip), func(b *testing.B) {
			m, err := captioner.NewModel(backend, cfg, vocab)
			if err != nil {
				b.Fatal(err)
			}
			trainer := gomlxtrain.NewTrainer(backend, m.Store, m.ModelFn(), m.LossFn(), train.NewOptimizer(1e-3, 0, clip), nil, nil)
			step := func() {
				if _, err := trainer.TrainStep(gomlxtrain.Batch{Inputs: []*tensors.Tensor{features, captions}, Labels: []*tensors.Tensor{captions}}); err != nil {
					b.Fatal(err)
				}
			}
			step() // compile, initialise
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				step()
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/step")
			b.ReportMetric(float64(b.N*batch*steps)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkCaptionOneImage measures the latency of captioning one image: encoder.ResNet-50 on a
// 224×224 image, then beam search (k = 3) for 20 steps (an untrained decoder never emits
// <end>, so this is the worst case).
func BenchmarkCaptionOneImage(b *testing.B) {
	backend := captest.Backend(b)
	rng := rand.New(rand.NewPCG(4, 4))
	words := make([]string, 2996)
	for i := range words {
		words[i] = fmt.Sprintf("w%d", i)
	}
	cfg := captioner.DefaultConfig("resnet50")
	cfg.Weights, cfg.MaxLen = "", 21
	m, err := captioner.NewModel(backend, cfg, text.BuildVocab([][]string{words}, 1))
	if err != nil {
		b.Fatal(err)
	}
	image, _ := captest.RandomTensor[float32](rng, 1, 224, 224, 3)
	run := func() {
		regions, err := m.EncodeImages(image)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := decode.Beam(m, regions, decode.Options{Beam: 3}); err != nil {
			b.Fatal(err)
		}
	}
	run()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run()
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/caption")
}
