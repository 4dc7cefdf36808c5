package encoder

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path"
	"strings"

	"github.com/attncap/attncap/captioner/layers"
	"github.com/attncap/attncap/internal/safetensors"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/go-huggingface/hub"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// ResolveWeights turns a weights id into a local file path:
//
//   - "hf:OWNER/REPO" or "hf:OWNER/REPO@REVISION": the repository's model.safetensors,
//     downloaded (with a progress bar) into the standard Hugging Face cache ($HF_HOME, or
//     ~/.cache/huggingface), or taken from it when already there;
//   - anything else: a path to a .safetensors file.
func ResolveWeights(id string) (string, error) {
	repoID, ok := strings.CutPrefix(id, "hf:")
	if !ok {
		if _, err := os.Stat(id); err != nil {
			return "", fmt.Errorf("weights %s: %w", id, err)
		}
		return id, nil
	}
	repoID, revision, _ := strings.Cut(repoID, "@")
	if strings.Count(repoID, "/") != 1 {
		return "", fmt.Errorf("weights %q: want hf:OWNER/REPO[@REVISION]", id)
	}
	repo := hub.New(repoID).WithProgressBar(true)
	if revision != "" {
		repo = repo.WithRevision(revision)
	}
	p, err := repo.DownloadFile("model.safetensors")
	if err != nil {
		return "", fmt.Errorf("weights %s: downloading model.safetensors from the Hugging Face hub: %w "+
			"(offline? download it elsewhere and pass -weights PATH)", id, err)
	}
	return p, nil
}

// resnetConv is a convolution of a ResNet and the batch norm that follows it, by their
// torchvision names.
type resnetConv struct {
	conv, bn string // e.g. layer1.0.conv1 and layer1.0.bn1
	shape    []int  // torchvision kernel shape [out, in, k, k]
}

// resnetConvs lists every convolution of a ResNet with its batch norm, in torchvision's naming.
func resnetConvs(spec ResNetSpec) []resnetConv {
	convs := []resnetConv{{"conv1", "bn1", []int{64, 3, 7, 7}}}
	in := 64
	for stage, width := range [4]int{64, 128, 256, 512} {
		for i := 0; i < spec.Blocks[stage]; i++ {
			stride := 1
			if i == 0 && stage > 0 {
				stride = 2
			}
			p := fmt.Sprintf("layer%d.%d.", stage+1, i)
			out := width
			if spec.Bottleneck {
				out = 4 * width
				convs = append(convs,
					resnetConv{p + "conv1", p + "bn1", []int{width, in, 1, 1}},
					resnetConv{p + "conv2", p + "bn2", []int{width, width, 3, 3}},
					resnetConv{p + "conv3", p + "bn3", []int{out, width, 1, 1}})
			} else {
				convs = append(convs,
					resnetConv{p + "conv1", p + "bn1", []int{width, in, 3, 3}},
					resnetConv{p + "conv2", p + "bn2", []int{width, width, 3, 3}})
			}
			if stride != 1 || in != out {
				convs = append(convs, resnetConv{p + "downsample.0", p + "downsample.1", []int{out, in, 1, 1}})
			}
			in = out
		}
	}
	return convs
}

// variablePath maps a torchvision module name to the scope path of its attncap variables.
func variablePath(scope, module string) string {
	return path.Join("/", scope, strings.ReplaceAll(module, ".", "/"))
}

// WeightSource gives a ResNet's float32 tensors by torchvision name ("layer1.0.conv1.weight"),
// checked against the shape the ResNet needs; errors name the file and the tensor.
type WeightSource interface {
	Weight(name string, shape []int) ([]float32, error)
}

// LoadResNetWeights reads a torchvision/timm ResNet checkpoint (safetensors) into the store's
// encoder variables under scope (usually "encoder"), as LoadResNet does. Errors name the file
// and the tensor: a missing key, a shape that differs (want vs got), a dtype that is not F32.
func LoadResNetWeights(store *model.Store, scope string, spec ResNetSpec, file string) error {
	sf, err := safetensors.Open(file)
	if err != nil {
		return err
	}
	defer sf.Close()
	return LoadResNet(store, scope, spec, safetensorsWeights{sf, file})
}

// safetensorsWeights reads a safetensors file's tensors (copied out of the mapped file one
// tensor at a time).
type safetensorsWeights struct {
	sf   *safetensors.File
	file string
}

func (w safetensorsWeights) Weight(key string, want []int) ([]float32, error) {
	ti, ok := w.sf.Tensors[key]
	if !ok {
		return nil, fmt.Errorf("weights %s: tensor %q missing (is this a checkpoint of the same ResNet?)", w.file, key)
	}
	if !equalInts(ti.Shape, want) {
		return nil, fmt.Errorf("weights %s: tensor %q: want shape %v, got %v", w.file, key, want, ti.Shape)
	}
	if ti.DType != "F32" {
		return nil, fmt.Errorf("weights %s: tensor %q: dtype %s, want F32", w.file, key, ti.DType)
	}
	_, b, err := w.sf.Bytes(key)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}

// LoadResNet sets the store's encoder variables under scope (usually "encoder") from a ResNet's
// torchvision-named tensors. Each batch norm is folded into the convolution before it, exactly
// as its inference form computes:
//
//	W' = W·s (per output channel),  b' = β − μ·s,  s = γ/√(σ²+ε)
//
// and kernels are transposed from [out, in, kh, kw] to channels-last [kh, kw, in, out]. The
// classifier (fc.*) and num_batches_tracked are not read.
func LoadResNet(store *model.Store, scope string, spec ResNetSpec, src WeightSource) error {
	for _, c := range resnetConvs(spec) {
		o, i, kh, kw := c.shape[0], c.shape[1], c.shape[2], c.shape[3]
		w, err := src.Weight(c.conv+".weight", c.shape)
		if err != nil {
			return err
		}
		var bn [4][]float32
		for j, name := range []string{"weight", "bias", "running_mean", "running_var"} {
			if bn[j], err = src.Weight(c.bn+"."+name, []int{o}); err != nil {
				return err
			}
		}
		scale := make([]float64, o)
		bias := tensors.FromShape(shapes.Make(dtypes.Float32, o))
		tensors.MustMutableFlatData(bias, func(flat []float32) {
			for oo := range scale {
				scale[oo] = float64(bn[0][oo]) / math.Sqrt(float64(bn[3][oo])+BatchNormEps)
				flat[oo] = float32(float64(bn[1][oo]) - float64(bn[2][oo])*scale[oo])
			}
		})
		kernel := tensors.FromShape(shapes.Make(dtypes.Float32, kh, kw, i, o))
		tensors.MustMutableFlatData(kernel, func(hwio []float32) {
			for oo := 0; oo < o; oo++ {
				for ii := 0; ii < i; ii++ {
					for a := 0; a < kh; a++ {
						for b := 0; b < kw; b++ {
							hwio[((a*kw+b)*i+ii)*o+oo] = float32(float64(w[((oo*i+ii)*kh+a)*kw+b]) * scale[oo])
						}
					}
				}
			}
		})
		vp := variablePath(scope, c.conv)
		if err := layers.SetVariable(store, vp+"/weight", kernel); err != nil {
			return err
		}
		if err := layers.SetVariable(store, vp+"/bias", bias); err != nil {
			return err
		}
	}
	return nil
}

// SpecOf finds the ResNet whose torchvision-named tensors has holds (has reports a name), from
// its blocks per stage and block kind: "resnet101" and its spec, or ok false.
func SpecOf(has func(name string) bool) (name string, spec ResNetSpec, ok bool) {
	var found ResNetSpec
	found.Bottleneck = has("layer1.0.conv3.weight")
	for stage := range found.Blocks {
		for has(fmt.Sprintf("layer%d.%d.conv1.weight", stage+1, found.Blocks[stage])) {
			found.Blocks[stage]++
		}
	}
	for n, s := range ResNetSpecs {
		if s == found {
			return n, s, true
		}
	}
	return "", found, false
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
