// Package decoder is the contract between attncap's decoders and everything that trains or runs
// them (training, greedy and beam search, sampling, attention pictures, checkpoints), and the
// losses computed from a decoder's outputs. It holds no implementation: the LSTM of Show,
// Attend and Tell is decoder/lstm, the Transformer decoder/transformer, and captioner.NewDecoder
// is the one place that picks one from a model's config.
package decoder

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
	"github.com/gomlx/gomlx/ml/model"
)

// Decoder turns the encoder's regions into words. Training, greedy decoding, beam search,
// sampling, attention pictures, checkpoints and the benchmark use a decoder only through this
// interface, so they do not know which one it is.
//
// Shapes: B images (or N hypothesis rows while decoding), R regions of C channels, V words,
// T caption length with <start> and <end>. Every method builds graph nodes under scope
// "decoder", so the same variables serve training and decoding.
type Decoder interface {
	// Prepare computes, once per image, what every step reads besides the regions [B, R, C]
	// (memory: the LSTM's attention projection of the regions; the Transformer's per-layer
	// cross-attention keys and values) and the state before the first word (the LSTM's h₀, c₀;
	// the Transformer's empty self-attention caches, room for steps positions). Every state
	// tensor has the rows on axis 0, so beam search reorders hypotheses by gathering rows.
	Prepare(scope *model.Scope, regions *Node, steps int) (memory, state []*Node)

	// Slots is how many memory and state tensors Prepare returns (compiled step graphs take
	// them as a flat list of inputs).
	Slots() (memory, state int)

	// Step decodes one word for each of the N rows: prev [N] int32 is the word each row emitted
	// last (<start> first), position the scalar int32 index of prev in the caption (0 for
	// <start>). It returns the logits of the next word [N, V], the next state and the attention
	// over the regions that produced it [N, R].
	Step(scope *model.Scope, regions *Node, memory, state []*Node, prev, position *Node) (logits *Node, next []*Node, alpha *Node)

	// TeacherForced runs the decoder over whole captions [B, T] (int32: <start> w₁ … <end>
	// <pad>…), reading the true previous word at every position. It returns the logits for words
	// 1..T−1, [B, T−1, V], and the attention over the regions of each, [B, T−1, R]. Logits equal
	// those of T−1 Steps from Prepare's state (tests check it for both decoders).
	TeacherForced(scope *model.Scope, regions, captions *Node) (logits, alphas *Node)

	// MaxLen is the longest caption, in tokens with <start> and <end>, the decoder can write
	// (the Transformer has positions up to its config's MaxLen), or 0 when any length works
	// (the LSTM). Decoding caps its length limit there.
	MaxLen() int

	// WithoutAttention returns the decoder with a Step that may return nil attention when that
	// makes the step cheaper (the Transformer: its last cross-attention then takes the fused
	// attention op, which gives no weights); a decoder without such a shortcut returns itself.
	// Decoding that does not report attention steps with it.
	WithoutAttention() Decoder
}

// CaptionLoss is the training objective, for captions [B, T], logits [B, T−1, V] and attention
// [B, T−1, R]. Only real words are scored (targets that are not <pad>):
//
//	CE  = −(1/N) Σ_{b,t: y_bt ≠ pad} log softmax(logits_bt)[y_bt],   N = number of real targets
//	Reg = mean over images b and regions i of (1 − Σ_{t real} α_bti)²
//	Loss = CE + λ·Reg
//
// (the regulariser is averaged over regions as the widely used PyTorch tutorial does, so λ = 1
// keeps it on the scale of CE; "Show, Attend and Tell" §4.2.1). λ = attentionReg; 0 turns the
// regulariser off. It returns the loss and its CE part.
func CaptionLoss(captions, logits, alphas *Node, attentionReg float64) (loss, ce *Node) {
	dtype := logits.DType()
	targets := Slice(captions, AxisRange(), AxisRange(1))
	mask := ConvertDType(NotEqual(targets, ScalarZero(captions.Graph(), captions.DType())), dtype)
	logProbs := LogSoftmax(logits, -1)
	targetLogProbs := ReduceSum(Mul(logProbs, OneHot(targets, logits.Shape().Dimensions[2], dtype)), -1)
	count := Max(ReduceAllSum(mask), ScalarOne(logits.Graph(), dtype))
	ce = Neg(Div(ReduceAllSum(Mul(targetLogProbs, mask)), count))
	loss = ce
	if attentionReg > 0 {
		attention := ReduceSum(Mul(alphas, InsertAxes(mask, -1)), 1) // [B, R]
		reg := ReduceAllMean(Square(OneMinus(attention)))
		loss = Add(ce, MulScalar(reg, attentionReg))
	}
	return loss, ce
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
