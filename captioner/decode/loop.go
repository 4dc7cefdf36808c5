package decode

import (
	"fmt"
	"math"
	"strings"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decoder"
	"github.com/attncap/attncap/captioner/layers"
	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Loop says where Greedy and Beam run their loop over the words.
type Loop string

const (
	// LoopAuto picks per backend: LoopHost on the pure-Go backend, where a step's call costs no
	// transfer and the host loop stops as soon as every caption has ended (the one graph always
	// runs to the length limit; measured: docs/performance.md); elsewhere (XLA), where every
	// step's call is a round trip between host and device, LoopGraph for greedy decoding and,
	// until a GPU run has compared them, LoopHost for beam search.
	LoopAuto Loop = ""
	// LoopHost calls the compiled step graph once per word from Go (stepExec).
	LoopHost Loop = "host"
	// LoopGraph decodes every word of every caption in one call of one compiled graph, the loop
	// unrolled to the length limit (wordLoop; greedyLoopExec, beamLoopExec).
	LoopGraph Loop = "graph"
)

// loopInGraph says whether Greedy (beam false) or Beam (beam true) runs in one graph
// with these options on this model's backend. LoopAuto keeps beam search on the host on every
// backend until a GPU run has compared the two (beam search in one graph is tested on the Go
// backend only; docs/performance.md).
func loopInGraph(m *captioner.Model, opts Options, beam bool) (bool, error) {
	switch opts.Loop {
	case LoopGraph:
		return true, nil
	case LoopHost:
		return false, nil
	case LoopAuto:
		return !beam && !layers.IsGoBackend(m.Backend), nil
	}
	return false, fmt.Errorf("decode: loop %q: want %q, %q or empty (auto)", opts.Loop, LoopHost, LoopGraph)
}

// ParseLoop reads a -loop flag: "auto" (or empty), "host" or "graph".
func ParseLoop(s string) (Loop, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return LoopAuto, nil
	case string(LoopHost), string(LoopGraph):
		return Loop(strings.ToLower(s)), nil
	}
	return LoopAuto, fmt.Errorf("-loop %q: want auto, host or graph", s)
}

// greedyLoopExec returns the graph that decodes greedily for at most steps steps in one call
// (compiled on first use for each steps, with and without attention). Its input is regions
// [N, R, C]; its outputs are, per row and step, the word chosen [N, steps] int32 (<pad> once
// the row has emitted <end>, and for the steps after every row has), its log-probability
// [N, steps] (0 after <end>; −inf when no allowed word had a probability) and the attention
// [N, steps, R] (a scalar 0 without attention). It runs the same Decoder.Prepare,
// Decoder.Step and TopAllowedWords as the host loop, so it picks the same words.
func greedyLoopExec(m *captioner.Model, steps int, attention bool) (*model.Exec, error) {
	dec := decoderFor(m, attention)
	return m.Exec(captioner.ExecKey{Graph: graphGreedy, Steps: steps, Attention: attention}, func() (*model.Exec, error) {
		return model.NewExec(m.Backend, m.Store, func(scope *model.Scope, regions *Node) []*Node {
			return greedyLoopGraph(scope, dec, regions, steps, attention)
		})
	})
}

// greedyLoopGraph builds greedyLoopExec's graph: the loop state is the decoder's state and a
// greedyRows per row.
func greedyLoopGraph(scope *model.Scope, dec decoder.Decoder, regions *Node, steps int, attention bool) []*Node {
	g := regions.Graph()
	rows, numRegions := regions.Shape().Dimensions[0], regions.Shape().Dimensions[1]
	memory, state := dec.Prepare(scope, regions, steps)
	numState := len(state)
	prev := BroadcastToDims(Scalar(g, dtypes.Int32, text.StartID), rows)
	start := append(append(state, prev), newGreedyRows(g, rows, steps, numRegions, regions.DType(), attention).flat()...)
	final := wordLoop(g, steps, start, func(t *Node, loop []*Node) []*Node {
		row := greedyRowsFrom(loop[numState+1:], attention)
		logits, next, alpha := dec.Step(scope, regions, memory, loop[:numState], loop[numState], t)
		values, ids := TopAllowedWords(LogSoftmax(logits, -1), 1)
		row, word := row.advance(t, Reshape(values, rows), Reshape(ids, rows), alpha)
		return append(append(next, word), row.flat()...)
	})
	return greedyRowsFrom(final[numState+1:], attention).outputs(ScalarZero(g, regions.DType()))
}

// wordLoop runs a decoding loop in one graph, unrolled: step(t, state) for t = 0 … steps−1,
// starting from state; it returns the final state. Every step runs, also after every caption
// has ended (a step then changes nothing that is read). A graph While loop would stop there;
// it is not used because the Go backend of gomlx/compute v0.1.14 cannot run this loop in one
// (a While body's matrix product waits for the workers that the enclosing graph's executors
// hold; with sequential execution, constants captured by the body are not available to it),
// so it could not be tested here (docs/performance.md).
func wordLoop(g *Graph, steps int, state []*Node, step func(t *Node, state []*Node) []*Node) []*Node {
	for t := 0; t < steps; t++ {
		state = step(Scalar(g, dtypes.Int32, t), state)
	}
	return state
}

// greedyRows is the loop state of greedy decoding in a graph, for N rows and T steps: the words
// chosen so far, their log-probabilities and attention, written at column t of step t.
type greedyRows struct {
	done     *Node // [N] bool: the row has emitted <end>
	words    *Node // [N, T] int32, <pad> where not written or after <end>
	logProbs *Node // [N, T], 0 where not written or after <end>
	alphas   *Node // [N, T, R]; nil without attention
}

func newGreedyRows(g *Graph, rows, steps, numRegions int, dtype dtypes.DType, attention bool) greedyRows {
	r := greedyRows{
		done:     BroadcastToDims(Const(g, false), rows),
		words:    Zeros(g, shapes.Make(dtypes.Int32, rows, steps)), // text.PadID
		logProbs: Zeros(g, shapes.Make(dtype, rows, steps)),
	}
	if attention {
		r.alphas = Zeros(g, shapes.Make(dtype, rows, steps, numRegions))
	}
	return r
}

// flat lists the row's tensors as loop state; greedyRowsFrom reads them back.
func (r greedyRows) flat() []*Node {
	out := []*Node{r.done, r.words, r.logProbs}
	if r.alphas != nil {
		out = append(out, r.alphas)
	}
	return out
}

func greedyRowsFrom(nodes []*Node, attention bool) greedyRows {
	r := greedyRows{done: nodes[0], words: nodes[1], logProbs: nodes[2]}
	if attention {
		r.alphas = nodes[3]
	}
	return r
}

// advance records step t from each row's best allowed word (value, id [N]; alpha [N, R], or
// nil): a row that has ended writes <pad> and 0. It returns the new state and the word each
// row reads next.
func (r greedyRows) advance(t, value, id, alpha *Node) (greedyRows, *Node) {
	g := value.Graph()
	id = Where(r.done, Scalar(g, dtypes.Int32, text.PadID), id)
	value = Where(r.done, ZerosLike(value), value)
	column := Equal(Iota(g, shapes.Make(dtypes.Int32, 1, r.words.Shape().Dimensions[1]), 1), t) // [1, T]
	next := greedyRows{
		done:     Or(r.done, Equal(id, Scalar(g, dtypes.Int32, text.EndID))),
		words:    Where(column, InsertAxes(id, -1), r.words),
		logProbs: Where(column, InsertAxes(value, -1), r.logProbs),
	}
	if r.alphas != nil {
		next.alphas = Where(InsertAxes(column, -1), InsertAxes(alpha, 1), r.alphas)
	}
	return next, id
}

// outputs are the words [N, T], log-probabilities [N, T] and attention [N, T, R] (zero
// without attention).
func (r greedyRows) outputs(zero *Node) []*Node {
	if r.alphas == nil {
		return []*Node{r.words, r.logProbs, zero}
	}
	return []*Node{r.words, r.logProbs, r.alphas}
}

// greedyInGraph is Greedy with the loop in one graph (greedyLoopExec): the same captions,
// log-probabilities and attention as the host loop.
func greedyInGraph(m *captioner.Model, regions *tensors.Tensor, opts Options) ([]Caption, error) {
	steps := maxSteps(m, opts)
	out, err := runLoop(m, regions, func() (*model.Exec, error) { return greedyLoopExec(m, steps, !opts.SkipAttention) })
	if err != nil {
		return nil, err
	}
	defer finalize(out)
	rows, numRegions := regions.Shape().Dimensions[0], regions.Shape().Dimensions[1]
	read := greedySteps{ids: tensors.MustCopyFlatData[int32](out[0]), logProbs: toFloat64(out[1]), steps: steps, numRegions: numRegions}
	if !opts.SkipAttention {
		read.alpha = toFloat64(out[2])
	}
	caps := make([]Caption, rows)
	for r := range caps {
		h, finished := read.hypothesis(r)
		caps[r] = toCaption(m, h, finished)
	}
	return caps, nil
}

// runLoop checks regions [B, R, C] and runs on them the whole-loop graph that exec returns
// (built on first use); the caller finalizes the outputs.
func runLoop(m *captioner.Model, regions *tensors.Tensor, exec func() (*model.Exec, error)) ([]*tensors.Tensor, error) {
	if err := m.CheckRegions(regions); err != nil {
		return nil, err
	}
	e, err := exec()
	if err != nil {
		return nil, err
	}
	out, err := m.Call(e, regions)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return out, nil
}

// finalize frees tensors' memory.
func finalize(ts []*tensors.Tensor) {
	for _, t := range ts {
		t.MustFinalizeAll()
	}
}

// greedySteps reads greedy decoding's words, log-probabilities [N·T] and attention [N·T·R]
// (nil when skipped) as the graphs return them (greedyLoopExec, beamLoopExec).
type greedySteps struct {
	ids               []int32
	logProbs, alpha   []float64
	steps, numRegions int
}

// hypothesis is row r's caption and whether it ended, read as the host loop builds it
// (advanceGreedy): words until <end>, whose log-probability counts; a −inf log-probability
// (no allowed word had a probability) ends the caption with −inf.
func (s greedySteps) hypothesis(r int) (hypothesis, bool) {
	h := hypothesis{row: r}
	for t := 0; t < s.steps; t++ {
		id, lp := s.ids[r*s.steps+t], s.logProbs[r*s.steps+t]
		switch {
		case math.IsInf(lp, -1):
			h.logProb = math.Inf(-1)
			return h, true
		case id == text.EndID:
			h.logProb += lp
			return h, true
		}
		var a []float32
		if s.alpha != nil {
			at := (r*s.steps + t) * s.numRegions
			a = toFloat32(s.alpha[at : at+s.numRegions])
		}
		h = h.extend(id, lp, a, r)
	}
	return h, false
}
