package decode

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attncap/attncap/captioner/internal/testmodel"
	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/datasets/text"
)

// An evaluation of a generated set gets object accuracy from the ground truth beside it; a
// dataset without one gets none, and a broken one is an error naming the file.
func TestSplitEvaluationObjectAccuracy(t *testing.T) {
	data := testmodel.SmallShapes(t, 40) // test split: the last 4 images
	ds, err := datasets.Load(data, datasets.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	evFor := func(ref int) *SplitEvaluation {
		ev := &SplitEvaluation{}
		for _, e := range ds.Split(datasets.Test) {
			ev.Images = append(ev.Images, e.Image)
			ev.Captions = append(ev.Captions, Caption{Words: text.Tokenize(e.Captions[ref])})
		}
		return ev
	}
	// The first reference names every object in full: all right.
	s, judged, err := evFor(0).ObjectAccuracy(data)
	if err != nil || s == nil || s.Images != 4 || s.Correct != 4 || len(judged) != 4 || s.File != filepath.Join(data, datasets.ShapesObjectsFile) {
		t.Fatalf("first references: %+v, %v", s, err)
	}
	// The generic reference is right exactly on the images with fewer than three objects.
	s, judged, err = evFor(4).ObjectAccuracy(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range judged {
		if j.Correct != (j.Objects < 3) {
			t.Errorf("%s (%d objects) %q: correct %v", j.Image, j.Objects, j.Caption, j.Correct)
		}
	}
	for _, n := range s.ByCount {
		if want := n.Images * map[bool]int{true: 1}[n.Objects < 3]; n.Correct != want {
			t.Errorf("%+v: want %d correct", n, want)
		}
	}

	truth := filepath.Join(data, datasets.ShapesObjectsFile)
	if err := os.WriteFile(truth, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := evFor(0).ObjectAccuracy(data); err == nil || !strings.Contains(err.Error(), truth) {
		t.Errorf("malformed ground truth: %v", err)
	}
	// A generated set without the file (made before it existed) gets it.
	os.Remove(truth)
	if s, _, err := evFor(0).ObjectAccuracy(data); err != nil || s == nil || s.Correct != 4 {
		t.Errorf("ground truth recomputed: %+v %v", s, err)
	}
	// Any other dataset has none: no scores, no error.
	os.Remove(truth)
	os.Remove(filepath.Join(data, datasets.ShapesInfoFile))
	if s, judged, err := evFor(0).ObjectAccuracy(data); s != nil || judged != nil || err != nil {
		t.Errorf("no ground truth: %+v %v %v", s, judged, err)
	}
}
