package captioner

import (
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/ml/model"
)

// Decoder turns the encoder's regions into words. Training, greedy decoding, beam search,
// attention pictures, checkpoints and the benchmark use a decoder only through this interface,
// so they do not know which one it is. Two implement it: the LSTM of Show, Attend and Tell
// (decoder_lstm.go) and a pre-norm Transformer (decoder_transformer.go); Config.Decoder chooses.
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
}

// withoutAttention returns dec with a Step that may return nil attention, when that makes the
// step cheaper (the Transformer: its last cross-attention then takes the fused attention op,
// which gives no weights); other decoders are returned as they are. Decoding that skips the
// attention (DecodeOptions.SkipAttention) steps with it.
func withoutAttention(dec Decoder) Decoder {
	if t, ok := dec.(transformerDecoder); ok {
		t.noAttention = true
		return t
	}
	return dec
}

// NewDecoder returns the decoder cfg selects (Config.DecoderName). cfg must be valid.
func NewDecoder(cfg *Config) Decoder {
	if cfg.DecoderName() == DecoderTransformer {
		return transformerDecoder{cfg: cfg}
	}
	return lstmDecoder{cfg}
}

// CaptionLoss is the training objective, for captions [B, T], logits [B, T−1, V] and attention
// [B, T−1, R]. Only real words are scored (targets that are not <pad>):
//
//	CE  = −(1/N) Σ_{b,t: y_bt ≠ pad} log softmax(logits_bt)[y_bt],   N = number of real targets
//	Reg = mean over images b and regions i of (1 − Σ_{t real} α_bti)²
//	Loss = CE + λ·Reg
//
// (the regulariser is averaged over regions as the widely used PyTorch tutorial does, so λ = 1
// keeps it on the scale of CE). It returns the loss and its CE part.
func CaptionLoss(cfg *Config, captions, logits, alphas *Node) (loss, ce *Node) {
	dtype := logits.DType()
	targets := Slice(captions, AxisRange(), AxisRange(1))
	mask := ConvertDType(NotEqual(targets, ScalarZero(captions.Graph(), captions.DType())), dtype)
	logProbs := LogSoftmax(logits, -1)
	targetLogProbs := ReduceSum(Mul(logProbs, OneHot(targets, cfg.VocabSize, dtype)), -1)
	count := Max(ReduceAllSum(mask), ScalarOne(logits.Graph(), dtype))
	ce = Neg(Div(ReduceAllSum(Mul(targetLogProbs, mask)), count))
	loss = ce
	if cfg.AttentionReg > 0 {
		attention := ReduceSum(Mul(alphas, InsertAxes(mask, -1)), 1) // [B, R]
		reg := ReduceAllMean(Square(OneMinus(attention)))
		loss = Add(ce, MulScalar(reg, cfg.AttentionReg))
	}
	return loss, ce
}
