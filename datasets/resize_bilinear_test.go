package datasets

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/attncap/attncap/internal/pyref"
)

// Pillow's bilinear resize, as the PyTorch captioning tutorial preprocesses, is reproduced bit
// for bit: shrinking (antialiased), enlarging, one side kept, odd sizes and extreme aspect
// ratios (testdata/gen_pil_resize.py writes the pictures and Pillow's results).
func TestResizeBilinearEqualsPillow(t *testing.T) {
	python := pyref.Require(t, "PIL", "numpy")
	dir := t.TempDir()
	pyref.Run(t, python, "testdata/gen_pil_resize.py", dir)
	data, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct{ W, H int }
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		img, err := DecodeImage(filepath.Join(dir, fmt.Sprintf("in_%d.png", i)), 0)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("out_%d.raw", i)))
		if err != nil {
			t.Fatal(err)
		}
		got := ResizePIL(img, c.W, c.H)
		diff := 0
		for p := 0; p < c.W*c.H; p++ {
			for ch := 0; ch < 3; ch++ {
				if got.Pix[4*p+ch] != want[3*p+ch] {
					diff++
				}
			}
		}
		if diff > 0 {
			t.Errorf("case %d (%dx%d → %dx%d): %d of %d values differ from Pillow's", i, img.Bounds().Dx(), img.Bounds().Dy(), c.W, c.H, diff, 3*c.W*c.H)
		}
	}
}
