package decode

import (
	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decoder"
	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
	"github.com/gomlx/gomlx/ml/model"
)

// The graphs the host loops call, compiled once per model and size (captioner.Model.Exec), and
// the allowed-word mask every decoding and sampling graph applies.

// Graph names of the compiled decoding graphs (captioner.ExecKey.Graph).
const (
	graphPrepare = "prepare"     // Decoder.Prepare for Steps steps
	graphStep    = "step"        // one step keeping Width words per row
	graphGreedy  = "greedy-loop" // greedy decoding of Steps steps in one graph
	graphBeam    = "beam-loop"   // beam search of width Width for Steps steps in one graph
)

// prepareExec returns the graph of Decoder.Prepare for a decoding of at most steps steps: its
// input is the regions [N, R, C], its outputs the decoder's memory then its initial state.
func prepareExec(m *captioner.Model, steps int) (*model.Exec, error) {
	dec := captioner.NewDecoder(m.Config)
	return m.Exec(captioner.ExecKey{Graph: graphPrepare, Steps: steps}, func() (*model.Exec, error) {
		return model.NewExec(m.Backend, m.Store, func(scope *model.Scope, regions *Node) []*Node {
			memory, state := dec.Prepare(scope, regions, steps)
			return append(memory, state...)
		})
	})
}

// stepExec returns the graph of one decoding step over N hypothesis rows that keeps, per row,
// the n most probable allowed next words (compiled on first use for each n, with and without
// attention). Its inputs are the regions, parents (which row's state each hypothesis continues:
// beam search reorders them; n = 1 is greedy decoding, whose rows never move, so that graph
// skips the reordering), prev (the word each just emitted), the scalar position of prev, then
// the decoder's memory and state (Decoder.Prepare); its outputs are the n best
// log-probabilities [N, n] (best first, -inf past the allowed words), their word ids [N, n]
// int32, the attention [N, R] (a scalar 0 without attention: Decoder.WithoutAttention) and the
// new state. Choosing the words in the graph means only N·n numbers leave the device per step,
// not the N·V log-probabilities.
func stepExec(m *captioner.Model, n int, attention bool) (*model.Exec, error) {
	dec := decoderFor(m, attention)
	return m.Exec(captioner.ExecKey{Graph: graphStep, Width: n, Attention: attention}, func() (*model.Exec, error) {
		return model.NewExec(m.Backend, m.Store, func(scope *model.Scope, in []*Node) []*Node {
			logits, alpha, next := stepGraph(scope, dec, in, n > 1)
			values, ids := TopAllowedWords(LogSoftmax(logits, -1), n)
			return append([]*Node{values, ids, alpha}, next...)
		})
	})
}

// stepGraph is the body shared by the step graphs: inputs regions, parents, prev, position,
// then the decoder's memory and state (reordered by parents when reorder); it returns the
// step's logits, its attention (a scalar 0 without attention) and the next state.
func stepGraph(scope *model.Scope, dec decoder.Decoder, in []*Node, reorder bool) (logits, alpha *Node, next []*Node) {
	regions, parents, prev, position := in[0], in[1], in[2], in[3]
	numMemory, _ := dec.Slots()
	memory, state := in[4:4+numMemory], in[4+numMemory:]
	if reorder {
		idx := InsertAxes(parents, -1)
		for i := range state {
			state[i] = Gather(state[i], idx)
		}
	}
	logits, next, alpha = dec.Step(scope, regions, memory, state, prev, position)
	if alpha == nil {
		alpha = ScalarZero(regions.Graph(), regions.DType())
	}
	return logits, alpha, next
}

// graphStepLogits is one step that returns every word's logit (the controlled search's).
const graphStepLogits = "step-logits"

// stepLogitsExec is stepExec returning the logits [N, V] (float32) of every row instead of its
// best words, for the controls that need the whole distribution (search.go); its other inputs
// and outputs are stepExec's.
func stepLogitsExec(m *captioner.Model, attention bool) (*model.Exec, error) {
	dec := decoderFor(m, attention)
	return m.Exec(captioner.ExecKey{Graph: graphStepLogits, Attention: attention}, func() (*model.Exec, error) {
		return model.NewExec(m.Backend, m.Store, func(scope *model.Scope, in []*Node) []*Node {
			logits, alpha, next := stepGraph(scope, dec, in, true)
			return append([]*Node{ConvertDType(logits, dtypes.Float32), alpha}, next...)
		})
	})
}

// allowedLogProbs sets the log-probabilities [N, V] of the words no decoder may emit, <pad>
// and <start>, to −∞.
func allowedLogProbs(logProbs *Node) *Node {
	g := logProbs.Graph()
	ids := Iota(g, shapes.Make(dtypes.Int32, logProbs.Shape().Dimensions...), 1)
	banned := Or(Equal(ids, Scalar(g, dtypes.Int32, text.PadID)), Equal(ids, Scalar(g, dtypes.Int32, text.StartID)))
	return Where(banned, Infinity(g, logProbs.DType(), -1), logProbs)
}

// TopAllowedWords returns, for each row of logProbs [N, V], the n highest values over the
// words a decoder may emit (allowedLogProbs) and their ids (int32), best first; ties go to the
// lower id. Past the allowed words the values are -inf. It takes n rounds of ArgMax (topN)
// rather than a full sort, which is cheap for the small n of a beam on every backend.
func TopAllowedWords(logProbs *Node, n int) (values, ids *Node) {
	return topN(allowedLogProbs(logProbs), n)
}

// allowed reports words a decoder may emit on the host: never <pad> or <start>.
func allowed(word int) bool { return word != text.PadID && word != text.StartID }
