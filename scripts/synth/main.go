// Command synth writes the synthetic "shapes" captioning set in the Flickr8k layout:
//
//	go run ./scripts/synth -out DIR [-n 3000] [-seed 1]
//	go run ./scripts/synth -add-objects DIR
//
// The set's objects go to DIR/shapes_objects.json (datasets.ShapesObjectsFile), the ground
// truth of the object accuracy that scripts/evaluate and training's final test report;
// -add-objects writes that file for a set generated before it existed.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/attncap/attncap/datasets"
)

func main() {
	out := flag.String("out", "", "output folder (must be empty or absent)")
	n := flag.Int("n", datasets.DefaultShapesImages, "number of images (80% train, 10% val, 10% test)")
	seed := flag.Uint64("seed", 1, "random seed: the same seed and -n give the same files")
	minSize := flag.Int("min-size", 96, "smallest image side in pixels")
	maxSize := flag.Int("max-size", 160, "largest image side in pixels")
	addObjects := flag.String("add-objects", "", "instead: write "+datasets.ShapesObjectsFile+" for the set already generated in this folder")
	flag.Parse()
	if (*out == "") == (*addObjects == "") || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/synth -out DIR [-n N] [-seed S]\n   or: go run ./scripts/synth -add-objects DIR")
		os.Exit(2)
	}
	if *addObjects != "" {
		if err := datasets.WriteShapesObjects(*addObjects); err != nil {
			fmt.Fprintln(os.Stderr, "synth:", err)
			os.Exit(1)
		}
		fmt.Println("wrote", filepath.Join(*addObjects, datasets.ShapesObjectsFile))
		return
	}
	opts := datasets.ShapesOptions{N: *n, Seed: *seed, MinSize: *minSize, MaxSize: *maxSize}
	if err := datasets.GenerateShapes(*out, opts); err != nil {
		fmt.Fprintln(os.Stderr, "synth:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %d images with 5 captions each to %s\n", *n, *out)
}
