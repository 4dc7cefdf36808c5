package captioner_test

import (
	"context"
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/attncap/attncap/internal/pyref"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/encoder"
	"github.com/attncap/attncap/captioner/internal/captest"
	"github.com/attncap/attncap/internal/safetensors"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// requireTorch returns the Python interpreter that has torch and torchvision, or skips the
// test — unless ATTNCAP_REQUIRE_REFERENCES=1 (as CI sets), where their absence is a failure.
func requireTorch(t *testing.T) string {
	t.Helper()
	return pyref.Require(t, "torch", "torchvision")
}

// generateParity runs the generator script and returns its output folder.
func generateParity(t *testing.T, arch string, sizes ...int) string {
	py := requireTorch(t)
	dir := t.TempDir()
	var sz string
	for i, s := range sizes {
		if i > 0 {
			sz += ","
		}
		sz += strconv.Itoa(s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, filepath.Join("testdata", "gen_resnet_parity.py"), dir, "--arch", arch, "--sizes", sz, "--png")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generator failed: %v\n%s", err, out)
	}
	return dir
}

func readF32(t *testing.T, sf *safetensors.File, name string) ([]int, []float32) {
	t.Helper()
	ti, data, err := sf.Float32s(name)
	if err != nil {
		t.Fatal(err)
	}
	return ti.Shape, data
}

// TestResNetMatchesTorchvision compares the GoMLX encoder.ResNet grid with torchvision's layer4 output
// on the same seeded random weights and images: max|Δ| ≤ 1e-3·max|ref|.
func TestResNetMatchesTorchvision(t *testing.T) {
	cases := []struct {
		arch  string
		sizes []int
	}{{"resnet50", []int{224, 448}}, {"resnet18", []int{224}}}
	if testing.Short() {
		cases = cases[:1]
		cases[0].sizes = []int{224}
	}
	backend := captest.Backend(t)
	for _, c := range cases {
		dir := generateParity(t, c.arch, c.sizes...)
		store := model.NewStore()
		if err := encoder.LoadResNetWeights(store, "encoder", encoder.ResNetSpecs[c.arch], filepath.Join(dir, c.arch+".safetensors")); err != nil {
			t.Fatal(err)
		}
		for _, size := range c.sizes {
			sf, err := safetensors.Open(filepath.Join(dir, c.arch+"_"+strconv.Itoa(size)+".safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			imgShape, imgs := readF32(t, sf, "images")
			refShape, ref := readF32(t, sf, "expected")
			sf.Close()
			cfg := captioner.DefaultConfig(c.arch)
			cfg.ImageSize, cfg.VocabSize = size, 10
			m := &captioner.Model{Config: &cfg, Store: store, Backend: backend}
			regions, err := m.EncodeImages(tensors.FromFlatDataAndDimensions(imgs, imgShape...))
			if err != nil {
				t.Fatal(err)
			}
			got := tensors.MustCopyFlatData[float32](regions)
			wantDims := []int{refShape[0], refShape[1] * refShape[2], refShape[3]}
			if !slices.Equal(regions.Shape().Dimensions, wantDims) {
				t.Fatalf("%s@%d: regions %v, want %v", c.arch, size, regions.Shape().Dimensions, wantDims)
			}
			diff, scale := captest.MaxAbsDiff(got, ref)
			t.Logf("%s @%d: grid %v, max|Δ| = %.3g, max|ref| = %.3g (ratio %.2g)", c.arch, size, refShape, diff, scale, diff/scale)
			if diff > 1e-3*scale || math.IsNaN(diff) {
				t.Errorf("%s @%d: max|Δ| %.3g exceeds 1e-3·max|ref| = %.3g", c.arch, size, diff, 1e-3*scale)
			}
			checkFeaturesOfPNGs(t, m, dir, c.arch, size)
		}
	}
}

// checkFeaturesOfPNGs runs the features pipeline (decode, normalise, encode, save, load) on the
// generator's PNG images and compares with torchvision's layer4 of the same files.
func checkFeaturesOfPNGs(t *testing.T, m *captioner.Model, dir, arch string, size int) {
	t.Helper()
	sf, err := safetensors.Open(filepath.Join(dir, arch+"_"+strconv.Itoa(size)+"_png.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	refShape, ref := readF32(t, sf, "expected")
	var names []string
	if err := json.Unmarshal([]byte(sf.Metadata["images"]), &names); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, n := range names {
		paths = append(paths, filepath.Join(dir, n))
	}
	f, err := m.ExtractFeatures(paths, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "features.safetensors")
	if err := f.Save(out); err != nil {
		t.Fatal(err)
	}
	back, err := captioner.LoadFeatures(out)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Dims[:], refShape) || len(back.Images) != len(paths) || back.Images[1] != paths[1] {
		t.Fatalf("features file: dims %v images %q; want %v and %q", back.Dims, back.Images, refShape, paths)
	}
	diff, scale := captest.MaxAbsDiff(back.Data, ref)
	t.Logf("%s @%d from PNG files: max|Δ| = %.3g, max|ref| = %.3g", arch, size, diff, scale)
	if diff > 1e-3*scale || math.IsNaN(diff) {
		t.Errorf("%s @%d features of PNG files: max|Δ| %.3g exceeds 1e-3·max|ref|", arch, size, diff)
	}
}
