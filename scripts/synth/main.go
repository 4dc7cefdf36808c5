// Command synth writes the synthetic "shapes" captioning set in the Flickr8k layout:
//
//	go run ./scripts/synth -out DIR [-n 3000] [-seed 1]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/attncap/attncap/datasets"
)

func main() {
	out := flag.String("out", "", "output folder (must be empty or absent)")
	n := flag.Int("n", datasets.DefaultShapesImages, "number of images (80% train, 10% val, 10% test)")
	seed := flag.Uint64("seed", 1, "random seed: the same seed and -n give the same files")
	minSize := flag.Int("min-size", 96, "smallest image side in pixels")
	maxSize := flag.Int("max-size", 160, "largest image side in pixels")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/synth -out DIR [-n N] [-seed S]")
		os.Exit(2)
	}
	opts := datasets.ShapesOptions{N: *n, Seed: *seed, MinSize: *minSize, MaxSize: *maxSize}
	if err := datasets.GenerateShapes(*out, opts); err != nil {
		fmt.Fprintln(os.Stderr, "synth:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %d images with 5 captions each to %s\n", *n, *out)
}
