package decode

import (
	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/encoder"
	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// SampleCaptions decodes k captions per image entirely inside one graph, for self-critical
// training: inputs are images [B, S, S, 3] or regions [B, R, C]; the rows of image b are
// b·k … b·k+k−1, the layout Model.ModelFn expects of captions. Each next word is drawn from the
// decoder's distribution over the allowed words (never <pad> or <start>) by the Gumbel-max
// trick, argmax(log p + G) with G = −log(−log U), U uniform from the store's random state — a
// multinomial sample on every backend — or, with greedy, is the most probable word. A row that
// has emitted <end> emits <pad> from then on. It returns the captions [B·k, steps+1] int32:
// <start>, the words, <end> (when reached within steps) and <pad>s.
//
// The graph runs in training mode, so that variables stay graph parameters (no recompiling
// after every update) and dropout samples as it trains, as in ruotianluo's
// implementation; pass a cfg with Dropout 0 for a dropout-free greedy baseline.
func SampleCaptions(scope *model.Scope, cfg *captioner.Config, inputs *Node, k, steps int, greedy bool) *Node {
	g := inputs.Graph()
	scope.SetTraining(g, true)
	regions := inputs
	if regions.Rank() == 4 {
		regions = encoder.Regions(scope, cfg.EncoderOptions(), regions)
	}
	regions = captioner.RepeatRows(regions, k*regions.Shape().Dimensions[0])
	rows := regions.Shape().Dimensions[0]
	dec := captioner.NewDecoder(cfg)
	memory, state := dec.Prepare(scope, regions, steps)

	pad, end := Scalar(g, dtypes.Int32, text.PadID), Scalar(g, dtypes.Int32, text.EndID)
	prev := BroadcastToDims(Scalar(g, dtypes.Int32, text.StartID), rows)
	done := BroadcastToDims(Const(g, false), rows)
	words := []*Node{prev}
	for t := 0; t < steps; t++ {
		var logits *Node
		logits, state, _ = dec.Step(scope, regions, memory, state, prev, Scalar(g, dtypes.Int32, t))
		logProbs := allowedLogProbs(LogSoftmax(logits, -1))
		var next *Node
		if greedy {
			next = ArgMax(logProbs, -1, dtypes.Int32)
		} else {
			next = DrawWords(scope, logProbs)
		}
		next = Where(done, BroadcastToDims(pad, rows), next)
		done = Or(done, Equal(next, end))
		words = append(words, next)
		prev = next
	}
	return Stack(words, 1)
}

// DrawWords draws one word per row of logProbs [N, V] with probability exp(logProbs) by the
// Gumbel-max trick: argmax_v (log p_v + G_v), G_v = −log(−log U_v), U_v uniform in (0, 1) from
// the store's random state. It returns [N] int32.
func DrawWords(scope *model.Scope, logProbs *Node) *Node {
	g := logProbs.Graph()
	u := scope.RandomUniform(g, logProbs.Shape())
	u = Clip(u, Scalar(g, u.DType(), 1e-20), Scalar(g, u.DType(), 1-1e-7))
	return ArgMax(Add(logProbs, Neg(Log(Neg(Log(u))))), -1, dtypes.Int32)
}

// SampledWords turns sampled captions [N, T] (<start> w… <end> <pad>…) into words, with no
// markers; unfinished marks the rows that reached T without <end> (CIDEr-D then appends no end
// token, as ruotianluo's reward does).
func SampledWords(vocab *text.Vocab, captions *tensors.Tensor) (words [][]string, unfinished []bool) {
	d := captions.Shape().Dimensions
	ids := tensors.MustCopyFlatData[int32](captions)
	words, unfinished = make([][]string, d[0]), make([]bool, d[0])
	for r := range words {
		unfinished[r] = true
		for _, id := range ids[r*d[1]+1 : (r+1)*d[1]] {
			if id == text.EndID || id == text.PadID {
				unfinished[r] = false
				break
			}
			words[r] = append(words[r], vocab.Word(int(id)))
		}
	}
	return words, unfinished
}
