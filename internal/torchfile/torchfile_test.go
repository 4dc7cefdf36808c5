package torchfile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/attncap/attncap/internal/pyref"
)

// checkpoints writes the test files with Debian's python3-torch (testdata/gen_checkpoints.py),
// or skips when it is missing (CI sets ATTNCAP_REQUIRE_REFERENCES to fail instead).
func checkpoints(t *testing.T) string {
	t.Helper()
	python := pyref.Require(t, "torch")
	dir := t.TempDir()
	pyref.Run(t, python, "testdata/gen_checkpoints.py", dir)
	return dir
}

type expectedTensor struct {
	Shape  []int     `json:"shape"`
	DType  string    `json:"dtype"`
	Values []float64 `json:"values"`
}

// Both serialisations of a checkpoint that pickles its modules whole, and a file of plain
// state_dicts, give every tensor of the modules' state_dict() with PyTorch's names, shapes and
// values (float32 exact; integer buffers too).
func TestLoadGivesTheStateDictsTensors(t *testing.T) {
	dir := checkpoints(t)
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]expectedTensor
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	for file, format := range map[string]string{"whole_zip.pth.tar": "zip", "whole_legacy.pth.tar": "legacy", "state_dicts.pth": "zip"} {
		t.Run(file, func(t *testing.T) {
			c, err := Load(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			if c.Format != format {
				t.Errorf("format %q, want %q", c.Format, format)
			}
			if len(c.Tensors) != len(want) {
				t.Errorf("%d tensors %v, want %d", len(c.Tensors), c.Names(), len(want))
			}
			for name, w := range want {
				got := c.Tensors[name]
				if got == nil {
					t.Errorf("tensor %s missing (have %v)", name, c.Names())
					continue
				}
				if !reflect.DeepEqual(got.Shape, w.Shape) || got.DType != w.DType {
					t.Errorf("%s: shape %v %s, want %v %s", name, got.Shape, got.DType, w.Shape, w.DType)
					continue
				}
				for i, v := range w.Values {
					var g float64
					if got.Float != nil {
						g = float64(got.Float[i])
					} else {
						g = float64(got.Int[i])
					}
					if g != float64(float32(v)) && g != v {
						t.Errorf("%s[%d] = %v, want %v", name, i, g, v)
						break
					}
				}
			}
			if strings.HasPrefix(file, "whole") {
				if c.Modules["encoder"] != "models.Encoder" || c.Modules["decoder"] != "models.Decoder" {
					t.Errorf("modules %v, want encoder models.Encoder and decoder models.Decoder", c.Modules)
				}
				if c.Objects["decoder_optimizer"] != "torch.optim.adam.Adam" {
					t.Errorf("objects %v, want decoder_optimizer torch.optim.adam.Adam", c.Objects)
				}
				if c.Values["epoch"] != 3 || c.Values["bleu-4"] != 0.25 {
					t.Errorf("values %v, want epoch 3 and bleu-4 0.25", c.Values)
				}
			}
		})
	}
}

// A view is read through its strides and offset: the transpose of a [2, 3] tensor.
func TestLoadReadsViews(t *testing.T) {
	c, err := Load(filepath.Join(checkpoints(t), "views.pth"))
	if err != nil {
		t.Fatal(err)
	}
	tr := c.Tensors["t"]
	if tr == nil || !reflect.DeepEqual(tr.Shape, []int{3, 2}) || !reflect.DeepEqual(tr.Float, []float32{0, 3, 1, 4, 2, 5}) {
		t.Fatalf("transposed view: %+v, want [3 2] 0 3 1 4 2 5", tr)
	}
}

// A file that is not torch.save's is an error naming it.
func TestLoadRefusesOtherFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, []byte("not a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "torch.save") {
		t.Fatalf("err = %v, want it to name the file and say what torch.save writes", err)
	}
}
