package datasets

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Pillow's bilinear resize, as the PyTorch captioning tutorial preprocesses, is reproduced bit
// for bit: shrinking (antialiased), enlarging, one side kept, odd sizes and extreme aspect
// ratios (testdata/gen_pil_resize.py writes the pictures and Pillow's results).
func TestResizeBilinearEqualsPillow(t *testing.T) {
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import PIL, numpy").Run(); err != nil {
		if os.Getenv("ATTNCAP_REQUIRE_REFERENCES") != "" {
			t.Fatalf("Pillow is required (ATTNCAP_REQUIRE_REFERENCES): %v", err)
		}
		t.Skip("needs Debian's python3-pil to write Pillow's resizes")
	}
	dir := t.TempDir()
	if out, err := exec.Command(python, "testdata/gen_pil_resize.py", dir).CombinedOutput(); err != nil {
		t.Fatalf("gen_pil_resize.py: %v\n%s", err, out)
	}
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
