// Package lstm is the decoder of Show, Attend and Tell (Xu et al. 2015): soft (additive)
// attention over the encoder's regions, a gate on the context, and an LSTM cell that writes the
// caption word by word. Options holds its sizes; New returns it as a decoder.Decoder.
package lstm

import (
	"fmt"
	"math"

	"github.com/attncap/attncap/captioner/decoder"
	"github.com/attncap/attncap/captioner/layers"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
	gomlxlayers "github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
)

// The LSTM decoder of Show, Attend and Tell (Xu et al. 2015, "Show, Attend and Tell: Neural
// Image Caption Generation with Visual Attention"). Shapes: B images, R regions of C channels,
// A attention units, H hidden units, E embedding units, V words, T caption length (markers
// included). Every function builds graph nodes under scope "decoder"; the same variables serve
// training (unrolled over T steps) and decoding (one step graph reused).

// Options are the LSTM decoder's sizes (a model's config holds them).
type Options struct {
	// VocabSize is V, the number of token ids, the special tokens included.
	VocabSize int
	// EmbedDim, HiddenDim and AttentionDim are E, H and A.
	EmbedDim, HiddenDim, AttentionDim int
	// Dropout is the rate of the dropout before the output layer, in [0, 1).
	Dropout float64
	// RegionCoords appends each region's grid position to its features (WithRegionCoords).
	RegionCoords bool
	// Activation is the attention's nonlinearity (Attend): ActivationTanh ("" too), as in the
	// paper, or ActivationReLU, as in the widely used PyTorch tutorial
	// (sgrvinod/a-PyTorch-Tutorial-to-Image-Captioning, models.Attention).
	Activation string
	// DType is the compute precision: "" or "float32", or "bfloat16" (layers.ComputeDType).
	DType string
}

// Attention activations (Options.Activation).
const (
	ActivationTanh = "tanh"
	ActivationReLU = "relu"
)

// Validate reports the first setting that cannot work.
func (o Options) Validate() error {
	if o.Activation != "" && o.Activation != ActivationTanh && o.Activation != ActivationReLU {
		return fmt.Errorf("attention activation %q: want tanh or relu", o.Activation)
	}
	if o.EmbedDim < 1 || o.HiddenDim < 1 || o.AttentionDim < 1 {
		return fmt.Errorf("model sizes must be positive: embed %d, hidden %d, attention %d", o.EmbedDim, o.HiddenDim, o.AttentionDim)
	}
	if o.Dropout < 0 || o.Dropout >= 1 {
		return fmt.Errorf("dropout %v must be in [0, 1)", o.Dropout)
	}
	return layers.ValidatePrecision(o.DType)
}

// New returns the decoder with these options: memory is the attention projection of the
// regions, the state is (h, c). Its methods compute in the regions' compute dtype
// (layers.ComputeDType) and return logits and attention in the regions' dtype (memory, h: the
// compute dtype; c: its full precision).
func New(opts Options) decoder.Decoder { return lstmDecoder{opts} }

type lstmDecoder struct{ opts Options }

func (d lstmDecoder) Prepare(scope *model.Scope, regions *Node, _ int) (memory, state []*Node) {
	x := d.regions(regions)
	h, c := InitState(scope, d.opts, x)
	return []*Node{ProjectRegions(scope, d.opts, x)}, []*Node{h, c}
}

func (d lstmDecoder) Slots() (memory, state int) { return 1, 2 }

// MaxLen is 0: the LSTM writes captions of any length.
func (d lstmDecoder) MaxLen() int { return 0 }

// WithoutAttention returns d: the LSTM's attention is part of its step.
func (d lstmDecoder) WithoutAttention() decoder.Decoder { return d }

func (d lstmDecoder) Step(scope *model.Scope, regions *Node, memory, state []*Node, prev, _ *Node) (logits *Node, next []*Node, alpha *Node) {
	logits, h, c, alpha := Step(scope, d.opts, d.regions(regions), memory[0], state[0], state[1], prev)
	return ConvertDType(logits, regions.DType()), []*Node{h, c}, ConvertDType(alpha, regions.DType())
}

func (d lstmDecoder) TeacherForced(scope *model.Scope, regions, captions *Node) (logits, alphas *Node) {
	logits, alphas = TeacherForced(scope, d.opts, d.regions(regions), captions)
	return ConvertDType(logits, regions.DType()), ConvertDType(alphas, regions.DType())
}

// regions is what the decoder attends over: the encoder's regions [B, R, C] in the compute
// dtype, with their grid coordinates appended when Options.RegionCoords ([B, R, C+2]).
func (d lstmDecoder) regions(regions *Node) *Node {
	x := layers.ToCompute(d.opts.DType, regions)
	if d.opts.RegionCoords {
		x = WithRegionCoords(x)
	}
	return x
}

// WithRegionCoords appends to regions [B, R, C] (R = G·G cells of a square grid, row-major as
// the encoder flattens them) each cell's centre, x = (2j+1)/G − 1 for column j and y likewise
// for row i, both in (−1, 1): [B, R, C+2] (the CoordConv idea of Liu et al. 2018, "An
// Intriguing Failing of Convolutional Neural Networks and the CoordConv Solution", applied to
// the attention's inputs). It panics when R is not a square, which no encoder produces.
func WithRegionCoords(regions *Node) *Node {
	d := regions.Shape().Dimensions
	b, r := d[0], d[1]
	g := int(math.Round(math.Sqrt(float64(r))))
	if g*g != r {
		panic(fmt.Sprintf("WithRegionCoords: %d regions are not a square grid", r))
	}
	coords := make([]float32, 2*r)
	for i := 0; i < g; i++ {
		for j := 0; j < g; j++ {
			coords[2*(i*g+j)] = float32(2*j+1)/float32(g) - 1
			coords[2*(i*g+j)+1] = float32(2*i+1)/float32(g) - 1
		}
	}
	c := ConvertDType(Reshape(Const(regions.Graph(), coords), 1, r, 2), regions.DType())
	return Concatenate([]*Node{regions, BroadcastToDims(c, b, r, 2)}, -1)
}

// InitState computes the LSTM's initial state from the mean region feature:
//
//	ā = (1/R) Σ_i a_i,   h₀ = W_h ā + b_h,   c₀ = W_c ā + b_c
//
// h [B, H] has the regions' dtype, c [B, H] its full precision (the cell state accumulates
// over the steps: float32 when the regions are bfloat16).
func InitState(scope *model.Scope, opts Options, regions *Node) (h, c *Node) {
	s := scope.At("decoder")
	mean := ReduceMean(regions, 1)
	return layers.Dense(s.At("init_h"), mean, opts.HiddenDim), layers.ToFull(layers.Dense(s.At("init_c"), mean, opts.HiddenDim))
}

// ProjectRegions precomputes the encoder half of the attention, W_a a_i + b_a: [B, R, A]. It
// does not depend on the step, so training and decoding compute it once per image.
func ProjectRegions(scope *model.Scope, opts Options, regions *Node) *Node {
	return layers.Dense(scope.At("decoder").At("attention_enc"), regions, opts.AttentionDim)
}

// Attend is soft (additive) attention over the regions given the previous hidden state:
//
//	e_i = w · f(W_a a_i + U_a h + b) + b_w,   α = softmax(e),   z = Σ_i α_i a_i
//
// with f = tanh (Xu et al. 2015), or ReLU with Options.Activation = "relu".
// It returns the context z [B, C] in the regions' dtype and the weights α [B, R] at its full
// precision (the softmax runs there).
func Attend(scope *model.Scope, opts Options, regions, projected, h *Node) (context, alpha *Node) {
	s := scope.At("decoder")
	query := InsertAxes(layers.Dense(s.At("attention_dec"), h, opts.AttentionDim), 1) // [B, 1, A]
	joint := Add(projected, query)
	if opts.Activation == ActivationReLU {
		joint = Max(joint, ZerosLike(joint))
	} else {
		joint = Tanh(joint)
	}
	scores := layers.Dense(s.At("attention_score"), joint, 1) // [B, R, 1]
	alpha = Softmax(layers.ToFull(Squeeze(scores, -1)), -1)
	context = Einsum("br,brc->bc", ConvertDType(alpha, regions.DType()), regions)
	return context, alpha
}

// lstmCell is one LSTM step with PyTorch's gate order (input, forget, cell, output):
//
//	[i f g o] = W [x; h] + b,   c' = σ(f)⊙c + σ(i)⊙tanh(g),   h' = σ(o)⊙tanh(c')
//
// The product runs in x's and h's dtype, the gates and c in c's (full precision); h' returns
// in h's dtype.
func lstmCell(scope *model.Scope, x, h, c *Node) (hNew, cNew *Node) {
	hidden := h.Shape().Dimensions[1]
	gates := ConvertDType(layers.Dense(scope, Concatenate([]*Node{x, h}, -1), 4*hidden), c.DType())
	parts := Split(gates, -1, 4)
	i, f, g, o := Sigmoid(parts[0]), Sigmoid(parts[1]), Tanh(parts[2]), Sigmoid(parts[3])
	cNew = Add(Mul(f, c), Mul(i, g))
	hNew = ConvertDType(Mul(o, Tanh(cNew)), h.DType())
	return
}

// Step is one decoding step: attend with the previous hidden state, gate the context with
// β = σ(W_β h + b_β), run the LSTM on [embedding of the previous word; β⊙z], and predict the
// next word from dropout(h'):
//
//	logits = W_o dropout(h') + b_o
//
// prevIDs is [B] int32. It returns logits [B, V] in the regions' dtype, the new state and the
// attention α [B, R] at full precision.
func Step(scope *model.Scope, opts Options, regions, projected, h, c, prevIDs *Node) (logits, hNew, cNew, alpha *Node) {
	s := scope.At("decoder")
	// Indices as [B, 1]: the trailing axis of size 1 is the index axis, so a plain [1] (one
	// image) would gather one vector instead of a batch of one.
	ids := Reshape(prevIDs, prevIDs.Shape().Dimensions[0], 1)
	emb := layers.Embedding(s.At("embedding"), ids, regions.DType(), opts.VocabSize, opts.EmbedDim)
	context, alpha := Attend(scope, opts, regions, projected, h)
	channels := regions.Shape().Dimensions[2]
	beta := Sigmoid(layers.Dense(s.At("gate"), h, channels))
	hNew, cNew = lstmCell(s.At("lstm"), Concatenate([]*Node{emb, Mul(beta, context)}, -1), h, c)
	out := gomlxlayers.DropoutStatic(s.At("dropout"), hNew, opts.Dropout)
	logits = layers.Dense(s.At("output"), out, opts.VocabSize)
	return logits, hNew, cNew, alpha
}

// TeacherForced runs the decoder over whole captions [B, T] (int32: <start> w₁ … <end> <pad>…),
// feeding the true previous word at each step. It returns the logits for words 1..T−1,
// [B, T−1, V] in the regions' dtype, and the attention of each step, [B, T−1, R] at full
// precision.
func TeacherForced(scope *model.Scope, opts Options, regions, captions *Node) (logits, alphas *Node) {
	steps := captions.Shape().Dimensions[1] - 1
	projected := ProjectRegions(scope, opts, regions)
	h, c := InitState(scope, opts, regions)
	allLogits := make([]*Node, steps)
	allAlphas := make([]*Node, steps)
	for t := 0; t < steps; t++ {
		prev := Reshape(Slice(captions, AxisRange(), AxisElem(t)), -1)
		allLogits[t], h, c, allAlphas[t] = Step(scope, opts, regions, projected, h, c, prev)
	}
	return Stack(allLogits, 1), Stack(allAlphas, 1)
}
