package captioner

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/internal/safetensors"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/schollz/progressbar/v3"
)

// FeaturesTensor is the name of the grid tensor in a features file.
const FeaturesTensor = "features"

// Features are encoder grids of a list of images, channels-last.
type Features struct {
	// Images are the image paths, in the order of the grids.
	Images []string
	// Dims is [N, h, w, C].
	Dims [4]int
	// Data holds N·h·w·C float32 values.
	Data []float32
	// Meta records how they were computed (encoder, weights, image size), for cache checks.
	Meta map[string]string
}

// ImageOptions returns how this model's images are preprocessed (no augmentation).
func (m *Model) ImageOptions() datasets.ImageOptions {
	return datasets.ImageOptions{Size: m.Config.ImageSize, Mean: m.Config.Mean, Std: m.Config.Std}
}

// LoadEncoderWeights loads the pretrained ResNet weights named by Config.Weights (a file, or
// hf:OWNER/REPO). It does nothing for an empty id.
func (m *Model) LoadEncoderWeights() error {
	if m.Config.Weights == "" {
		return nil
	}
	spec, ok := ResNetSpecs[m.Config.Encoder]
	if !ok {
		return fmt.Errorf("weights %s: the %s encoder takes no pretrained weights", m.Config.Weights, m.Config.Encoder)
	}
	path, err := ResolveWeights(m.Config.Weights)
	if err != nil {
		return err
	}
	return LoadResNetWeights(m.Store, "encoder", spec, path)
}

// gridExec compiles the encoder returning grids.
func (m *Model) gridExec() (*model.Exec, error) {
	cfg := m.Config
	return model.NewExec(m.Backend, m.Store, func(scope *model.Scope, images *graph.Node) *graph.Node {
		return EncodeGrid(scope, cfg, images)
	})
}

// ExtractFeatures decodes, preprocesses and encodes image files in batches of batchSize. The
// next batch's images are decoded (on all cores) while the current one is encoded. progress,
// when not nil, receives a progress bar.
func (m *Model) ExtractFeatures(paths []string, batchSize int, progress io.Writer) (*Features, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("features: no images")
	}
	batchSize = max(1, batchSize)
	exec, err := m.gridExec()
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	type loaded struct {
		batch *datasets.ImageBatch
		err   error
	}
	ch := make(chan loaded, 1)
	go func() {
		defer close(ch)
		for start := 0; start < len(paths); start += batchSize {
			b, err := datasets.LoadImageBatch(paths[start:min(start+batchSize, len(paths))], m.ImageOptions(), nil)
			ch <- loaded{b, err}
			if err != nil {
				return
			}
		}
	}()
	var bar *progressbar.ProgressBar
	if progress != nil {
		bar = progressbar.NewOptions(len(paths), progressbar.OptionSetWriter(progress),
			progressbar.OptionSetDescription("encoding"), progressbar.OptionShowCount(), progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("img"), progressbar.OptionOnCompletion(func() { fmt.Fprintln(progress) }))
	}
	f := &Features{Images: paths, Meta: m.featureMeta()}
	for l := range ch {
		if l.err != nil {
			for range ch { //nolint:revive // drain the producer
			}
			return nil, l.err
		}
		out, err := exec.Call(l.batch.Tensor())
		if err != nil {
			return nil, fmt.Errorf("features: %w", err)
		}
		d := out[0].Shape().Dimensions
		f.Dims = [4]int{len(paths), d[1], d[2], d[3]}
		f.Data = append(f.Data, tensors.MustCopyFlatData[float32](out[0])...)
		out[0].MustFinalizeAll()
		if bar != nil {
			_ = bar.Add(l.batch.N)
		}
	}
	return f, nil
}

// featureMeta describes what the features depend on.
func (m *Model) featureMeta() map[string]string {
	return map[string]string{
		"encoder": m.Config.Encoder, "weights": m.Config.Weights,
		"image_size": strconv.Itoa(m.Config.ImageSize), "grid_size": strconv.Itoa(m.Config.GridSize),
	}
}

// Save writes the features as a safetensors file: tensor "features" [N, h, w, C] float32, and
// in __metadata__ "images" (a JSON list of the image paths) plus how they were computed.
func (f *Features) Save(path string) error {
	meta := map[string]string{}
	for k, v := range f.Meta {
		meta[k] = v
	}
	names, err := json.Marshal(f.Images)
	if err != nil {
		return err
	}
	meta["images"] = string(names)
	return safetensors.Write(path, []safetensors.Tensor{{Name: FeaturesTensor, Shape: f.Dims[:], Data: f.Data}}, meta)
}

// LoadFeatures reads a file written by Features.Save.
func LoadFeatures(path string) (*Features, error) {
	sf, err := safetensors.Open(path)
	if err != nil {
		return nil, err
	}
	defer sf.Close()
	ti, data, err := sf.Float32s(FeaturesTensor)
	if err != nil {
		return nil, err
	}
	if len(ti.Shape) != 4 {
		return nil, fmt.Errorf("features %s: tensor %q has shape %v, want [N, h, w, C]", path, FeaturesTensor, ti.Shape)
	}
	f := &Features{Dims: [4]int{ti.Shape[0], ti.Shape[1], ti.Shape[2], ti.Shape[3]}, Data: data, Meta: map[string]string{}}
	for k, v := range sf.Metadata {
		if k == "images" {
			if err := json.Unmarshal([]byte(v), &f.Images); err != nil {
				return nil, fmt.Errorf("features %s: metadata images is not a JSON list: %w", path, err)
			}
			continue
		}
		f.Meta[k] = v
	}
	if len(f.Images) != f.Dims[0] {
		return nil, fmt.Errorf("features %s: %d image names for %d grids", path, len(f.Images), f.Dims[0])
	}
	return f, nil
}
