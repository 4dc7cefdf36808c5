package captioner

import (
	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck
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
func SampleCaptions(scope *model.Scope, cfg *Config, inputs *Node, k, steps int, greedy bool) *Node {
	g := inputs.Graph()
	scope.SetTraining(g, true)
	regions := inputs
	if regions.Rank() == 4 {
		regions = Encode(scope, cfg, regions)
	}
	regions = repeatRows(regions, k*regions.Shape().Dimensions[0])
	rows := regions.Shape().Dimensions[0]
	dec := NewDecoder(cfg)
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

// allowedLogProbs sets the log-probabilities [N, V] of <pad> and <start> to −∞.
func allowedLogProbs(logProbs *Node) *Node {
	g := logProbs.Graph()
	ids := Iota(g, shapes.Make(dtypes.Int32, logProbs.Shape().Dimensions...), 1)
	banned := Or(Equal(ids, Scalar(g, dtypes.Int32, text.PadID)), Equal(ids, Scalar(g, dtypes.Int32, text.StartID)))
	return Where(banned, Infinity(g, logProbs.DType(), -1), logProbs)
}

// SCSTLoss is the self-critical policy-gradient loss (Rennie et al. 2017) for sampled captions
// [N, T] (<start> … <end> <pad>…, as SampleCaptions writes them), the decoder's teacher-forced
// logits for them [N, T−1, V], and each sample's advantage [N] (its reward minus its baseline):
//
//	L = −Σ_i a_i Σ_t m_it log p(w_it | w_i,<t, image) / Σ_i,t m_it
//
// where m_it marks the real targets (words and <end>, not <pad>), normalised per token as
// ruotianluo/self-critical.pytorch does. Its gradient is the REINFORCE estimate with baseline.
func SCSTLoss(captions, logits, advantages *Node) *Node {
	dtype := logits.DType()
	targets := Slice(captions, AxisRange(), AxisRange(1))
	mask := ConvertDType(NotEqual(targets, ScalarZero(captions.Graph(), captions.DType())), dtype)
	logProbs := LogSoftmax(logits, -1)
	vocab := logits.Shape().Dimensions[2]
	tokenLogProbs := ReduceSum(Mul(logProbs, OneHot(targets, vocab, dtype)), -1) // [N, T−1]
	perSample := ReduceSum(Mul(tokenLogProbs, mask), -1)                         // [N]
	count := Max(ReduceAllSum(mask), ScalarOne(logits.Graph(), dtype))
	return Neg(Div(ReduceAllSum(Mul(ConvertDType(advantages, dtype), perSample)), count))
}
