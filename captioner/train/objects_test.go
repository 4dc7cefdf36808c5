package train

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attncap/attncap/captioner/decode"
	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/datasets/text"
)

// The final test's object accuracy: scores on a shapes set, nothing elsewhere, and a warning
// (not a failed run) when the ground truth is broken.
func TestFinalTestObjectAccuracy(t *testing.T) {
	data := smallShapes(t, 20)
	ds, err := datasets.Load(data, datasets.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var images []string
	var caps []decode.Caption
	for _, e := range ds.Split(datasets.Test) {
		images = append(images, e.Image)
		caps = append(caps, decode.Caption{Words: text.Tokenize(e.Captions[0])})
	}
	var logged []string
	r := &trainRun{opts: TrainOptions{Data: data}, logf: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }}
	if s := r.testObjectAccuracy(images, caps); s == nil || s.Images != 2 || s.Correct != 2 || len(logged) != 0 {
		t.Fatalf("%+v, logged %q", s, logged)
	}
	truth := filepath.Join(data, datasets.ShapesObjectsFile)
	os.WriteFile(truth, []byte(`{"images": []}`), 0o644)
	if s := r.testObjectAccuracy(images, caps); s != nil || len(logged) != 1 ||
		!strings.HasPrefix(logged[0], "warning: the final test goes without object accuracy: object accuracy: "+truth+" lists no image") {
		t.Fatalf("%+v, logged %q", s, logged)
	}
	r.opts.Data = t.TempDir()
	if s := r.testObjectAccuracy(images, caps); s != nil || len(logged) != 1 {
		t.Fatalf("no ground truth: %+v, logged %q", s, logged)
	}
}
