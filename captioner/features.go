package captioner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/attncap/attncap/captioner/encoder"
	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/internal/progress"
	"github.com/attncap/attncap/internal/safetensors"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/sync/errgroup"
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
	return datasets.ImageOptions{Size: m.Config.ImageSize, Mean: m.Config.Mean, Std: m.Config.Std, Resize: m.Config.Resize}
}

// LoadEncoderWeights loads the pretrained ResNet weights named by Config.Weights (a file, or
// hf:OWNER/REPO). It does nothing for an empty id.
func (m *Model) LoadEncoderWeights() error {
	if m.Config.Weights == "" {
		return nil
	}
	spec, ok := encoder.ResNetSpecs[m.Config.Encoder]
	if !ok {
		return fmt.Errorf("weights %s: the %s encoder takes no pretrained weights", m.Config.Weights, m.Config.Encoder)
	}
	path, err := m.WeightsFile()
	if err != nil {
		return err
	}
	return encoder.LoadResNetWeights(m.Store, "encoder", spec, path)
}

// WeightsFile is the local file of Config.Weights (downloaded from the hub the first time).
func (m *Model) WeightsFile() (string, error) {
	if m.weightsPath == "" {
		path, err := encoder.ResolveWeights(m.Config.Weights)
		if err != nil {
			return "", err
		}
		m.weightsPath = path
	}
	return m.weightsPath, nil
}

// EncoderStreams is how many batches ExtractFeatures encodes at once. Two concurrent
// executions keep both cores of a small machine busy on the Go backend, where some of the
// encoder's ops (im2col gathers, copies) run on one core; on a GPU they overlap transfers with
// compute.
const EncoderStreams = 2

// ExtractFeatures decodes, preprocesses and encodes image files in batches of batchSize, and
// returns their grids in the order of paths. Images are decoded on all cores
// (datasets.ImageBatches) ahead of the encoder, which works on EncoderStreams batches at once;
// the first error stops every stage and is returned. progressOut, when not nil, receives a
// progress bar.
func (m *Model) ExtractFeatures(paths []string, batchSize int, progressOut io.Writer) (*Features, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("features: no images")
	}
	batchSize = max(1, batchSize)
	grid, err := m.encoderExec(graphGrid)
	if err != nil {
		return nil, err
	}
	type loaded struct {
		index int // batch number
		batch *datasets.ImageBatch
	}
	g, ctx := errgroup.WithContext(context.Background())
	ch := make(chan loaded, EncoderStreams)
	g.Go(func() error {
		defer close(ch)
		return datasets.ImageBatches(paths, batchSize, m.ImageOptions(), nil, 0, func(i int, b *datasets.ImageBatch) error {
			select {
			case ch <- loaded{i, b}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	})
	bar := progress.New(progressOut, int64(len(paths)), "encoding", progressbar.OptionShowIts(), progressbar.OptionSetItsString("img"))
	grids := make([][]float32, (len(paths)+batchSize-1)/batchSize)
	var (
		mu   sync.Mutex
		dims []int
	)
	encode := func(l loaded) error {
		if ctx.Err() != nil {
			return nil // failed elsewhere: drain
		}
		in := l.batch.Tensor()
		l.batch.Recycle() // its values are in the tensor: the memory serves a later batch
		out, err := grid.Call(in)
		if err != nil {
			return fmt.Errorf("features: %w", err)
		}
		m.gridWarm.Store(true)
		values := tensors.MustCopyFlatData[float32](out[0])
		mu.Lock()
		grids[l.index], dims = values, out[0].Shape().Dimensions
		if bar != nil {
			_ = bar.Add(l.batch.N)
		}
		mu.Unlock()
		out[0].MustFinalizeAll()
		return nil
	}
	encodeAll := func() error {
		for l := range ch {
			if err := encode(l); err != nil {
				return err
			}
		}
		return nil
	}
	g.Go(func() error {
		// The first call initialises the variables and compiles the graph: it runs alone, so
		// that the streams start on a ready graph.
		if !m.gridWarm.Load() {
			if l, ok := <-ch; ok {
				if err := encode(l); err != nil {
					return err
				}
			}
		}
		for range EncoderStreams {
			g.Go(encodeAll)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	f := &Features{Images: paths, Meta: m.FeatureMeta(), Dims: [4]int{len(paths), dims[1], dims[2], dims[3]}}
	f.Data = make([]float32, 0, len(paths)*dims[1]*dims[2]*dims[3])
	for _, g := range grids {
		f.Data = append(f.Data, g...)
	}
	return f, nil
}

// FeatureMeta describes what the features depend on (the compute dtype only when it is not
// the default float32, so float32 features are described as before it existed).
func (m *Model) FeatureMeta() map[string]string {
	meta := map[string]string{
		"encoder": m.Config.Encoder, "weights": m.Config.Weights,
		"image_size": strconv.Itoa(m.Config.ImageSize), "grid_size": strconv.Itoa(m.Config.GridSize),
	}
	if m.Config.DType == DTypeBFloat16 {
		meta["dtype"] = m.Config.DType
	}
	// Set only when used, so that features of other models are described as before.
	if m.Config.Resize != "" {
		meta["resize"] = m.Config.Resize
	}
	if m.Config.Source != "" {
		meta["source"] = m.Config.Source
	}
	return meta
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

// Regions returns the grids of the images at indices idx as regions [len(idx), h·w, C].
func (f *Features) Regions(idx []int) (*tensors.Tensor, error) {
	per := f.Dims[1] * f.Dims[2] * f.Dims[3]
	data := make([]float32, len(idx)*per)
	for i, j := range idx {
		if j < 0 || j >= f.Dims[0] {
			return nil, fmt.Errorf("features: image index %d out of range [0, %d)", j, f.Dims[0])
		}
		copy(data[i*per:(i+1)*per], f.Data[j*per:(j+1)*per])
	}
	return tensors.FromFlatDataAndDimensions(data, len(idx), f.Dims[1]*f.Dims[2], f.Dims[3]), nil
}
