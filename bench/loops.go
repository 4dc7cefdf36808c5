package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decode"
	"github.com/attncap/attncap/datasets"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
)

// loopImages is how many test images the trained-model loop rows decode, in one batch.
const loopImages = 64

// loopRows compares, for both decoders, greedy decoding and beam-3 search with the loop over
// the words on the host and in one graph (decode.Loop): untrained decoders at Flickr8k
// size (every caption runs to the 20-word limit), then, with Options.Checkpoint, a trained
// model on the first loopImages test images of Options.Data, at its own length limit and at
// a limit of 50 words (the ResNet configurations' MaxLen), where the host loop still stops when
// the last caption ends and the one graph runs every step.
func loopRows(backend compute.Backend, opts Options, rng *rand.Rand) ([]Row, error) {
	say := opts.say()
	var trained *captioner.Model
	var trainedRegions *tensors.Tensor
	if opts.Checkpoint != "" { // open it first: a bad checkpoint fails before the long rows
		var err error
		if trained, err = captioner.OpenModel(backend, opts.Checkpoint); err != nil {
			return nil, err
		}
		if trainedRegions, err = testRegions(trained, opts.Data); err != nil {
			return nil, err
		}
	}
	var rows []Row
	for _, beam := range []int{1, 3} {
		for _, decoder := range []string{captioner.DecoderLSTM, captioner.DecoderTransformer} {
			m, err := UntrainedCaptioner(backend, decoder, opts.DType)
			if err != nil {
				return nil, err
			}
			regions := randomTensor(rng, decodeBatch, benchRegions, benchChannels)
			for _, loop := range []decode.Loop{decode.LoopHost, decode.LoopGraph} {
				say(fmt.Sprintf("%s decoding, beam %d, loop %s", decoder, beam, loop))
				name := fmt.Sprintf("%s %s, %s, %d images (20 words, 49×2048, V 3000)", decoder, decodeName(beam), loopName(loop), decodeBatch)
				r, err := loopRow(m, regions, decode.Options{Beam: beam, MaxLen: benchSteps + 1, Loop: loop}, name, opts.Reps)
				if err != nil {
					return nil, err
				}
				rows = append(rows, opts.precision(r))
			}
		}
	}
	if trained == nil {
		return rows, nil
	}
	more, err := trainedLoopRows(trained, trainedRegions, opts, say)
	return append(rows, more...), err
}

// trainedLoopRows are loopRows' rows for the trained model m on regions.
func trainedLoopRows(m *captioner.Model, regions *tensors.Tensor, opts Options, say func(string)) ([]Row, error) {
	var rows []Row
	for _, maxLen := range []int{m.Config.MaxLen, 51} {
		if limit := captioner.NewDecoder(m.Config).MaxLen(); limit > 0 && maxLen > limit {
			continue // the decoder writes at most its own MaxLen (the Transformer's positions)
		}
		for _, beam := range []int{1, 3} {
			for _, loop := range []decode.Loop{decode.LoopHost, decode.LoopGraph} {
				say(fmt.Sprintf("trained %s, limit %d words, beam %d, loop %s", m.Config.DecoderName(), maxLen-1, beam, loop))
				name := fmt.Sprintf("trained %s %s, %s, %d test images (limit %d words)", m.Config.DecoderName(), decodeName(beam), loopName(loop), regions.Shape().Dimensions[0], maxLen-1)
				if m.Config.DType != "" {
					name += ", " + m.Config.DType
				}
				r, err := loopRow(m, regions, decode.Options{Beam: beam, MaxLen: maxLen, Loop: loop}, name, opts.Reps)
				if err != nil {
					return nil, err
				}
				rows = append(rows, r)
			}
		}
	}
	return rows, nil
}

// testRegions encodes the first loopImages images of data's test split with m's encoder.
func testRegions(m *captioner.Model, data string) (*tensors.Tensor, error) {
	if data == "" {
		return nil, fmt.Errorf("a checkpoint's loop rows need its dataset (-data)")
	}
	path, err := datasets.ResolveData(data)
	if err != nil {
		return nil, err
	}
	ds, err := datasets.Load(path, datasets.LoadOptions{})
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, e := range ds.Split(datasets.Test) {
		if len(paths) < loopImages {
			paths = append(paths, e.Image)
		}
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s has no test images", data)
	}
	batch, err := datasets.LoadImageBatch(paths, m.ImageOptions(), nil)
	if err != nil {
		return nil, err
	}
	return m.EncodeImages(batch.Tensor())
}

// loopRow times m.Decode of regions with opts (attention skipped, as in evaluation).
func loopRow(m *captioner.Model, regions *tensors.Tensor, opts decode.Options, name string, reps int) (Row, error) {
	opts.SkipAttention = true
	secs, err := timeit(1, reps, func() error {
		_, err := decode.Regions(m, regions, opts)
		return err
	})
	if err != nil {
		return Row{}, err
	}
	return stats(name, "img/s", float64(regions.Shape().Dimensions[0]), secs), nil
}

func decodeName(beam int) string {
	if beam <= 1 {
		return "Greedy"
	}
	return fmt.Sprintf("beam %d", beam)
}

func loopName(loop decode.Loop) string {
	if loop == decode.LoopGraph {
		return "loop in one graph"
	}
	return "loop on the host"
}

// LoopsAgree decodes n images of random regions with an untrained decoder, with the loop over
// the words on the host and in one graph, and returns how many captions are the same (words
// and end) and the largest log-probability difference: a check of the one-graph loop on a
// backend the tests do not run on (a GPU).
func LoopsAgree(backend compute.Backend, decoder string, beam, n int, rng *rand.Rand) (same int, maxDiff float64, err error) {
	m, err := UntrainedCaptioner(backend, decoder, "")
	if err != nil {
		return 0, 0, err
	}
	regions := randomTensor(rng, n, benchRegions, benchChannels)
	opts := decode.Options{Beam: beam, MaxLen: benchSteps + 1, SkipAttention: true, Loop: decode.LoopHost}
	host, err := decode.Regions(m, regions, opts)
	if err != nil {
		return 0, 0, err
	}
	opts.Loop = decode.LoopGraph
	graph, err := decode.Regions(m, regions, opts)
	if err != nil {
		return 0, 0, err
	}
	for i := range host {
		if slices.Equal(host[i].Tokens, graph[i].Tokens) && host[i].Finished == graph[i].Finished {
			same++
		}
		maxDiff = max(maxDiff, math.Abs(host[i].LogProb-graph[i].LogProb))
	}
	return same, maxDiff, nil
}
