package captioner

import (
	"fmt"
	"sync"

	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/loss"
)

// Model is a captioner: its configuration, vocabulary and variables, with the compiled graphs
// that encode images and run decoding steps on a backend. Graphs are compiled on first use
// (and again only for new shapes). Backends that prefer it (the Go backend) compile variables
// into inference graphs as constants, so after changing variables (training, loading) call
// ResetCompiled before decoding again.
type Model struct {
	Config  *Config
	Vocab   *text.Vocab
	Store   *model.Store
	Backend compute.Backend

	once                           sync.Once
	encodeExec, prepareExec, stepE *model.Exec
	execErr                        error
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
		logits, alphas := TeacherForced(scope, cfg, regions, captions)
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

// ResetCompiled drops the compiled inference graphs; the next call compiles them again with
// the variables' current values.
func (m *Model) ResetCompiled() {
	for _, e := range []*model.Exec{m.encodeExec, m.prepareExec, m.stepE} {
		if e != nil {
			e.Finalize()
		}
	}
	m.encodeExec, m.prepareExec, m.stepE, m.execErr = nil, nil, nil, nil
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
		m.prepareExec, m.execErr = model.NewExec(m.Backend, m.Store, func(scope *model.Scope, regions *graph.Node) (*graph.Node, *graph.Node, *graph.Node) {
			h, c := InitState(scope, cfg, regions)
			return ProjectRegions(scope, cfg, regions), h, c
		})
		if m.execErr != nil {
			return
		}
		// One decoding step over N hypotheses: parents says which row's state each hypothesis
		// continues (beam search reorders them), prev is the word it just emitted.
		m.stepE, m.execErr = model.NewExec(m.Backend, m.Store, func(scope *model.Scope, in []*graph.Node) []*graph.Node {
			regions, projected, h, c, parents, prev := in[0], in[1], in[2], in[3], in[4], in[5]
			idx := graph.InsertAxes(parents, -1)
			h, c = graph.Gather(h, idx), graph.Gather(c, idx)
			logits, h2, c2, alpha := Step(scope, cfg, regions, projected, h, c, prev)
			return []*graph.Node{graph.LogSoftmax(logits, -1), h2, c2, alpha}
		})
	})
	return m.execErr
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
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return out[0], nil
}
