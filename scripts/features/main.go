// Command features writes the encoder grid of images to a safetensors file (tensor "features",
// [N, H', W', C] channels-last; image names in the metadata) — for inspection, for checking
// against torchvision, and as the cache that training reuses:
//
//	go run ./scripts/features -weights W -out OUT.safetensors [-encoder resnet50] [-image-size 224] IMAGE...
//	go run ./scripts/features -weights W -out OUT.safetensors -data DIR -split train
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/datasets"
)

func main() {
	weights := flag.String("weights", "", "encoder weights: a .safetensors file with torchvision key names, or hf:OWNER/REPO[@REV] (default for resnet50: hf:timm/resnet50.a1_in1k)")
	out := flag.String("out", "", "output .safetensors file")
	encoder := flag.String("encoder", "resnet50", "encoder: resnet18, resnet34, resnet50, resnet101, resnet152")
	imageSize := flag.Int("image-size", 224, "side S of the square input images (images already S×S are not resampled)")
	grid := flag.Int("grid", 0, "average-pool the grid to G×G (0: keep S/32)")
	data := flag.String("data", "", "instead of IMAGE arguments: every image of a dataset split (a folder, .json, or shapes)")
	split := flag.String("split", "train", "split of -data")
	batch := flag.Int("batch", 8, "images per encoder call")
	backendName := flag.String("backend", "", "go (default), xla:cuda, … (default $GOMLX_BACKEND or go)")
	allowMissing := flag.Bool("allow-missing", false, "with -data: drop images missing on disk")
	flag.Parse()
	if *out == "" || (*data == "") == (flag.NArg() == 0) {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/features -weights W -out OUT.safetensors [-encoder resnet50] [-image-size 224] (IMAGE... | -data DIR -split SPLIT)")
		os.Exit(2)
	}
	if err := run(*weights, *out, *encoder, *imageSize, *grid, *data, *split, *batch, *backendName, *allowMissing, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "features:", err)
		os.Exit(1)
	}
}

func run(weights, out, encoder string, imageSize, grid int, data, split string, batch int, backendName string, allowMissing bool, images []string) error {
	if data != "" {
		s, err := datasets.ParseSplit(split)
		if err != nil {
			return err
		}
		path, err := datasets.ResolveData(data)
		if err != nil {
			return err
		}
		ds, err := datasets.Load(path, datasets.LoadOptions{AllowMissing: allowMissing})
		if err != nil {
			return err
		}
		for _, e := range ds.Split(s) {
			images = append(images, e.Image)
		}
	}
	backend, desc, err := captioner.NewBackend(backendName)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "backend:", desc)
	cfg := captioner.DefaultConfig(encoder)
	if weights != "" {
		cfg.Weights = weights
	}
	cfg.ImageSize, cfg.GridSize = imageSize, grid
	m, err := captioner.NewEncoderModel(backend, cfg)
	if err != nil {
		return err
	}
	if err := m.LoadEncoderWeights(); err != nil {
		return err
	}
	f, err := m.ExtractFeatures(images, batch, os.Stderr)
	if err != nil {
		return err
	}
	if err := f.Save(out); err != nil {
		return err
	}
	fmt.Printf("wrote %s: features %v for %d images\n", out, f.Dims, len(images))
	return nil
}
