package captioner

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/loss"
)

// Model is a captioner: its configuration, vocabulary and variables, with the compiled graphs
// that encode images and run decoding steps on a backend. Graphs are compiled on first use
// (and again only for new shapes). Backends that prefer it (the Go backend) compile variables
// into inference graphs as constants, so after changing variables (training, loading) call
// VariablesChanged before decoding again.
type Model struct {
	Config  *Config
	Vocab   *text.Vocab
	Store   *model.Store
	Backend compute.Backend

	once              sync.Once
	encodeExec, gridE *model.Exec
	execErr           error
	stepMu            sync.Mutex
	stepExecs         map[int]*model.Exec // decoding step graphs by 2·(words kept per row) + (1 without attention)
	prepareExecs      map[int]*model.Exec // Decoder.Prepare graphs by steps to decode
	loopExecs         map[int]*model.Exec // whole greedy loops in one graph by 2·steps + (1 without attention) (decode_loop.go)
	beamExecs         map[int]*model.Exec // whole beam searches in one graph by 2·(k·2³² + steps) + (1 without attention) (decode_beam_loop.go)
	// gridWarm is set once gridE has run: its variables are initialised and its main shape
	// compiled, so it may run concurrently.
	gridWarm atomic.Bool
	// weightsPath is the local file Config.Weights resolved to, once known.
	weightsPath string
	// dir is the model folder LoadModel read, for messages.
	dir string
}

// NewModel makes a model with fresh (not yet initialised) variables. cfg.VocabSize is set from
// vocab.
func NewModel(backend compute.Backend, cfg Config, vocab *text.Vocab) (*Model, error) {
	cfg.VocabSize = vocab.Size()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Model{Config: &cfg, Vocab: vocab, Store: model.NewStore(), Backend: backend}, nil
}

// NewEncoderModel makes a model that only encodes images (no vocabulary, no decoder): for
// feature extraction.
func NewEncoderModel(backend compute.Backend, cfg Config) (*Model, error) {
	if err := cfg.ValidateEncoder(); err != nil {
		return nil, err
	}
	return &Model{Config: &cfg, Store: model.NewStore(), Backend: backend}, nil
}

// ModelFn is the training graph, for train.Trainer: inputs are [images [B,S,S,3] or regions
// [B,R,C], captions [B·K,T] int32] — K captions per image, image b's captions in rows
// b·K … b·K+K−1, so each image is encoded once; predictions are [logits [B·K,T−1,V],
// attention [B·K,T−1,R]].
func (m *Model) ModelFn() func(scope *model.Scope, inputs []*graph.Node) []*graph.Node {
	cfg := m.Config
	return func(scope *model.Scope, inputs []*graph.Node) []*graph.Node {
		regions, captions := inputs[0], inputs[1]
		if regions.Rank() == 4 {
			regions = Encode(scope, cfg, regions)
		}
		regions = repeatRows(regions, captions.Shape().Dimensions[0])
		logits, alphas := NewDecoder(cfg).TeacherForced(scope, regions, captions)
		return []*graph.Node{logits, alphas}
	}
}

// repeatRows repeats each row of x [B, …] k = rows/B times in place: [B·k, …].
func repeatRows(x *graph.Node, rows int) *graph.Node {
	d := x.Shape().Dimensions
	if d[0] == rows {
		return x
	}
	if rows%d[0] != 0 {
		panic(fmt.Sprintf("%d caption rows for %d images: not a whole number of captions per image", rows, d[0]))
	}
	k := rows / d[0]
	tiled := graph.BroadcastToDims(graph.InsertAxes(x, 1), append([]int{d[0], k}, d[1:]...)...)
	return graph.Reshape(tiled, append([]int{rows}, d[1:]...)...)
}

// LossGraph is the evaluation loss (cross-entropy part) for [imagesOrRegions, captions].
func (m *Model) LossGraph(scope *model.Scope, inputs []*graph.Node) *graph.Node {
	preds := m.ModelFn()(scope, inputs)
	_, ce := CaptionLoss(m.Config, inputs[1], preds[0], preds[1])
	return ce
}

// LossFn is CaptionLoss for train.Trainer, with labels [captions].
func (m *Model) LossFn() loss.LossFn {
	cfg := m.Config
	return func(labels, predictions []*graph.Node) *graph.Node {
		l, _ := CaptionLoss(cfg, labels[0], predictions[0], predictions[1])
		return l
	}
}

// Parameters counts the model's weights whose variable path starts with prefix ("/decoder/",
// "/encoder/", or "/" for all); variables exist once a graph has used them (after training,
// loading or decoding).
func (m *Model) Parameters(prefix string) int {
	n := 0
	for v := range m.Store.IterVariables() {
		if IsModelVariable(v.Path()) && strings.HasPrefix(v.Path(), prefix) {
			n += v.Shape().Size()
		}
	}
	return n
}

// VariablesChanged tells the model that training changed its variables: on a backend whose
// inference graphs hold the variables as constants (the pure-Go backend's
// PreferConstantsForVariables) they are compiled again (ResetCompiled); elsewhere (XLA) they
// read the variables as parameters, so the compiled graphs are kept.
func (m *Model) VariablesChanged() {
	if m.Backend.Capabilities().PreferConstantsForVariables {
		m.ResetCompiled()
	}
}

// ResetCompiled drops the compiled inference graphs; the next call compiles them again with
// the variables' current values.
func (m *Model) ResetCompiled() {
	for _, e := range []*model.Exec{m.encodeExec, m.gridE} {
		if e != nil {
			e.Finalize()
		}
	}
	m.stepMu.Lock()
	for _, e := range m.stepExecs {
		e.Finalize()
	}
	for _, e := range m.prepareExecs {
		e.Finalize()
	}
	for _, e := range m.loopExecs {
		e.Finalize()
	}
	for _, e := range m.beamExecs {
		e.Finalize()
	}
	m.stepExecs, m.prepareExecs, m.loopExecs, m.beamExecs = nil, nil, nil, nil
	m.stepMu.Unlock()
	m.encodeExec, m.gridE, m.execErr = nil, nil, nil
	m.gridWarm.Store(false)
	m.once = sync.Once{}
}

// compile builds the executables used at inference.
func (m *Model) compile() error {
	m.once.Do(func() {
		cfg := m.Config
		m.encodeExec, m.execErr = model.NewExec(m.Backend, m.Store, func(scope *model.Scope, images *graph.Node) *graph.Node {
			return Encode(scope, cfg, images)
		})
		if m.execErr != nil {
			return
		}
		m.gridE, m.execErr = model.NewExec(m.Backend, m.Store, func(scope *model.Scope, images *graph.Node) *graph.Node {
			return EncodeGrid(scope, cfg, images)
		})
		if m.execErr != nil {
			return
		}
	})
	return m.execErr
}

// prepareExec returns the graph of Decoder.Prepare for a decoding of at most steps steps: its
// input is the regions [N, R, C], its outputs the decoder's memory then its initial state.
func (m *Model) prepareExec(steps int) (*model.Exec, error) {
	dec := NewDecoder(m.Config)
	return m.cachedExec(&m.prepareExecs, steps, func() (*model.Exec, error) {
		return model.NewExec(m.Backend, m.Store, func(scope *model.Scope, regions *graph.Node) []*graph.Node {
			memory, state := dec.Prepare(scope, regions, steps)
			return append(memory, state...)
		})
	})
}

// cachedExec returns (*cache)[key], building it on first use (the model's graphs compiled
// first; under stepMu, so concurrent decoders share one).
func (m *Model) cachedExec(cache *map[int]*model.Exec, key int, build func() (*model.Exec, error)) (*model.Exec, error) {
	if err := m.compile(); err != nil {
		return nil, err
	}
	m.stepMu.Lock()
	defer m.stepMu.Unlock()
	if e, ok := (*cache)[key]; ok {
		return e, nil
	}
	e, err := build()
	if err != nil {
		return nil, err
	}
	if *cache == nil {
		*cache = map[int]*model.Exec{}
	}
	(*cache)[key] = e
	return e, nil
}

// stepExec returns the graph of one decoding step over N hypothesis rows that keeps, per row,
// the n most probable allowed next words (compiled on first use for each n, with and without
// attention). Its inputs are the regions, the decoder's memory and state (Decoder.Prepare),
// parents (which row's state each hypothesis continues: beam search reorders them; n = 1 is
// greedy decoding, whose rows never move, so that graph skips the reordering), prev (the word
// each just emitted) and the scalar position of prev; its outputs are the n best
// log-probabilities [N, n] (best first, -inf past the allowed words), their word ids [N, n]
// int32, the attention [N, R] (a scalar 0 without attention: withoutAttention) and the new
// state. Choosing the words in the graph means only N·n numbers leave the device per step, not
// the N·V log-probabilities.
func (m *Model) stepExec(n int, attention bool) (*model.Exec, error) {
	dec, key := NewDecoder(m.Config), 2*n
	if !attention {
		dec, key = withoutAttention(dec), key+1
	}
	return m.cachedExec(&m.stepExecs, key, func() (*model.Exec, error) {
		return model.NewExec(m.Backend, m.Store, func(scope *model.Scope, in []*graph.Node) []*graph.Node {
			regions, parents, prev, position := in[0], in[1], in[2], in[3]
			numMemory, _ := dec.Slots()
			memory, state := in[4:4+numMemory], in[4+numMemory:]
			if n > 1 {
				idx := graph.InsertAxes(parents, -1)
				for i := range state {
					state[i] = graph.Gather(state[i], idx)
				}
			}
			logits, next, alpha := dec.Step(scope, regions, memory, state, prev, position)
			if alpha == nil {
				alpha = graph.ScalarZero(regions.Graph(), regions.DType())
			}
			values, ids := TopAllowedWords(graph.LogSoftmax(logits, -1), n)
			return append([]*graph.Node{values, ids, alpha}, next...)
		})
	})
}

// TopAllowedWords returns, for each row of logProbs [N, V], the n highest values over the
// words a decoder may emit (never <pad> or <start>) and their ids (int32), best first; ties go
// to the lower id. Past the allowed words the values are -inf. It takes n rounds of ArgMax (topN)
// rather than a full sort, which is cheap for the small n of a beam on every backend.
func TopAllowedWords(logProbs *graph.Node, n int) (values, ids *graph.Node) {
	g := logProbs.Graph()
	d := logProbs.Shape().Dimensions
	negInf := graph.Infinity(g, logProbs.DType(), -1)
	wordIDs := graph.Iota(g, shapes.Make(dtypes.Int32, d...), 1)
	x := graph.Where(graph.Or(graph.Equal(wordIDs, graph.Scalar(g, dtypes.Int32, text.PadID)),
		graph.Equal(wordIDs, graph.Scalar(g, dtypes.Int32, text.StartID))), negInf, logProbs)
	return topN(x, n)
}

// EncodeImages runs the encoder on a batch of normalised images [B, S, S, 3] and returns the
// regions [B, R, C].
func (m *Model) EncodeImages(images *tensors.Tensor) (*tensors.Tensor, error) {
	if err := m.compile(); err != nil {
		return nil, err
	}
	d := images.Shape().Dimensions
	if len(d) != 4 || d[1] != m.Config.ImageSize || d[2] != m.Config.ImageSize || d[3] != 3 {
		return nil, fmt.Errorf("encode: images tensor %s, want [B, %d, %d, 3]", images.Shape(), m.Config.ImageSize, m.Config.ImageSize)
	}
	out, err := m.encodeExec.Call(images)
	if err = m.explainShapes(err); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return out[0], nil
}
