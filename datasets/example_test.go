package datasets_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/attncap/attncap/datasets"
	"github.com/janpfeifer/must"
)

// Generate a small synthetic set, load it like any Flickr8k folder, and build the vocabulary
// from its train split — the first cells of notebooks/01-data.ipynb.
func ExampleLoad() {
	dir := filepath.Join(must.M1(os.MkdirTemp("", "shapes-example")), "shapes")
	defer os.RemoveAll(filepath.Dir(dir))
	must.M(datasets.GenerateShapes(dir, datasets.ShapesOptions{N: 50, Seed: 1}))

	ds := must.M1(datasets.Load(dir, datasets.LoadOptions{}))
	for _, split := range datasets.Splits {
		images, captions := ds.CountSplit(split)
		fmt.Printf("%s: %d images, %d captions\n", split, images, captions)
	}
	vocab := must.M1(ds.BuildVocab(5))
	fmt.Println("vocabulary has <pad> at id", vocab.ID("<pad>"), "and knows 'circle':", vocab.ID("circle") > 3)
	// Output:
	// train: 40 images, 200 captions
	// val: 5 images, 25 captions
	// test: 5 images, 25 captions
	// vocabulary has <pad> at id 0 and knows 'circle': true
}
