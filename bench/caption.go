package bench

import (
	"fmt"
	"math/rand/v2"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decode"
	"github.com/gomlx/compute"
)

// captionModelRows times captioning one JPEG end to end (decode, resize, encoder, beam 3 with
// at most 20 words) with the model folder opts.Checkpoint — attncap's beam and the tutorial's
// shrinking one — beside the untrained ResNet-50 captioner of the default rows, in opts.Rounds
// alternating rounds (at least 3) so that the machine's drift falls on every row alike; each
// row is the median over the rounds of each round's median.
func captionModelRows(backend compute.Backend, opts Options, rng *rand.Rand) ([]Row, error) {
	imported, err := captioner.OpenModel(backend, opts.Checkpoint)
	if err != nil {
		return nil, err
	}
	resnet50, err := UntrainedCaptioner(backend, captioner.DecoderLSTM, opts.DType)
	if err != nil {
		return nil, err
	}
	paths, cleanup, err := tempJPEGs(1, rng)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	c := imported.Config
	cases := []struct {
		name string
		m    *captioner.Model
		opts decode.Options
	}{
		{"caption latency: 1 JPEG → ResNet-50 → beam 3 (≤ 20 words)", resnet50, decode.Options{Beam: 3, MaxLen: 21}},
		{fmt.Sprintf("caption latency: 1 JPEG → %s (%s) @%d, %d×%d → beam 3 (≤ 20 words)", opts.Checkpoint, c.Encoder, c.ImageSize, c.GridSize, c.GridSize),
			imported, decode.Options{Beam: 3, MaxLen: 21}},
		{fmt.Sprintf("caption latency: 1 JPEG → %s → shrinking beam 3 (≤ 20 words)", opts.Checkpoint), imported,
			decode.Options{Beam: 3, MaxLen: 21, BeamStyle: decode.BeamShrink}},
	}
	runs := make([]timedCase, len(cases))
	for i, k := range cases {
		runs[i] = timedCase{k.name, func() error {
			_, err := decode.Images(k.m, paths, k.opts, 1, nil)
			return err
		}}
	}
	return alternateRounds(runs, "s", 1, opts)
}

// timedCase is one row of alternateRounds: its name and one timed run.
type timedCase struct {
	name string
	run  func() error
}

// alternateRounds times the cases in opts.Rounds alternating rounds (at least 3) of opts.Reps
// runs each, the first round after one warm-up run, so that the machine's drift from minute to
// minute falls on every row alike. Each row's value is the median over the rounds of each
// round's median (in unit, count per run for rates), its range that of all runs.
func alternateRounds(cases []timedCase, unit string, count float64, opts Options) ([]Row, error) {
	rounds := max(3, opts.Rounds)
	medians := make([][]float64, len(cases))
	all := make([][]float64, len(cases))
	for round := 0; round < rounds; round++ {
		for i, c := range cases {
			opts.say()(fmt.Sprintf("round %d/%d: %s", round+1, rounds, c.name))
			warm := 0
			if round == 0 {
				warm = 1
			}
			secs, err := timeit(warm, opts.Reps, c.run)
			if err != nil {
				return nil, err
			}
			medians[i] = append(medians[i], median(secs))
			all[i] = append(all[i], secs...)
		}
	}
	var rows []Row
	for i, c := range cases {
		r := stats(c.name, unit, count, all[i])
		r.Value = median(medians[i])
		if unit != "s" {
			r.Value = count / r.Value
		}
		r.Note = fmt.Sprintf("median of %d alternating rounds", rounds)
		rows = append(rows, opts.precision(r))
	}
	return rows, nil
}
