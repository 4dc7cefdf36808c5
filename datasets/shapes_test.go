package datasets

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerateShapesIsDeterministicAndLoads(t *testing.T) {
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	opts := ShapesOptions{N: 40, Seed: 3}
	if err := GenerateShapes(a, opts); err != nil {
		t.Fatal(err)
	}
	if err := GenerateShapes(b, opts); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{flickr8kTokenFile, flickr8kTrainList, "Flicker8k_Dataset/shapes_000007.jpg", ShapesObjectsFile} {
		x, _ := os.ReadFile(filepath.Join(a, rel))
		y, _ := os.ReadFile(filepath.Join(b, rel))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Fatalf("%s differs between two runs with the same seed", rel)
		}
	}
	c := filepath.Join(t.TempDir(), "c")
	GenerateShapes(c, ShapesOptions{N: 40, Seed: 4})
	x, _ := os.ReadFile(filepath.Join(a, flickr8kTokenFile))
	y, _ := os.ReadFile(filepath.Join(c, flickr8kTokenFile))
	if bytes.Equal(x, y) {
		t.Fatal("different seeds gave the same captions")
	}

	d, err := Load(a, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		split Split
		n     int
	}{{Train, 32}, {Val, 4}, {Test, 4}} {
		if im, caps := d.CountSplit(s.split); im != s.n || caps != 5*s.n {
			t.Errorf("%s: %d images / %d captions, want %d / %d", s.split, im, caps, s.n, 5*s.n)
		}
	}
	if len(d.Warnings) != 0 {
		t.Errorf("warnings on generated data: %q", d.Warnings)
	}
	sizes := map[[2]int]bool{}
	for _, e := range d.Examples {
		img, err := DecodeImage(e.Image, 0)
		if err != nil {
			t.Fatal(err)
		}
		sizes[[2]int{img.Bounds().Dx(), img.Bounds().Dy()}] = true
		if len(e.Captions) != 5 {
			t.Fatalf("%s has %d captions", e.Image, len(e.Captions))
		}
		distinct := map[string]bool{}
		for _, c := range e.Captions {
			distinct[c] = true
		}
		if len(distinct) != 5 {
			t.Errorf("%s: captions repeat: %q", e.Image, e.Captions)
		}
	}
	if len(sizes) < 10 {
		t.Errorf("only %d distinct image sizes in 40 images", len(sizes))
	}
	if err := GenerateShapes(a, opts); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("writing into a non-empty folder: err = %v", err)
	}
}

// nearestColour names the palette colour closest to an RGB value.
func nearestColour(r, g, b uint8) string {
	best, bestD := "", math.Inf(1)
	for _, c := range shapeColors {
		d := math.Pow(float64(r)-float64(c.rgb.R), 2) + math.Pow(float64(g)-float64(c.rgb.G), 2) + math.Pow(float64(b)-float64(c.rgb.B), 2)
		if d < bestD {
			best, bestD = c.name, d
		}
	}
	return best
}

func TestShapesCaptionsDescribeThePixels(t *testing.T) {
	kinds := map[string]bool{}
	relations := map[string]bool{}
	for i := 0; i < 300; i++ {
		rng := rand.New(rand.NewPCG(11, uint64(i)))
		img, shapes := drawShapesImage(rng, 96, 160)
		if len(shapes) < 1 || len(shapes) > 3 {
			t.Fatalf("image %d has %d shapes", i, len(shapes))
		}
		for _, s := range shapes {
			px := img.RGBAAt(int(s.cx), int(s.cy))
			if got := nearestColour(px.R, px.G, px.B); got != s.color {
				t.Fatalf("image %d: pixel at the centre of the %s is %v (%s)", i, s.fullName(), px, got)
			}
			kinds[s.fullName()] = true
		}
		caps := shapeCaptions(shapes, img.Bounds().Dx(), img.Bounds().Dy())
		for _, s := range shapes {
			mentioned := false
			for _, c := range caps {
				mentioned = mentioned || strings.Contains(c, s.name())
			}
			if !mentioned {
				t.Fatalf("image %d: no caption mentions the %s: %q", i, s.name(), caps)
			}
		}
		for _, c := range caps {
			for _, r := range []string{"to the left of", "to the right of", "above", "below"} {
				if strings.Contains(c, r) {
					relations[r] = true
				}
			}
		}
	}
	if len(kinds) != 3*5*2 {
		t.Errorf("saw %d of the 30 shape/colour/size combinations", len(kinds))
	}
	if len(relations) != 4 {
		t.Errorf("saw relations %v, want all four", relations)
	}
}

func TestRelationAndPosition(t *testing.T) {
	a := shape{cx: 10, cy: 50}
	cases := []struct {
		b    shape
		want string
	}{
		{shape{cx: 90, cy: 60}, "to the left of"},
		{shape{cx: -50, cy: 40}, "to the right of"},
		{shape{cx: 15, cy: 100}, "above"},
		{shape{cx: 5, cy: 0}, "below"},
	}
	for _, c := range cases {
		if got := relation(a, c.b); got != c.want {
			t.Errorf("relation(a at 10,50; b at %v,%v) = %q, want %q", c.b.cx, c.b.cy, got, c.want)
		}
	}
	if got := position(shape{cx: 5, cy: 5}, 90, 90); got != "at the top left" {
		t.Errorf("position = %q", got)
	}
	if got := position(shape{cx: 45, cy: 45}, 90, 90); got != "in the center" {
		t.Errorf("position = %q", got)
	}
	if got := position(shape{cx: 89, cy: 45}, 90, 90); got != "on the right" {
		t.Errorf("position = %q", got)
	}
}

func TestEnsureShapesCachesInUserCache(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir, err := EnsureShapes(20, 9)
	if err != nil {
		t.Fatal(err)
	}
	stamp, _ := os.Stat(filepath.Join(dir, flickr8kTokenFile))
	again, err := EnsureShapes(20, 9)
	if err != nil || again != dir {
		t.Fatalf("second call: %s, %v", again, err)
	}
	stamp2, _ := os.Stat(filepath.Join(dir, flickr8kTokenFile))
	if !stamp.ModTime().Equal(stamp2.ModTime()) {
		t.Fatal("cached set was regenerated")
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), "*.tmp-*"))
	if len(leftovers) != 0 {
		t.Fatalf("temporary folders left: %v", leftovers)
	}
}

// A generated set says what it is: Load names it shapes, and shapes.json records its options.
func TestGeneratedShapesAreNamedShapes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	opts := ShapesOptions{N: 12, Seed: 3, MinSize: 48, MaxSize: 64}
	if err := GenerateShapes(dir, opts); err != nil {
		t.Fatal(err)
	}
	ds, err := Load(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ds.Name, "shapes (synthetic") {
		t.Errorf("name %q", ds.Name)
	}
	raw, err := os.ReadFile(filepath.Join(dir, ShapesInfoFile))
	if err != nil {
		t.Fatal(err)
	}
	var info shapesInfo
	if err := json.Unmarshal(raw, &info); err != nil || info.Options != opts {
		t.Errorf("%s: %s (%v)", ShapesInfoFile, raw, err)
	}
}
