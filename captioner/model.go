package captioner

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/attncap/attncap/captioner/decoder"
	"github.com/attncap/attncap/captioner/encoder"
	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
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

	execMu sync.Mutex
	execs  map[ExecKey]*model.Exec // every inference graph, by what it computes (Exec)
	// gridWarm is set once the grid graph has run: its variables are initialised and its main
	// shape compiled, so it may run concurrently.
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
func (m *Model) ModelFn() func(scope *model.Scope, inputs []*Node) []*Node {
	cfg := m.Config
	return func(scope *model.Scope, inputs []*Node) []*Node {
		regions, captions := inputs[0], inputs[1]
		if regions.Rank() == 4 {
			regions = encoder.Regions(scope, cfg.EncoderOptions(), regions)
		}
		regions = RepeatRows(regions, captions.Shape().Dimensions[0])
		logits, alphas := NewDecoder(cfg).TeacherForced(scope, regions, captions)
		return []*Node{logits, alphas}
	}
}

// RepeatRows repeats each row of x [B, …] k = rows/B times in place: [B·k, …] (an image's
// regions once per caption or hypothesis row).
func RepeatRows(x *Node, rows int) *Node {
	d := x.Shape().Dimensions
	if d[0] == rows {
		return x
	}
	if rows%d[0] != 0 {
		panic(fmt.Sprintf("%d caption rows for %d images: not a whole number of captions per image", rows, d[0]))
	}
	k := rows / d[0]
	tiled := BroadcastToDims(InsertAxes(x, 1), append([]int{d[0], k}, d[1:]...)...)
	return Reshape(tiled, append([]int{rows}, d[1:]...)...)
}

// LossGraph is the evaluation loss (cross-entropy part) for [imagesOrRegions, captions].
func (m *Model) LossGraph(scope *model.Scope, inputs []*Node) *Node {
	preds := m.ModelFn()(scope, inputs)
	_, ce := decoder.CaptionLoss(inputs[1], preds[0], preds[1], m.Config.AttentionReg)
	return ce
}

// LossFn is decoder.CaptionLoss for train.Trainer, with labels [captions].
func (m *Model) LossFn() loss.LossFn {
	cfg := m.Config
	return func(labels, predictions []*Node) *Node {
		l, _ := decoder.CaptionLoss(labels[0], predictions[0], predictions[1], cfg.AttentionReg)
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
	m.execMu.Lock()
	for _, e := range m.execs {
		e.Finalize()
	}
	m.execs = nil
	m.execMu.Unlock()
	m.gridWarm.Store(false)
}

// The encoder's graphs (ExecKey.Graph).
const (
	graphRegions = "encoder-regions" // images [B, S, S, 3] → regions [B, R, C]
	graphGrid    = "encoder-grid"    // images → grid [B, h, w, C]
)

// encoderExec is the encoder's graph that returns its regions or (graph graphGrid) its grid.
func (m *Model) encoderExec(graph string) (*model.Exec, error) {
	return m.Exec(ExecKey{Graph: graph}, func() (*model.Exec, error) {
		opts := m.Config.EncoderOptions()
		return model.NewExec(m.Backend, m.Store, func(scope *model.Scope, images *Node) *Node {
			if graph == graphGrid {
				return encoder.Grid(scope, opts, images)
			}
			return encoder.Regions(scope, opts, images)
		})
	})
}

// ExecKey names one compiled decoding graph of a Model: what it computes (Graph, named by the
// package that builds it, e.g. "step" or "beam-loop") and the sizes it was built for. Each key
// is compiled once per model and reused until ResetCompiled.
type ExecKey struct {
	Graph     string
	Width     int  // words kept per row, or the beam width: as Graph defines it
	Steps     int  // steps decoded, when the graph has a fixed number
	Attention bool // whether the graph returns attention weights
}

// Exec returns the graph for key, building it with build on first use (under a lock, so
// concurrent callers share one). Packages that build graphs of the model (decode) name theirs
// in ExecKey.Graph.
func (m *Model) Exec(key ExecKey, build func() (*model.Exec, error)) (*model.Exec, error) {
	m.execMu.Lock()
	defer m.execMu.Unlock()
	if e, ok := m.execs[key]; ok {
		return e, nil
	}
	e, err := build()
	if err != nil {
		return nil, err
	}
	if m.execs == nil {
		m.execs = map[ExecKey]*model.Exec{}
	}
	m.execs[key] = e
	return e, nil
}

// Call runs a graph of the model on inputs; an error from variables whose shapes do not match
// the config is explained in the model folder's terms.
func (m *Model) Call(exec *model.Exec, inputs ...any) ([]*tensors.Tensor, error) {
	out, err := exec.Call(inputs...)
	if err != nil {
		return nil, m.explainShapes(err)
	}
	return out, nil
}

// CheckRegions rejects a regions tensor that is not [B, R, C] with the encoder's channels.
func (m *Model) CheckRegions(regions *tensors.Tensor) error {
	d := regions.Shape().Dimensions
	if len(d) != 3 {
		return fmt.Errorf("decode: regions tensor %s, want [B, R, C]", regions.Shape())
	}
	if ch, _ := m.Config.EncoderChannels(); d[2] != ch {
		return fmt.Errorf("decode: regions have %d channels, the %s encoder gives %d", d[2], m.Config.Encoder, ch)
	}
	return nil
}

// EncodeImages runs the encoder on a batch of normalised images [B, S, S, 3] and returns the
// regions [B, R, C].
func (m *Model) EncodeImages(images *tensors.Tensor) (*tensors.Tensor, error) {
	exec, err := m.encoderExec(graphRegions)
	if err != nil {
		return nil, err
	}
	d := images.Shape().Dimensions
	if len(d) != 4 || d[1] != m.Config.ImageSize || d[2] != m.Config.ImageSize || d[3] != 3 {
		return nil, fmt.Errorf("encode: images tensor %s, want [B, %d, %d, 3]", images.Shape(), m.Config.ImageSize, m.Config.ImageSize)
	}
	out, err := exec.Call(images)
	if err = m.explainShapes(err); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return out[0], nil
}
