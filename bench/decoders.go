package bench

import (
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decode"
	"github.com/gomlx/compute"
)

// decodeBatch is the number of images decoded together in the decoding rows.
const decodeBatch = 32

// decoderRows compares the two decoders at Flickr8k size (49×2048 regions, vocabulary 3000,
// 20 words, each at its ResNet defaults): the Transformer's training step (PyTorch reference:
// nn.TransformerDecoder of the same dimensions, bench/reference/sat.py transformer), and greedy
// and beam-3 decoding of 32 images with each decoder (PyTorch reference for the Transformer's
// greedy decoding: nn.TransformerDecoder rerunning the prefix every step, as it has no cache).
func decoderRows(backend compute.Backend, opts Options, rng *rand.Rand) ([]Row, error) {
	say := opts.say()
	cfg := captioner.DefaultConfigFor("resnet50", captioner.DecoderTransformer)
	sizes := []string{"--embed", strconv.Itoa(cfg.EmbedDim), "--layers", strconv.Itoa(cfg.Layers), "--heads", strconv.Itoa(cfg.Heads), "--ff", strconv.Itoa(cfg.FFDim)}
	var rows []Row
	for _, b := range opts.DecoderBatches {
		say(fmt.Sprintf("transformer train step, batch %d", b))
		step, err := DecoderStep(backend, captioner.DecoderTransformer, opts.DType, b, 1, rng)
		if err != nil {
			return nil, err
		}
		secs, err := timeit(1, opts.Reps, step)
		if err != nil {
			return nil, err
		}
		r := stats(fmt.Sprintf("transformer train step, batch %d (d %d, %d layers, 49×2048, V 3000, 20 steps)", b, cfg.EmbedDim, cfg.Layers), "steps/s", 1, secs)
		r = r.withTokens(float64(b * benchSteps))
		r.refArgs, r.refCount = append([]string{"transformer", "--batch", strconv.Itoa(b)}, sizes...), 1
		r.retime = func() ([]float64, error) { return timeit(0, opts.Reps, step) }
		rows = append(rows, opts.precision(r))
	}
	for _, beam := range []int{1, 3} {
		for _, decoder := range []string{captioner.DecoderLSTM, captioner.DecoderTransformer} {
			say(fmt.Sprintf("%s decoding, beam %d", decoder, beam))
			r, err := decodeRow(backend, decoder, opts.DType, beam, opts.Reps, rng)
			if err != nil {
				return nil, err
			}
			if decoder == captioner.DecoderTransformer && beam == 1 {
				r.refArgs, r.refCount = append([]string{"transformer-greedy", "--batch", strconv.Itoa(decodeBatch)}, sizes...), decodeBatch
			}
			rows = append(rows, opts.precision(r))
		}
	}
	return rows, nil
}

// decodeRow times beam search (beam 1: greedy) of decodeBatch images with an untrained decoder,
// so that every caption runs to the 20-word limit; attention weights stay on the device.
func decodeRow(backend compute.Backend, decoder, dtype string, beam, reps int, rng *rand.Rand) (Row, error) {
	m, err := UntrainedCaptioner(backend, decoder, dtype)
	if err != nil {
		return Row{}, err
	}
	regions := randomTensor(rng, decodeBatch, benchRegions, benchChannels)
	opts := decode.Options{Beam: beam, MaxLen: benchSteps + 1, SkipAttention: true}
	decode := func() error {
		_, err := decode.Beam(m, regions, opts)
		return err
	}
	secs, err := timeit(1, reps, decode)
	if err != nil {
		return Row{}, err
	}
	name := fmt.Sprintf("%s decoding, beam %d, %d images (20 words, 49×2048, V 3000)", decoder, beam, decodeBatch)
	if beam == 1 {
		name = fmt.Sprintf("%s greedy decoding, %d images (20 words, 49×2048, V 3000)", decoder, decodeBatch)
	}
	r := stats(name, "img/s", decodeBatch, secs)
	r.retime = func() ([]float64, error) { return timeit(0, reps, decode) }
	return r, nil
}
