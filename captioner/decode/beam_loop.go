package decode

import (
	"math"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decoder"
	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Beam search with the whole loop in one compiled graph (Options.Loop = LoopGraph; not the
// default on any backend until a GPU run has compared it with the host loop): the same
// algorithm as Beam's host loop (decode.go), with the hypotheses, their scores and the finished
// captions as tensors, so no step returns to the host. The loop over the words is wordLoop's
// (loop.go), as greedy's: unrolled to the length limit.
//
// Shapes: B images, k beam slots, P = k+1 rows per image for k > 1 (the last decodes greedily,
// as on the host; P = 1 for k = 1), W = min(2k, V) words kept per row and step, T steps (the
// length limit), R regions. Scores are float64 sums of the float32 log-probabilities, as on the
// host, so both rank hypotheses alike.

// beamState is the loop state of beam search in the graph.
type beamState struct {
	k, steps   int
	liveLP     *Node // [B, k] float64: each live hypothesis's log-probability, −inf for an empty slot
	liveTokens *Node // [B, k, T] int32: its words, <pad> after them
	liveAlpha  *Node // [B, k, T, R]: its attention per word; nil when attention is skipped
	finLP      *Node // [B, k] float64: finished captions' log-probabilities (<end> included), in the order they ended
	finTokens  *Node // [B, k, T] int32
	finAlpha   *Node // [B, k, T, R] or nil
	finCount   *Node // [B] int32: how many captions have finished
}

// newBeamState is the state before the first word: one live hypothesis per image (slot 0, the
// empty caption), nothing finished.
func newBeamState(g *Graph, images, k, steps, numRegions int, dtype dtypes.DType, attention bool) beamState {
	slot := Iota(g, shapes.Make(dtypes.Int32, images, k), 1)
	negInf := Infinity(g, dtypes.Float64, -1)
	s := beamState{
		k: k, steps: steps,
		liveLP:     Where(Equal(slot, ScalarZero(g, dtypes.Int32)), ZerosLike(BroadcastToDims(negInf, images, k)), BroadcastToDims(negInf, images, k)),
		liveTokens: Zeros(g, shapes.Make(dtypes.Int32, images, k, steps)), // text.PadID
		finLP:      BroadcastToDims(negInf, images, k),
		finTokens:  Zeros(g, shapes.Make(dtypes.Int32, images, k, steps)),
		finCount:   Zeros(g, shapes.Make(dtypes.Int32, images)),
	}
	if attention {
		s.liveAlpha = Zeros(g, shapes.Make(dtype, images, k, steps, numRegions))
		s.finAlpha = s.liveAlpha
	}
	return s
}

// beamChoice is one step's selection: for each image and beam slot of the next step, the slot
// it continues, the word it appends and whether the slot holds a hypothesis ([B, k] each).
type beamChoice struct {
	parent, word, valid *Node
}

// advance runs step t's selection, as Beam's host loop does: the live hypotheses'
// continuations are ranked by total log-probability (ties to the lower slot, then the better
// word); going down that list, a continuation takes the next free beam slot and an <end>
// finishes its hypothesis, until k continuations are taken or k captions have finished; once k
// have finished, the image stops. values and ids [B, k, W] are each live slot's best allowed
// words (TopAllowedWords; −inf past them), alpha [B, k, R] (nil without attention) the
// attention that produced them.
func (s beamState) advance(values, ids, alpha, t *Node) (beamState, beamChoice) {
	g := values.Graph()
	d := values.Shape().Dimensions
	images, k, w := d[0], d[1], d[2]
	i32 := func(x int) *Node { return Scalar(g, dtypes.Int32, x) }
	cand := Reshape(Add(InsertAxes(s.liveLP, -1), ConvertDType(values, dtypes.Float64)), images, k*w)
	scores, index := topN(cand, 2*k) // [B, n]: at most k continuations and k endings matter
	parent, word := Div(index, i32(w)), batchTake(Reshape(ids, images, k*w), index)
	valid := GreaterThan(scores, Infinity(g, dtypes.Float64, -1))
	isEnd := And(valid, Equal(word, i32(text.EndID)))
	isWord := And(valid, LogicalNot(isEnd))
	exclusive := &CumSumOptions{Exclusive: true}
	wordsBefore := CumSum(ConvertDType(isWord, dtypes.Int32), 1, exclusive)
	endsBefore := Add(CumSum(ConvertDType(isEnd, dtypes.Int32), 1, exclusive), InsertAxes(s.finCount, -1))
	taken := And(valid, And(LessThan(wordsBefore, i32(k)), LessThan(endsBefore, i32(k))))

	next := s
	next.finCount = Add(s.finCount, ReduceSum(ConvertDType(And(taken, isEnd), dtypes.Int32), 1))
	stopped := InsertAxes(GreaterOrEqual(next.finCount, i32(k)), -1)

	// Continuations into beam slots 0…k−1, in rank order.
	toSlot := slotMatrix(And(taken, isWord), wordsBefore, k) // [B, n, k]
	choice := beamChoice{
		parent: pickBySlot(toSlot, parent),
		word:   pickBySlot(toSlot, word),
		valid:  And(ReduceLogicalOr(toSlot, 1), LogicalNot(stopped)),
	}
	choice.word = Where(choice.valid, choice.word, i32(text.PadID))
	next.liveLP = Where(choice.valid, pickBySlot(toSlot, scores), Infinity(g, dtypes.Float64, -1))
	column := Equal(Iota(g, shapes.Make(dtypes.Int32, 1, 1, s.steps), 2), t) // [1, 1, T]
	next.liveTokens = Where(column, InsertAxes(choice.word, -1), batchTake(s.liveTokens, choice.parent))
	if alpha != nil {
		a := InsertAxes(batchTake(alpha, choice.parent), 2) // [B, k, 1, R]
		next.liveAlpha = Where(InsertAxes(column, -1), a, batchTake(s.liveAlpha, choice.parent))
	}

	// Endings into the finished slots after those already used.
	toFinished := slotMatrix(And(taken, isEnd), endsBefore, k) // [B, n, k]
	ended := ReduceLogicalOr(toFinished, 1)                    // [B, k]
	from := pickBySlot(toFinished, parent)
	next.finLP = Where(ended, pickBySlot(toFinished, scores), s.finLP)
	next.finTokens = Where(InsertAxes(ended, -1), batchTake(s.liveTokens, from), s.finTokens)
	if alpha != nil {
		next.finAlpha = Where(InsertAxes(ended, -1, -1), batchTake(s.liveAlpha, from), s.finAlpha)
	}
	return next, choice
}

// topN returns, for each row of x [B, C], the n highest values best first (n ≤ C) and their
// indices (int32); ties go to the lower index. It takes n rounds of ArgMax rather than a sort,
// cheap for a beam's small n on every backend.
func topN(x *Node, n int) (values, indices *Node) {
	g := x.Graph()
	d := x.Shape().Dimensions
	n = min(n, d[1])
	negInf := Infinity(g, x.DType(), -1)
	column := Iota(g, shapes.Make(dtypes.Int32, d...), 1)
	var vals, idxs []*Node
	for i := 0; i < n; i++ {
		best := ArgMax(x, -1, dtypes.Int32)
		vals = append(vals, ReduceMax(x, -1))
		idxs = append(idxs, best)
		if i < n-1 {
			x = Where(Equal(column, InsertAxes(best, -1)), negInf, x)
		}
	}
	return Stack(vals, 1), Stack(idxs, 1)
}

// slotMatrix says which candidate fills which of k slots: [B, n, k] true where take[b, i] and
// rank[b, i] = j (the candidate's place among those taken into the same kind of slot).
func slotMatrix(take, rank *Node, k int) *Node {
	d := take.Shape().Dimensions
	slot := Iota(take.Graph(), shapes.Make(dtypes.Int32, 1, 1, k), 2)
	return And(InsertAxes(take, -1), Equal(InsertAxes(rank, -1), BroadcastToDims(slot, d[0], d[1], k)))
}

// pickBySlot gathers, for each slot j, the value of the candidate slotMatrix puts there: x [B, n]
// (int32 or float64) → [B, k], 0 for an empty slot.
func pickBySlot(slots, x *Node) *Node {
	v := BroadcastToDims(InsertAxes(x, -1), slots.Shape().Dimensions...)
	return ReduceSum(Where(slots, v, ZerosLike(v)), 1)
}

// batchTake picks, for each image b, the entries idx[b, j] of x[b]: x [B, M, …], idx [B, n]
// int32 → [B, n, …].
func batchTake(x, idx *Node) *Node {
	d := x.Shape().Dimensions
	images, m := d[0], d[1]
	flat := Reshape(x, append([]int{images * m}, d[2:]...)...)
	offset := MulScalar(Iota(x.Graph(), shapes.Make(dtypes.Int32, images, 1), 0), float64(m))
	return Gather(flat, InsertAxes(Add(idx, offset), -1))
}

// beamLoopExec returns the graph that runs a whole beam search of width k for steps steps in
// one call (compiled on first use per k, steps and attention). Its input is regions [B, R, C];
// its outputs are the beamState tensors after the last step (liveLP, liveTokens, liveAlpha,
// finLP, finTokens, finAlpha, finCount; the attention ones a scalar 0 without attention), then
// the greedy row's words, log-probabilities and attention per step as greedyLoopExec returns
// them (scalars 0 for k = 1, which has no greedy row).
func beamLoopExec(m *captioner.Model, k, steps int, attention bool) (*model.Exec, error) {
	dec := decoderFor(m, attention)
	return m.Exec(captioner.ExecKey{Graph: graphBeam, Width: k, Steps: steps, Attention: attention}, func() (*model.Exec, error) {
		return model.NewExec(m.Backend, m.Store, func(scope *model.Scope, regions *Node) []*Node {
			return beamLoopGraph(scope, dec, regions, k, steps, attention)
		})
	})
}

// beamLoopGraph builds beamLoopExec's graph: B·P rows (P = k+1 for k > 1: the last row of each
// image decodes greedily, as on the host; P = 1 for k = 1).
func beamLoopGraph(scope *model.Scope, dec decoder.Decoder, regions *Node, k, steps int, attention bool) []*Node {
	g := regions.Graph()
	d := regions.Shape().Dimensions
	l := beamLoop{dec: dec, scope: scope, images: d[0], numRegions: d[1], k: k, perImage: k, attention: attention}
	if k > 1 {
		l.perImage = k + 1
	}
	l.regions = captioner.RepeatRows(regions, l.images*l.perImage)
	var state []*Node
	l.memory, state = dec.Prepare(scope, l.regions, steps)
	l.numState = len(state)
	prev := BroadcastToDims(Scalar(g, dtypes.Int32, text.StartID), l.images*l.perImage)
	start := beamLoopState{decoder: state, prev: prev, beam: newBeamState(g, l.images, k, steps, l.numRegions, regions.DType(), attention)}
	if k > 1 {
		start.greedy = newGreedyRows(g, l.images, steps, l.numRegions, regions.DType(), attention)
	}
	final := l.unflat(wordLoop(g, steps, l.flat(start), func(t *Node, flat []*Node) []*Node {
		return l.flat(l.step(t, l.unflat(flat)))
	}))
	zero := ScalarZero(g, regions.DType())
	orZero := func(x *Node) *Node {
		if x == nil {
			return zero
		}
		return x
	}
	b := final.beam
	out := []*Node{b.liveLP, b.liveTokens, orZero(b.liveAlpha), b.finLP, b.finTokens, orZero(b.finAlpha), b.finCount}
	if k == 1 {
		return append(out, zero, zero, zero)
	}
	return append(out, final.greedy.outputs(zero)...)
}

// beamLoop is what every step of beam search in a graph reads.
type beamLoop struct {
	dec                                       decoder.Decoder
	scope                                     *model.Scope
	regions                                   *Node   // [B·P, R, C]
	memory                                    []*Node // Decoder.Prepare's
	images, numRegions, k, perImage, numState int
	attention                                 bool
}

// beamLoopState is the loop state: the decoder's state of every row, the word each row reads
// next, the beam and (k > 1) the greedy rows.
type beamLoopState struct {
	decoder []*Node
	prev    *Node // [B·P] int32
	beam    beamState
	greedy  greedyRows
}

// step decodes step t: one Decoder.Step over all rows, the beam's selection (beamState.advance),
// the greedy rows' word, and the decoder state of every row gathered from its parent.
func (l beamLoop) step(t *Node, s beamLoopState) beamLoopState {
	g := t.Graph()
	logits, next, alpha := l.dec.Step(l.scope, l.regions, l.memory, s.decoder, s.prev, t)
	values, ids := TopAllowedWords(LogSoftmax(logits, -1), 2*l.k)
	w := values.Shape().Dimensions[1]
	values, ids = Reshape(values, l.images, l.perImage, w), Reshape(ids, l.images, l.perImage, w)
	if !l.attention {
		alpha = nil // the LSTM returns it anyway
	} else {
		alpha = Reshape(alpha, l.images, l.perImage, l.numRegions)
	}
	var choice beamChoice
	s.beam, choice = s.beam.advance(sliceRows(values, 0, l.k), sliceRows(ids, 0, l.k), sliceRows(alpha, 0, l.k), t)
	parents, words := beamRows(choice)
	if l.k > 1 {
		best := func(x *Node) *Node { return Reshape(Slice(greedyRowOf(x, l.k), AxisRange(), AxisElem(0)), l.images) }
		var word *Node
		s.greedy, word = s.greedy.advance(t, best(values), best(ids), greedyRowOf(alpha, l.k))
		parents = Concatenate([]*Node{parents, BroadcastToDims(Scalar(g, dtypes.Int32, l.k), l.images, 1)}, 1) // the greedy row stays
		words = Concatenate([]*Node{words, InsertAxes(word, -1)}, 1)
	}
	rows := l.images * l.perImage
	idx := Reshape(Add(parents, MulScalar(Iota(g, shapes.Make(dtypes.Int32, l.images, 1), 0), float64(l.perImage))), rows, 1)
	for i := range next {
		next[i] = Gather(next[i], idx)
	}
	s.decoder, s.prev = next, Reshape(words, rows)
	return s
}

// flat lists s as the loop's tensors; unflat reads them back.
func (l beamLoop) flat(s beamLoopState) []*Node {
	b := s.beam
	out := append(append([]*Node{}, s.decoder...), s.prev, b.liveLP, b.liveTokens, b.finLP, b.finTokens, b.finCount)
	if l.attention {
		out = append(out, b.liveAlpha, b.finAlpha)
	}
	if l.k > 1 {
		out = append(out, s.greedy.flat()...)
	}
	return out
}

func (l beamLoop) unflat(flat []*Node) beamLoopState {
	n := l.numState
	s := beamLoopState{decoder: flat[:n], prev: flat[n]}
	b := beamState{k: l.k, steps: flat[n+2].Shape().Dimensions[2]}
	b.liveLP, b.liveTokens, b.finLP, b.finTokens, b.finCount = flat[n+1], flat[n+2], flat[n+3], flat[n+4], flat[n+5]
	rest := flat[n+6:]
	if l.attention {
		b.liveAlpha, b.finAlpha, rest = rest[0], rest[1], rest[2:]
	}
	s.beam = b
	if l.k > 1 {
		s.greedy = greedyRowsFrom(rest, l.attention)
	}
	return s
}

// sliceRows is x [B, P, …] limited to rows [from, to) of each image; nil stays nil.
func sliceRows(x *Node, from, to int) *Node {
	if x == nil {
		return nil
	}
	return Slice(x, AxisRange(), AxisRange(from, to))
}

// greedyRowOf is row k (the greedy row) of x [B, P, …] → [B, …]; nil stays nil.
func greedyRowOf(x *Node, k int) *Node {
	if x == nil {
		return nil
	}
	d := x.Shape().Dimensions
	return Reshape(Slice(x, AxisRange(), AxisElem(k)), append([]int{d[0]}, d[2:]...)...)
}

// beamRows lays out the next step's beam rows as the host loop does: slot j of image b continues
// the state of its parent slot and reads its word; an empty slot idles on slot 0's state,
// reading <end>. Both [B, k] int32, rows counted within the image.
func beamRows(c beamChoice) (parents, words *Node) {
	g := c.word.Graph()
	parents = Where(c.valid, c.parent, ScalarZero(g, dtypes.Int32))
	words = Where(c.valid, c.word, Scalar(g, dtypes.Int32, text.EndID))
	return parents, words
}

// beamInGraph is Beam with the loop in one graph (beamLoopExec); the host only picks
// each image's best caption from the finished and live ones, as the host loop does.
func beamInGraph(m *captioner.Model, regions *tensors.Tensor, opts Options) ([]Caption, error) {
	k, steps := max(1, opts.Beam), maxSteps(m, opts)
	out, err := runLoop(m, regions, func() (*model.Exec, error) { return beamLoopExec(m, k, steps, !opts.SkipAttention) })
	if err != nil {
		return nil, err
	}
	defer finalize(out)
	images, numRegions := regions.Shape().Dimensions[0], regions.Shape().Dimensions[1]
	live := beamHypotheses{lp: toFloat64(out[0]), tokens: tensors.MustCopyFlatData[int32](out[1]), k: k, steps: steps, numRegions: numRegions}
	fin := beamHypotheses{lp: toFloat64(out[3]), tokens: tensors.MustCopyFlatData[int32](out[4]), k: k, steps: steps, numRegions: numRegions}
	finCount := tensors.MustCopyFlatData[int32](out[6])
	var greedy greedySteps
	if !opts.SkipAttention {
		live.alpha, fin.alpha = toFloat64(out[2]), toFloat64(out[5])
	}
	if k > 1 {
		greedy = greedySteps{ids: tensors.MustCopyFlatData[int32](out[7]), logProbs: toFloat64(out[8]), steps: steps, numRegions: numRegions}
		if !opts.SkipAttention {
			greedy.alpha = toFloat64(out[9])
		}
	}
	caps := make([]Caption, images)
	for b := range caps {
		var finished, unfinished []hypothesis
		for j := 0; j < int(finCount[b]); j++ {
			finished = append(finished, fin.hypothesis(b, j))
		}
		for j := 0; j < k; j++ {
			if !math.IsInf(live.lp[b*k+j], -1) {
				unfinished = append(unfinished, live.hypothesis(b, j))
			}
		}
		var g hypothesis
		gDone := true
		if k > 1 {
			g, gDone = greedy.hypothesis(b)
		}
		best, isFinished := pickBeamCaption(finished, unfinished, g, gDone, k, opts.LengthNorm)
		caps[b] = toCaption(m, best, isFinished)
	}
	return caps, nil
}

// beamHypotheses reads beam slots from beamLoopExec's flat outputs.
type beamHypotheses struct {
	lp                   []float64 // [B·k]
	tokens               []int32   // [B·k·T]
	alpha                []float64 // [B·k·T·R], nil without attention
	k, steps, numRegions int
}

// hypothesis is slot j of image b: its words up to the first <pad>, their attention.
func (h beamHypotheses) hypothesis(b, j int) hypothesis {
	slot := b*h.k + j
	out := hypothesis{logProb: h.lp[slot]}
	for t := 0; t < h.steps; t++ {
		w := h.tokens[slot*h.steps+t]
		if w == text.PadID {
			break
		}
		out.tokens = append(out.tokens, w)
		if h.alpha != nil {
			at := (slot*h.steps + t) * h.numRegions
			out.attention = append(out.attention, toFloat32(h.alpha[at:at+h.numRegions]))
		}
	}
	return out
}
