package captioner

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/attncap/attncap/captioner/layers"
	"github.com/attncap/attncap/datasets/text"
	"github.com/attncap/attncap/internal/safetensors"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Files of a model folder. Together they are all that is needed to caption an image.
const (
	ConfigFile    = "config.json"
	VocabFile     = "vocab.json"
	VariablesFile = "model.safetensors"
)

// safetensors names of the dtypes attncap stores.
var dtypeNames = map[dtypes.DType]string{
	dtypes.Float32: "F32", dtypes.Float64: "F64", dtypes.Int32: "I32", dtypes.Int64: "I64",
	dtypes.Uint8: "U8", dtypes.Bool: "BOOL", dtypes.Float16: "F16", dtypes.BFloat16: "BF16",
	dtypes.Int8: "I8", dtypes.Int16: "I16", dtypes.Uint16: "U16", dtypes.Uint32: "U32", dtypes.Uint64: "U64",
}

// SaveVariables writes every variable of the store (model weights, and optimizer state and
// global step during training) to a safetensors file, atomically, named by variable path.
func SaveVariables(store *model.Store, path string) error {
	return saveVariables(store, path, func(string) bool { return true })
}

// IsModelVariable says whether a variable path names a weight of the model itself (encoder or
// decoder), which inference needs, rather than optimizer state, step counters, the learning
// rate, the random state or training metrics.
func IsModelVariable(path string) bool {
	return strings.HasPrefix(path, "/encoder/") || strings.HasPrefix(path, "/decoder/")
}

// saveVariables writes the variables whose path keep accepts.
func saveVariables(store *model.Store, path string, keep func(string) bool) error {
	var list []safetensors.Tensor
	for v := range store.IterVariables() {
		if !keep(v.Path()) {
			continue
		}
		value, err := v.Value()
		if err != nil {
			return fmt.Errorf("saving %s: variable %s: %w", path, v.Path(), err)
		}
		name, ok := dtypeNames[value.DType()]
		if !ok {
			return fmt.Errorf("saving %s: variable %s has dtype %s, which attncap does not store", path, v.Path(), value.DType())
		}
		// Streamed from the variable's own bytes: no copy of the model is made to save it.
		list = append(list, safetensors.Tensor{Name: v.Path(), Shape: value.Shape().Dimensions, DType: name,
			Size: int(value.Shape().ByteSize()), WriteRaw: func(w io.Writer) error {
				var werr error
				if err := value.ConstBytes(func(b []byte) { _, werr = w.Write(b) }); err != nil {
					return err
				}
				return werr
			}})
	}
	return safetensors.Write(path, list, map[string]string{"format": "attncap"})
}

// LoadVariables reads a file written by SaveVariables into the store: variables that exist get
// their value (the shape must match), others are created.
func LoadVariables(store *model.Store, path string) error {
	sf, err := safetensors.Open(path)
	if err != nil {
		return err
	}
	defer sf.Close()
	byName := map[string]dtypes.DType{}
	for d, n := range dtypeNames {
		byName[n] = d
	}
	for _, name := range sf.Names() {
		ti, raw, _ := sf.Bytes(name)
		dtype, ok := byName[ti.DType]
		if !ok {
			return fmt.Errorf("%s: tensor %q has dtype %s, which attncap does not load", path, name, ti.DType)
		}
		t := tensors.FromShape(shapes.Make(dtype, ti.Shape...))
		if err := t.MutableBytes(func(b []byte) { copy(b, raw) }); err != nil {
			return fmt.Errorf("%s: tensor %q: %w", path, name, err)
		}
		if err := layers.SetVariable(store, name, t); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if !strings.HasPrefix(name, "/encoder/") && !strings.HasPrefix(name, "/decoder/") {
			// Optimizer state, step counters, random state: never trained. (Model variables get
			// their flag when the graph that uses them is built.)
			store.GetVariable(name).SetTrainable(false)
		}
	}
	return nil
}

// Save writes the model folder that is served and shared: config.json, vocab.json and
// model.safetensors with the model's weights only (no optimizer state), each atomically.
func (m *Model) Save(dir string) error {
	return m.save(dir, IsModelVariable)
}

// SaveCheckpoint writes a model folder with every variable of the store, optimizer state,
// step counters and random state included: what a training run needs to resume exactly.
func (m *Model) SaveCheckpoint(dir string) error {
	return m.save(dir, func(string) bool { return true })
}

func (m *Model) save(dir string, keep func(string) bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := SaveConfig(filepath.Join(dir, ConfigFile), m.Config); err != nil {
		return err
	}
	if err := m.Vocab.Save(filepath.Join(dir, VocabFile)); err != nil {
		return err
	}
	return saveVariables(m.Store, filepath.Join(dir, VariablesFile), keep)
}

// LoadModel reads a model folder written by Save. The folder alone is enough to caption images:
// the encoder's name and weights id, the image size and normalisation, the vocabulary and the
// sizes are all in it.
func LoadModel(backend compute.Backend, dir string) (*Model, error) {
	cfg, err := LoadConfig(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, fmt.Errorf("model folder %s: %w", dir, err)
	}
	vocab, err := text.LoadVocab(filepath.Join(dir, VocabFile))
	if err != nil {
		return nil, fmt.Errorf("model folder %s: %w", dir, err)
	}
	if vocab.Size() != cfg.VocabSize {
		return nil, fmt.Errorf("model folder %s: vocabulary has %d words, config says %d", dir, vocab.Size(), cfg.VocabSize)
	}
	m, err := NewModel(backend, *cfg, vocab)
	if err != nil {
		return nil, err
	}
	if err := LoadVariables(m.Store, filepath.Join(dir, VariablesFile)); err != nil {
		return nil, fmt.Errorf("model folder %s: %w", dir, err)
	}
	m.dir = dir
	return m, nil
}

// Dir is the model folder the model was loaded from ("" for a model built in memory).
func (m *Model) Dir() string { return m.dir }

// explainShapes turns a graph-building error about a variable whose loaded value has another
// shape (layers.ShapeMismatchError) into one that names the model folder's files and what to
// do; other errors pass unchanged.
func (m *Model) explainShapes(err error) error {
	var mismatch *layers.ShapeMismatchError
	if !errors.As(err, &mismatch) {
		return err
	}
	where := "the loaded weights"
	if m.dir != "" {
		where = filepath.Join(m.dir, VariablesFile)
	}
	return fmt.Errorf("%s does not match the model's config (%s): %w; "+
		"restore the config.json saved with these weights, or use the weights it belongs to", where, filepath.Join(m.dir, ConfigFile), mismatch)
}
