package captioner

import (
	"fmt"
	"math"
	"strings"

	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// DecodeLoop says where Greedy and BeamSearch run their loop over the words.
type DecodeLoop string

const (
	// LoopAuto picks per backend: LoopHost on the pure-Go backend, where a step's call costs no
	// transfer and the host loop stops as soon as every caption has ended (the one graph always
	// runs to the length limit; measured: docs/performance.md), LoopGraph elsewhere (XLA), where
	// every step's call is a round trip between host and device.
	LoopAuto DecodeLoop = ""
	// LoopHost calls the compiled step graph once per word from Go (stepExec).
	LoopHost DecodeLoop = "host"
	// LoopGraph decodes every word of every caption in one call of one compiled graph, the loop
	// unrolled for the length limit (greedyLoopExec).
	LoopGraph DecodeLoop = "graph"
)

// loopInGraph says whether Greedy or BeamSearch runs in one graph with these options on this
// model's backend.
func (m *Model) loopInGraph(opts DecodeOptions) (bool, error) {
	switch opts.Loop {
	case LoopGraph:
		return true, nil
	case LoopHost:
		return false, nil
	case LoopAuto:
		return !strings.HasPrefix(strings.ToLower(m.Backend.Name()), "go"), nil
	}
	return false, fmt.Errorf("decode: loop %q: want %q, %q or empty (auto)", opts.Loop, LoopHost, LoopGraph)
}

// greedyLoopExec returns the graph that decodes greedily for steps steps in one call (compiled
// on first use for each steps, with and without attention). Its input is regions [N, R, C]; its
// outputs are, per row and step, the word chosen [N, steps] int32 (<pad> once the row has
// emitted <end>), its log-probability [N, steps] (0 after <end>; −inf when no allowed word had
// a probability) and the attention [N, steps, R] (a scalar 0 without attention). It runs the
// same Decoder.Prepare, Decoder.Step and TopAllowedWords as the host loop, so it picks the
// same words.
func (m *Model) greedyLoopExec(steps int, attention bool) (*model.Exec, error) {
	dec, key := NewDecoder(m.Config), 2*steps
	if !attention {
		dec, key = withoutAttention(dec), key+1
	}
	return m.cachedExec(&m.loopExecs, key, func() (*model.Exec, error) {
		return model.NewExec(m.Backend, m.Store, func(scope *model.Scope, regions *graph.Node) []*graph.Node {
			g := regions.Graph()
			rows := regions.Shape().Dimensions[0]
			memory, state := dec.Prepare(scope, regions, steps)
			pad, end := graph.Scalar(g, dtypes.Int32, text.PadID), graph.Scalar(g, dtypes.Int32, text.EndID)
			prev := graph.BroadcastToDims(graph.Scalar(g, dtypes.Int32, text.StartID), rows)
			done := graph.BroadcastToDims(graph.Const(g, false), rows)
			var words, logProbs, alphas []*graph.Node
			for t := 0; t < steps; t++ {
				var logits, alpha *graph.Node
				logits, state, alpha = dec.Step(scope, regions, memory, state, prev, graph.Scalar(g, dtypes.Int32, t))
				values, ids := TopAllowedWords(graph.LogSoftmax(logits, -1), 1)
				value, id := graph.Reshape(values, rows), graph.Reshape(ids, rows)
				id = graph.Where(done, graph.BroadcastToDims(pad, rows), id)
				value = graph.Where(done, graph.ZerosLike(value), value)
				done = graph.Or(done, graph.Equal(id, end))
				words, logProbs, alphas = append(words, id), append(logProbs, value), append(alphas, alpha)
				prev = id
			}
			attention := graph.ScalarZero(g, regions.DType())
			if alphas[0] != nil {
				attention = graph.Stack(alphas, 1)
			}
			return []*graph.Node{graph.Stack(words, 1), graph.Stack(logProbs, 1), attention}
		})
	})
}

// greedyInGraph is Greedy with the loop in one graph (greedyLoopExec): the same captions,
// log-probabilities and attention as the host loop.
func (m *Model) greedyInGraph(regions *tensors.Tensor, opts DecodeOptions) ([]Caption, error) {
	if err := m.checkRegions(regions); err != nil {
		return nil, err
	}
	steps := m.maxSteps(opts)
	exec, err := m.greedyLoopExec(steps, !opts.SkipAttention)
	if err != nil {
		return nil, err
	}
	out, err := exec.Call(regions)
	if err = m.explainShapes(err); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	defer func() {
		for _, t := range out {
			t.MustFinalizeAll()
		}
	}()
	rows, numRegions := regions.Shape().Dimensions[0], regions.Shape().Dimensions[1]
	read := greedySteps{ids: tensors.MustCopyFlatData[int32](out[0]), logProbs: toFloat64(out[1]), steps: steps, numRegions: numRegions}
	if !opts.SkipAttention {
		read.alpha = toFloat64(out[2])
	}
	caps := make([]Caption, rows)
	for r := range caps {
		h, finished := read.hypothesis(r)
		caps[r] = m.toCaption(h, finished)
	}
	return caps, nil
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
