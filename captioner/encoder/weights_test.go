package encoder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attncap/attncap/internal/safetensors"
	"github.com/gomlx/gomlx/ml/model"
)

func TestLoadResNetWeightsErrorsNameFileAndTensor(t *testing.T) {
	dir := t.TempDir()
	spec := ResNetSpecs["resnet18"]
	write := func(name string, tensors ...safetensors.Tensor) string {
		p := filepath.Join(dir, name)
		if err := safetensors.Write(p, tensors, nil); err != nil {
			t.Fatal(err)
		}
		return p
	}
	wrongShape := write("shape.safetensors", safetensors.Tensor{Name: "conv1.weight", Shape: []int{64, 3, 3, 3}, Data: make([]float32, 64*27)})
	missing := write("missing.safetensors", safetensors.Tensor{Name: "fc.weight", Shape: []int{2}, Data: []float32{1, 2}})
	wrongDType := write("dtype.safetensors", safetensors.Tensor{Name: "conv1.weight", Shape: []int{64, 3, 7, 7}, Data: make([]int32, 64*147)})
	truncated := filepath.Join(dir, "truncated.safetensors")
	full, _ := os.ReadFile(wrongDType)
	os.WriteFile(truncated, full[:len(full)/2], 0o644)
	notST := filepath.Join(dir, "notes.safetensors")
	os.WriteFile(notST, []byte("these are not weights at all"), 0o644)

	cases := []struct{ file, want string }{
		{wrongShape, `tensor "conv1.weight": want shape [64 3 7 7], got [64 3 3 3]`},
		{missing, `tensor "conv1.weight" missing`},
		{wrongDType, `tensor "conv1.weight": dtype I32, want F32`},
		{truncated, "truncated"},
		{notST, "not a safetensors file"},
		{filepath.Join(dir, "absent.safetensors"), "no such file"},
	}
	for _, c := range cases {
		err := LoadResNetWeights(model.NewStore(), "encoder", spec, c.file)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), filepath.Base(c.file)) {
			t.Errorf("%s: err = %v, want it to name the file and say %q", filepath.Base(c.file), err, c.want)
		}
	}
}

func TestResNetConvsCoverTorchvisionKeys(t *testing.T) {
	// torchvision's ResNet-50 has 53 convolutions and 53 batch norms (49 in the blocks and stem,
	// 4 projection shortcuts); ResNet-18 has 20 of each.
	for arch, want := range map[string]int{"resnet50": 53, "resnet18": 20, "resnet101": 104, "resnet152": 155, "resnet34": 36} {
		convs := len(resnetConvs(ResNetSpecs[arch]))
		if convs != want {
			t.Errorf("%s: %d convolutions, want %d", arch, convs, want)
		}
	}
}
