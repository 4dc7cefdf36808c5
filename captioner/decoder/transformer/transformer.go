// Package transformer is a pre-norm Transformer decoder over the encoder's regions, beside the
// LSTM of Show, Attend and Tell. Options holds its sizes; New returns it as a decoder.Decoder.
package transformer

import (
	"fmt"
	"math"

	"github.com/attncap/attncap/captioner/decoder"
	"github.com/attncap/attncap/captioner/layers"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
	gomlxlayers "github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/layers/attention"
	"github.com/gomlx/gomlx/ml/layers/norm"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
)

// Options are the Transformer decoder's sizes (a model's config holds them).
type Options struct {
	// VocabSize is V, the number of token ids, the special tokens included.
	VocabSize int
	// MaxLen is the longest caption, <start> and <end> included: the positions it has.
	MaxLen int
	// Width is the model width d (also the word embedding's size).
	Width int
	// Layers pre-norm blocks of Heads heads (d/Heads wide each) and a feed-forward block FFDim
	// wide.
	Layers, Heads, FFDim int
	// Dropout is the rate of every dropout, in [0, 1).
	Dropout float64
	// Positions is "learned" or "sinusoidal".
	Positions string
	// TieEmbeddings shares the word embedding with the output layer (logits = x·Eᵀ + b).
	TieEmbeddings bool
	// DType is the compute precision: "" or "float32", or "bfloat16" (layers.ComputeDType).
	DType string
}

// Position encodings (Options.Positions).
const (
	Learned    = "learned"
	Sinusoidal = "sinusoidal"
)

// Validate reports the first setting that cannot work.
func (o Options) Validate() error {
	switch {
	case o.Width < 1 || o.Layers < 1 || o.Heads < 1 || o.FFDim < 1:
		return fmt.Errorf("transformer sizes must be positive: embed %d, layers %d, heads %d, ff %d", o.Width, o.Layers, o.Heads, o.FFDim)
	case o.Width%o.Heads != 0:
		return fmt.Errorf("transformer width (-embed %d) must be a multiple of -heads %d", o.Width, o.Heads)
	case o.Positions != Learned && o.Positions != Sinusoidal:
		return fmt.Errorf("transformer positions %q: want learned or sinusoidal", o.Positions)
	case o.Dropout < 0 || o.Dropout >= 1:
		return fmt.Errorf("dropout %v must be in [0, 1)", o.Dropout)
	}
	return layers.ValidatePrecision(o.DType)
}

// New returns the decoder with these options.
func New(opts Options) decoder.Decoder { return transformerDecoder{opts: opts} }

// transformerDecoder is a pre-norm Transformer decoder over the encoder regions ("Attention Is
// All You Need", Vaswani et al. 2017, with the layer norm before each block as in Xiong et al.
// 2020 and PyTorch's nn.TransformerDecoderLayer(norm_first=True)). With d = Options.Width:
//
//	memory = W_m regions + b_m + P_r            [B, R, d]   P_r: a learned vector per region
//	x      = E[w] + P_t                          [B, T, d]   P_t: learned or sinusoidal positions
//	each of the Layers blocks:
//	  x = x + Drop(SelfAttention(LN(x)))                     causal: position t sees 0..t
//	  x = x + Drop(CrossAttention(LN(x), memory))
//	  x = x + Drop(W₂ Drop(ReLU(W₁ LN(x) + b₁)) + b₂)
//	logits = W_o LN(x) + b_o                     (TieEmbeddings: E·LN(x) + b_o)
//
// Attention is GoMLX's attention.MultiHeadAttention (Heads heads of d/Heads, scaled dot
// product, output projection) on queries, keys and values projected here, so that decoding can
// keep each layer's self-attention keys and values of earlier positions in its state (a cache:
// a step projects only its own word, it does not recompute the prefix) and compute the
// cross-attention keys and values of the regions once per image (Prepare's memory). The
// attention over regions reported for pictures is the last layer's cross-attention, averaged
// over its heads.
//
// The methods compute in layers.ComputeDType(Options.DType) of the regions (memory and state in it too) and
// return logits and attention in the regions' dtype. In bfloat16 the layer norms and the
// attention proper (scores, softmax, weighted sum, GoMLX's output projection) run in float32
// (layers.ToFull).
type transformerDecoder struct {
	opts        Options
	noAttention bool // Step returns nil attention (WithoutAttention)
}

// headDim is the width of one attention head.
func (d transformerDecoder) headDim() int { return d.opts.Width / d.opts.Heads }

func (d transformerDecoder) Prepare(scope *model.Scope, regions *Node, steps int) (memory, state []*Node) {
	s := scope.At("decoder")
	regions = layers.ToCompute(d.opts.DType, regions)
	mem := d.memory(s, regions)
	rows := regions.Shape().Dimensions[0]
	for l := 0; l < d.opts.Layers; l++ {
		k, v := d.crossKeysValues(s.At("layer_%d", l), mem)
		memory = append(memory, k, v)
		empty := Zeros(regions.Graph(), shapes.Make(regions.DType(), rows, steps, d.opts.Width))
		state = append(state, empty, empty)
	}
	return memory, state
}

func (d transformerDecoder) Slots() (memory, state int) { return 2 * d.opts.Layers, 2 * d.opts.Layers }

// MaxLen is Options.MaxLen: the Transformer has positions up to it only.
func (d transformerDecoder) MaxLen() int { return d.opts.MaxLen }

// WithoutAttention returns d with a Step whose last cross-attention takes the fused attention
// op and returns nil attention.
func (d transformerDecoder) WithoutAttention() decoder.Decoder {
	d.noAttention = true
	return d
}

func (d transformerDecoder) Step(scope *model.Scope, regions *Node, memory, state []*Node, prev, position *Node) (logits *Node, next []*Node, alpha *Node) {
	s := scope.At("decoder")
	g := prev.Graph()
	rows, steps := state[0].Shape().Dimensions[0], state[0].Shape().Dimensions[1]
	x := d.embed(s, Reshape(prev, rows, 1), Reshape(position, 1), layers.ComputeDType(d.opts.DType, regions.DType())) // [N, 1, d]
	// Keys at positions 0..position are valid: the cache's own past and the word written now.
	valid := LessOrEqual(Iota(g, shapes.Make(dtypes.Int32, steps), 0), position)
	keyMask := BroadcastToDims(InsertAxes(valid, 0), rows, steps)
	zero := ScalarZero(g, dtypes.Int32)
	next = make([]*Node, len(state))
	for l := 0; l < d.opts.Layers; l++ {
		cache := func(k, v *Node) (keys, values, mask *Node) {
			next[2*l] = DynamicUpdateSlice(state[2*l], k, []*Node{zero, position, zero})
			next[2*l+1] = DynamicUpdateSlice(state[2*l+1], v, []*Node{zero, position, zero})
			return next[2*l], next[2*l+1], keyMask
		}
		var a *Node
		x, a = d.block(s.At("layer_%d", l), x, memory[2*l], memory[2*l+1], cache, l == d.opts.Layers-1 && !d.noAttention)
		if a != nil {
			alpha = ConvertDType(Reshape(a, rows, -1), regions.DType())
		}
	}
	return ConvertDType(Reshape(d.logits(s, x), rows, d.opts.VocabSize), regions.DType()), next, alpha
}

func (d transformerDecoder) TeacherForced(scope *model.Scope, regions, captions *Node) (logits, alphas *Node) {
	s := scope.At("decoder")
	steps := captions.Shape().Dimensions[1] - 1
	g := captions.Graph()
	out := regions.DType()
	regions = layers.ToCompute(d.opts.DType, regions)
	x := d.embed(s, Slice(captions, AxisRange(), AxisRange(0, steps)), Iota(g, shapes.Make(dtypes.Int32, steps), 0), regions.DType())
	mem := d.memory(s, regions)
	causal := func(k, v *Node) (keys, values, mask *Node) { return k, v, nil }
	for l := 0; l < d.opts.Layers; l++ {
		ls := s.At("layer_%d", l)
		k, v := d.crossKeysValues(ls, mem)
		var a *Node
		x, a = d.block(ls, x, k, v, causal, l == d.opts.Layers-1)
		if a != nil {
			alphas = a
		}
	}
	return ConvertDType(d.logits(s, x), out), ConvertDType(alphas, out)
}

// memory projects the regions [B, R, C] to the model width and adds a learned vector per
// region, so that attention can tell where a region is: [B, R, d].
func (d transformerDecoder) memory(s *model.Scope, regions *Node) *Node {
	dims := regions.Shape().Dimensions
	m := layers.Dense(s.At("memory"), regions, d.opts.Width)
	pos := layers.Weight(s.At("region_positions").WithInitializer(initializer.RandomNormalFn(s, 0.02)), "embeddings", regions, dims[1], d.opts.Width)
	return Add(m, InsertAxes(pos, 0))
}

// crossKeysValues projects the memory to one layer's cross-attention keys and values, [B, R, d]
// each (one product, then split).
func (d transformerDecoder) crossKeysValues(ls *model.Scope, memory *Node) (keys, values *Node) {
	kv := Split(layers.Dense(ls.At("cross_attention").At("kv"), memory, 2*d.opts.Width), -1, 2)
	return kv[0], kv[1]
}

// embed is the word embedding of ids [N, S] plus the positions' [S] vectors, with dropout:
// [N, S, d] in dtype.
func (d transformerDecoder) embed(s *model.Scope, ids, positions *Node, dtype dtypes.DType) *Node {
	x := layers.Embedding(s.At("embedding"), InsertAxes(ids, -1), dtype, d.opts.VocabSize, d.opts.Width)
	x = Add(x, InsertAxes(d.positionVectors(s, positions, dtype), 0))
	return gomlxlayers.DropoutStatic(s.At("embedding_dropout"), x, d.opts.Dropout)
}

// positionVectors are the vectors of positions [S] (int32), [S, d] in dtype: rows of a learned
// table, or the sinusoids of Vaswani et al. §3.5, PE(p, 2i) = sin(p/10000^(2i/d)),
// PE(p, 2i+1) = cos(p/10000^(2i/d)).
func (d transformerDecoder) positionVectors(s *model.Scope, positions *Node, dtype dtypes.DType) *Node {
	ids := InsertAxes(positions, -1)
	if d.opts.Positions == Sinusoidal {
		table := ConvertDType(Const(positions.Graph(), sinusoids(d.opts.MaxLen, d.opts.Width)), dtype)
		return Gather(table, ids)
	}
	return layers.Embedding(s.At("positions").WithInitializer(initializer.RandomNormalFn(s, 0.02)), ids, dtype, d.opts.MaxLen, d.opts.Width)
}

// sinusoids is the table of sinusoidal position vectors, [n][dim].
func sinusoids(n, dim int) [][]float32 {
	table := make([][]float32, n)
	for p := range table {
		table[p] = make([]float32, dim)
		for i := 0; i < dim; i += 2 {
			angle := float64(p) / math.Pow(10000, float64(i)/float64(dim))
			table[p][i] = float32(math.Sin(angle))
			if i+1 < dim {
				table[p][i+1] = float32(math.Cos(angle))
			}
		}
	}
	return table
}

// selfKeysValues gives self-attention its keys, values and key mask from the block's own
// projected keys and values of x: in training x's own with a causal mask (mask nil); in a
// decoding step the layer's cache with this position written in, masked past it.
type selfKeysValues func(k, v *Node) (keys, values, mask *Node)

// block is one pre-norm layer over x [N, S, d], with this layer's cross-attention keys and
// values of the regions [N, R, d]. With wantAlpha it also returns the cross-attention weights
// averaged over heads, [N, S, R].
func (d transformerDecoder) block(ls *model.Scope, x, crossKeys, crossValues *Node, selfKV selfKeysValues, wantAlpha bool) (y, alpha *Node) {
	width, rate := d.opts.Width, d.opts.Dropout

	h := layerNorm(ls.At("self_norm"), x)
	sa := ls.At("self_attention")
	// Queries, keys and values in one product (as PyTorch's in_proj), then split.
	qkv := Split(layers.Dense(sa.At("qkv"), h, 3*width), -1, 3)
	keys, values, mask := selfKV(qkv[1], qkv[2])
	self := d.attention(sa, qkv[0], keys, values)
	if mask == nil {
		self = self.WithCausalMask(true)
	} else {
		self = self.WithKeyMask(mask)
	}
	x = Add(x, gomlxlayers.DropoutStatic(ls.At("self_dropout"), ConvertDType(self.Done(), x.DType()), rate))

	h = layerNorm(ls.At("cross_norm"), x)
	ca := ls.At("cross_attention")
	cross := d.attention(ca, layers.Dense(ca.At("query"), h, width), crossKeys, crossValues)
	var out *Node
	if wantAlpha {
		var coefficients *Node
		out, coefficients = cross.DoneWithCoefficients() // [N, S, heads, R]
		alpha = ReduceMean(coefficients, 2)
	} else {
		out = cross.Done()
	}
	x = Add(x, gomlxlayers.DropoutStatic(ls.At("cross_dropout"), ConvertDType(out, x.DType()), rate))

	h = layerNorm(ls.At("ff_norm"), x)
	f := gomlxlayers.DropoutStatic(ls.At("ff_dropout"), activation.Relu(layers.Dense(ls.At("ff1"), h, d.opts.FFDim)), rate)
	x = Add(x, gomlxlayers.DropoutStatic(ls.At("out_dropout"), layers.Dense(ls.At("ff2"), f, width), rate))
	return x, alpha
}

// attention is GoMLX's multi-head attention over pre-projected queries [N, S, d], keys and
// values [N, K, d], at their full precision (float32 for bfloat16 activations: the scores, the
// softmax and the weighted sum, and the output projection, whose variables GoMLX creates in
// its inputs' dtype); the caller converts its output back.
func (d transformerDecoder) attention(scope *model.Scope, queries, keys, values *Node) *attention.MultiHeadAttentionBuilder {
	return attention.MultiHeadAttention(scope, layers.ToFull(queries), layers.ToFull(keys), layers.ToFull(values), d.opts.Heads, d.headDim()).WithPreProjected(true)
}

// logits are the next-word logits of x [N, S, d] after the final layer norm: [N, S, V] in x's
// dtype.
func (d transformerDecoder) logits(s *model.Scope, x *Node) *Node {
	h := layerNorm(s.At("final_norm"), x)
	if !d.opts.TieEmbeddings {
		return layers.Dense(s.At("output"), h, d.opts.VocabSize)
	}
	table := layers.Weight(s.At("embedding"), "embeddings", x, d.opts.VocabSize, d.opts.Width)
	bias := layers.Weight(s.At("output").WithInitializer(initializer.Zero), "bias", x, d.opts.VocabSize)
	return Add(Einsum("nsd,vd->nsv", h, table), ExpandLeftToRank(bias, 3))
}

// layerNorm normalises the last axis with a learned gain and offset, ε = 1e-5 (PyTorch's), at
// x's full precision (statistics and variables float32 for a bfloat16 x); the result has x's
// dtype.
func layerNorm(s *model.Scope, x *Node) *Node {
	return ConvertDType(norm.LayerNorm(s, layers.ToFull(x), -1).Epsilon(1e-5).Done(), x.DType())
}
