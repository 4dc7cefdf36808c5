package datasets

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The generator's images and captions are those of the version before ShapesObjectsFile
// existed (hashes taken from that code): cached sets stay valid, and their ground truth can be
// recomputed from their options.
func TestShapesGeneratorOutputIsUnchanged(t *testing.T) {
	h := sha256.New()
	for i := 0; i < 20; i++ {
		img, _ := drawShapesImage(rand.New(rand.NewPCG(1, uint64(i))), 96, 160)
		h.Write(img.Pix)
	}
	if got := fmt.Sprintf("%x", h.Sum(nil)); got != "fd5dffc9ec97ab9277b2e81787b7b346747e1b50feaa6abde7d27d399b68a5ad" {
		t.Errorf("pixels of the first 20 images (seed 1) changed: sha256 %s", got)
	}
	dir := filepath.Join(t.TempDir(), "s")
	if err := GenerateShapes(dir, ShapesOptions{N: 20, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	tokens, _ := os.ReadFile(filepath.Join(dir, flickr8kTokenFile))
	if got := fmt.Sprintf("%x", sha256.Sum256(tokens)); got != "b6e5f4b41d6d4143afd28445b41dc8876e5c795b0970f50b387a36f8b50618c5" {
		t.Errorf("captions of 20 images (seed 1) changed: sha256 %s", got)
	}
}

// The ground truth round-trips: what GenerateShapes writes, LoadShapesObjects reads back as
// the objects drawn, and the captions name them.
func TestShapesObjectsRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	opts := ShapesOptions{N: 30, Seed: 5}
	if err := GenerateShapes(dir, opts); err != nil {
		t.Fatal(err)
	}
	if got := FindShapesObjects(dir); got != filepath.Join(dir, ShapesObjectsFile) {
		t.Fatalf("FindShapesObjects(dir) = %q", got)
	}
	if got := FindShapesObjects(filepath.Join(dir, flickr8kTokenFile)); got != filepath.Join(dir, ShapesObjectsFile) {
		t.Fatalf("FindShapesObjects(token file) = %q", got)
	}
	truth, err := LoadShapesObjects(dir)
	if err != nil {
		t.Fatal(err)
	}
	if truth.Path() != filepath.Join(dir, ShapesObjectsFile) || len(truth.Images) != 30 {
		t.Fatalf("path %q, %d images", truth.Path(), len(truth.Images))
	}
	if strings.Join(truth.Colors, " ") != "red green blue yellow purple" || strings.Join(truth.Shapes, " ") != "circle square triangle" ||
		strings.Join(truth.Sizes, " ") != "small large" {
		t.Errorf("words: %v %v %v", truth.Colors, truth.Shapes, truth.Sizes)
	}
	ds, err := Load(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < opts.N; i++ {
		rng := rand.New(rand.NewPCG(opts.Seed, uint64(i)))
		img, shapes := drawShapesImage(rng, 96, 160)
		got, ok := truth.Image(shapesImageName(i))
		if !ok {
			t.Fatalf("no entry for %s", shapesImageName(i))
		}
		if got.Width != img.Bounds().Dx() || got.Height != img.Bounds().Dy() || len(got.Objects) != len(shapes) {
			t.Fatalf("%s: %+v, drawn %dx%d with %d shapes", got.FileName, got, img.Bounds().Dx(), img.Bounds().Dy(), len(shapes))
		}
		for j, s := range shapes {
			if got.Objects[j] != s.object() { // floats round-trip exactly through JSON
				t.Fatalf("%s object %d: %+v, drawn %+v", got.FileName, j, got.Objects[j], s)
			}
			if j > 0 && ShapeRelation(got.Objects[j], got.Objects[0]) != relation(s, shapes[0]) {
				t.Fatalf("%s: relation differs", got.FileName)
			}
		}
	}
	// The first caption names every object in full, in the order drawn.
	for _, e := range ds.Examples {
		im, _ := truth.Image(filepath.Base(e.Image))
		for _, o := range im.Objects {
			if !strings.Contains(e.Captions[0], o.Name()) {
				t.Errorf("%s: %q does not name the %s", im.FileName, e.Captions[0], o.Name())
			}
		}
	}
	if _, ok := truth.Image("nope.jpg"); ok {
		t.Error("an unknown image was found")
	}
}

// A set generated before the file existed gets it from its options, byte for byte as
// GenerateShapes writes it, without its images or captions being touched; EnsureShapes does so
// for the cached set.
func TestWriteShapesObjectsForAnOlderSet(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir, err := EnsureShapes(20, 9)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, ShapesObjectsFile)
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tokenStamp, _ := os.Stat(filepath.Join(dir, flickr8kTokenFile))
	os.Remove(path)
	if again, err := EnsureShapes(20, 9); err != nil || again != dir {
		t.Fatalf("EnsureShapes: %s, %v", again, err)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("recomputed ground truth differs (%v)", err)
	}
	if st, _ := os.Stat(filepath.Join(dir, flickr8kTokenFile)); !st.ModTime().Equal(tokenStamp.ModTime()) {
		t.Error("the token file was rewritten")
	}

	// EnsureShapesObjects does the same for any generated set, and nothing for other folders.
	os.Remove(path)
	if got, err := EnsureShapesObjects(dir); err != nil || got != path {
		t.Fatalf("EnsureShapesObjects: %q, %v", got, err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
		t.Fatal("EnsureShapesObjects wrote another ground truth")
	}
	if got, err := EnsureShapesObjects(t.TempDir()); got != "" || err != nil {
		t.Fatalf("EnsureShapesObjects(empty folder): %q, %v", got, err)
	}

	// Captions that the options do not produce: refused, nothing written.
	os.Remove(path)
	tokens := filepath.Join(dir, flickr8kTokenFile)
	data, _ := os.ReadFile(tokens)
	os.WriteFile(tokens, bytes.Replace(data, []byte("a "), []byte("an "), 1), 0o644)
	err = WriteShapesObjects(dir)
	if err == nil || !strings.Contains(err.Error(), tokens) || !strings.Contains(err.Error(), "not written by this generator") {
		t.Fatalf("err = %v", err)
	}
	if _, err2 := EnsureShapesObjects(dir); err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("EnsureShapesObjects: %v", err2)
	}
	if fileExists(path) {
		t.Error("ground truth written for a set it does not describe")
	}
	if err := WriteShapesObjects(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a generated shapes set") {
		t.Fatalf("folder without shapes.json: %v", err)
	}
}

func TestLoadShapesObjectsNamesTheFileInErrors(t *testing.T) {
	dir := t.TempDir()
	if FindShapesObjects(dir) != "" || FindShapesObjects("") != "" {
		t.Error("found a ground truth in an empty folder")
	}
	missing := filepath.Join(dir, ShapesObjectsFile)
	if _, err := LoadShapesObjects(dir); err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing: %v", err)
	}
	for _, c := range []struct{ content, want string }{
		{`[1, 2]`, "not a shapes ground-truth file"},
		{`{"images": [{"file_name": "a.jpg", "width": 10, "height": 10, "objects": []}], "colours": []}`, `unknown field "colours"`},
		{`{"generator": "x"}`, `no "images" list`},
		{`{"images": [{"width": 10, "height": 10}]}`, "images[0] has no file_name"},
		{`{"images": [{"file_name": "d/a.jpg", "width": 10, "height": 10}]}`, "is a path"},
		{`{"images": [{"file_name": "a.jpg", "width": 10, "height": 10}, {"file_name": "a.jpg", "width": 10, "height": 10}]}`, "a.jpg is listed twice"},
		{`{"images": [{"file_name": "a.jpg", "width": 0, "height": 10}]}`, "size 0×10"},
		{`{"images": [{"file_name": "a.jpg", "width": 10, "height": 10, "objects": [{"shape": "circle"}]}]}`, "objects[0] has no shape or no color"},
	} {
		path := filepath.Join(dir, "bad.json")
		os.WriteFile(path, []byte(c.content), 0o644)
		_, err := LoadShapesObjects(path)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one naming the file and saying %q", c.content, err, c.want)
		}
	}
	// Without the word lists, the words of the objects.
	s, err := ParseShapesObjects([]byte(`{"images": [{"file_name": "a.jpg", "width": 10, "height": 10, "objects": [
		{"shape": "star", "color": "orange", "size": "tiny", "x": 1, "y": 2, "radius": 1}, {"shape": "circle", "color": "orange"}]}]}`))
	if err != nil || strings.Join(s.Shapes, ",") != "circle,star" || strings.Join(s.Colors, ",") != "orange" || strings.Join(s.Sizes, ",") != "tiny" {
		t.Errorf("%+v, %v", s, err)
	}
}

func TestShapePositionAndRelationOfObjects(t *testing.T) {
	a := ShapeObject{X: 10, Y: 50}
	for _, c := range []struct {
		b    ShapeObject
		want string
	}{{ShapeObject{X: 90, Y: 60}, "to the left of"}, {ShapeObject{X: 40, Y: 20}, "to the left of"}, // |dx| = |dy|: horizontal
		{ShapeObject{X: -50, Y: 40}, "to the right of"}, {ShapeObject{X: 15, Y: 100}, "above"}, {ShapeObject{X: 5, Y: 0}, "below"}} {
		if got := ShapeRelation(a, c.b); got != c.want {
			t.Errorf("ShapeRelation(%v, %v) = %q, want %q", a, c.b, got, c.want)
		}
	}
	for _, c := range []struct {
		x, y float64
		want string
	}{{5, 5, "at the top left"}, {45, 5, "at the top"}, {89, 89, "at the bottom right"}, {45, 45, "in the center"}, {5, 45, "on the left"}, {90, 45, "on the right"}} {
		if got := ShapePosition(ShapeObject{X: c.x, Y: c.y}, 90, 90); got != c.want {
			t.Errorf("ShapePosition(%v, %v in 90×90) = %q, want %q", c.x, c.y, got, c.want)
		}
	}
}
