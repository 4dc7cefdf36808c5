package bench

import (
	"fmt"
	"math/rand/v2"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decode"
	"github.com/gomlx/compute"
)

// controlRows times decoding 32 images (untrained LSTM decoder: every caption runs to the
// 20-word limit; 49×2048 regions, V 3000; host loop) under each decoding control against the
// default beam 3, in opts.Rounds alternating rounds (at least 3); each row is the median over
// the rounds of each round's median.
func controlRows(backend compute.Backend, opts Options, rng *rand.Rand) ([]Row, error) {
	m, err := UntrainedCaptioner(backend, captioner.DecoderLSTM, opts.DType)
	if err != nil {
		return nil, err
	}
	regions := randomTensor(rng, decodeBatch, benchRegions, benchChannels)
	base := decode.Options{Beam: 3, MaxLen: benchSteps + 1, SkipAttention: true, Loop: decode.LoopHost}
	with := func(c decode.Controls) decode.Options { o := base; o.Controls = c; return o }
	greedy := base
	greedy.Beam = 1
	cases := []struct {
		name string
		opts decode.Options
	}{
		{"beam 3 (default)", base},
		{"beam 3, num_return_sequences 3 (attncap's search)", with(decode.Controls{NumReturnSequences: 3})},
		{"beam 3, length_penalty 1", with(decode.Controls{LengthPenalty: 1})},
		{"beam 3, no_repeat_ngram_size 3", with(decode.Controls{NoRepeatNgramSize: 3})},
		{"beam 3, repetition_penalty 1.2", with(decode.Controls{RepetitionPenalty: 1.2})},
		{"beam 3, remove_bad_endings, suppress_unk, 2 bad words", with(decode.Controls{RemoveBadEndings: true, SuppressUnk: true, BadWords: []string{"w1", "w2 w3"}})},
		{"beam 4, num_beam_groups 2, diversity_penalty 1", func() decode.Options {
			o := with(decode.Controls{NumBeamGroups: 2, DiversityPenalty: 1})
			o.Beam = 4
			return o
		}()},
		{"greedy (default)", greedy},
		{"sampling, temperature 1, top_p 0.9 (beam 1)", func() decode.Options {
			o := with(decode.Controls{DoSample: true, TopP: 0.9, Seed: 1})
			o.Beam = 1
			return o
		}()},
	}
	runs := make([]timedCase, len(cases))
	for i, c := range cases {
		runs[i] = timedCase{fmt.Sprintf("decoding controls: %s, %d images (20 words, 49×2048, V 3000)", c.name, decodeBatch), func() error {
			_, err := decode.Regions(m, regions, c.opts)
			return err
		}}
	}
	return alternateRounds(runs, "img/s", float64(decodeBatch), opts)
}
