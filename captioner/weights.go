package captioner

import (
	"fmt"
	"math"
	"os"
	"path"
	"strings"

	"github.com/attncap/attncap/internal/safetensors"
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

// torchTensor is one tensor a torchvision ResNet checkpoint must hold.
type torchTensor struct {
	key   string // torchvision state_dict key, e.g. layer1.0.conv1.weight
	shape []int  // torchvision shape
}

// resnetLayer is a conv or batch-norm module of a ResNet, by its torchvision name.
type resnetLayer struct {
	module string // e.g. layer1.0.conv1
	conv   bool
	shape  []int // conv: [out, in, k, k]; bn: [channels]
}

// resnetLayers lists every conv and batch norm of a ResNet in torchvision's naming.
func resnetLayers(spec ResNetSpec) []resnetLayer {
	layers := []resnetLayer{{"conv1", true, []int{64, 3, 7, 7}}, {"bn1", false, []int{64}}}
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
				layers = append(layers,
					resnetLayer{p + "conv1", true, []int{width, in, 1, 1}}, resnetLayer{p + "bn1", false, []int{width}},
					resnetLayer{p + "conv2", true, []int{width, width, 3, 3}}, resnetLayer{p + "bn2", false, []int{width}},
					resnetLayer{p + "conv3", true, []int{out, width, 1, 1}}, resnetLayer{p + "bn3", false, []int{out}})
			} else {
				layers = append(layers,
					resnetLayer{p + "conv1", true, []int{width, in, 3, 3}}, resnetLayer{p + "bn1", false, []int{width}},
					resnetLayer{p + "conv2", true, []int{width, width, 3, 3}}, resnetLayer{p + "bn2", false, []int{width}})
			}
			if stride != 1 || in != out {
				layers = append(layers,
					resnetLayer{p + "downsample.0", true, []int{out, in, 1, 1}}, resnetLayer{p + "downsample.1", false, []int{out}})
			}
			in = out
		}
	}
	return layers
}

// variablePath maps a torchvision module name to the scope path of its attncap variables.
func variablePath(scope, module string) string {
	return path.Join("/", scope, strings.ReplaceAll(module, ".", "/"))
}

// LoadResNetWeights reads a torchvision/timm ResNet checkpoint (safetensors) into the store's
// encoder variables under scope (usually "encoder"): conv kernels transposed from [out, in, kh,
// kw] to channels-last [kh, kw, in, out], batch norms folded into frozen scale and shift. The
// classifier (fc.*) and num_batches_tracked are ignored. Errors name the file and the tensor:
// a missing key, a shape that differs (want vs got), a dtype that is not F32.
func LoadResNetWeights(store *model.Store, scope string, spec ResNetSpec, file string) error {
	sf, err := safetensors.Open(file)
	if err != nil {
		return err
	}
	defer sf.Close()
	get := func(key string, want []int) ([]float32, error) {
		ti, ok := sf.Tensors[key]
		if !ok {
			return nil, fmt.Errorf("weights %s: tensor %q missing (is this a checkpoint of the same ResNet?)", file, key)
		}
		if !equalInts(ti.Shape, want) {
			return nil, fmt.Errorf("weights %s: tensor %q: want shape %v, got %v", file, key, want, ti.Shape)
		}
		if ti.DType != "F32" {
			return nil, fmt.Errorf("weights %s: tensor %q: dtype %s, want F32", file, key, ti.DType)
		}
		_, data, err := sf.Float32s(key)
		return data, err
	}
	for _, l := range resnetLayers(spec) {
		vp := variablePath(scope, l.module)
		if l.conv {
			w, err := get(l.module+".weight", l.shape)
			if err != nil {
				return err
			}
			o, i, kh, kw := l.shape[0], l.shape[1], l.shape[2], l.shape[3]
			hwio := make([]float32, len(w))
			for oo := 0; oo < o; oo++ {
				for ii := 0; ii < i; ii++ {
					for a := 0; a < kh; a++ {
						for b := 0; b < kw; b++ {
							hwio[((a*kw+b)*i+ii)*o+oo] = w[((oo*i+ii)*kh+a)*kw+b]
						}
					}
				}
			}
			if err := setVariable(store, vp+"/weight", tensors.FromFlatDataAndDimensions(hwio, kh, kw, i, o)); err != nil {
				return err
			}
			continue
		}
		var p [4][]float32
		for j, name := range []string{"weight", "bias", "running_mean", "running_var"} {
			if p[j], err = get(l.module+"."+name, l.shape); err != nil {
				return err
			}
		}
		scale, shift := make([]float32, l.shape[0]), make([]float32, l.shape[0])
		for c := range scale {
			s := float64(p[0][c]) / math.Sqrt(float64(p[3][c])+BatchNormEps)
			scale[c] = float32(s)
			shift[c] = float32(float64(p[1][c]) - float64(p[2][c])*s)
		}
		if err := setVariable(store, vp+"/scale", tensors.FromFlatDataAndDimensions(scale, len(scale))); err != nil {
			return err
		}
		if err := setVariable(store, vp+"/shift", tensors.FromFlatDataAndDimensions(shift, len(shift))); err != nil {
			return err
		}
	}
	return nil
}

// setVariable creates the variable with the value, or replaces the value of an existing one.
func setVariable(store *model.Store, fullPath string, value *tensors.Tensor) error {
	if v := store.GetVariable(fullPath); v != nil {
		if !v.Shape().Equal(value.Shape()) {
			return fmt.Errorf("variable %s: has shape %s, checkpoint gives %s", fullPath, v.Shape(), value.Shape())
		}
		return v.SetValue(value)
	}
	_, err := store.CreateVariable(fullPath, value)
	return err
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
