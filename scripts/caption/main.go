// Command caption writes a caption for each image with a trained model:
//
//	go run ./scripts/caption -checkpoint RUN_DIR [-beam 3] [-json] [-attention OUT_DIR] IMAGE_OR_DIR...
//
// With -attention it also writes, per image, OUT_DIR/NAME.attention.png: the image once per
// generated word with that word's attention map over it.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decode"
	"github.com/attncap/attncap/captioner/viz"
	"github.com/attncap/attncap/datasets"
)

func main() {
	checkpoint := flag.String("checkpoint", "", "run folder (its best model) or model folder")
	beam := flag.Int("beam", 3, "beam width (1: greedy)")
	asJSON := flag.Bool("json", false, "print one JSON object per image (caption, tokens, log-probability)")
	attention := flag.String("attention", "", "write attention pictures (PNG) into this folder")
	lengthNorm := flag.Bool("length-norm", false, "rank beams by log-probability per word")
	backendName := flag.String("backend", "", "go (default), xla:cuda, … (default: $GOMLX_BACKEND or go)")
	loopFlag := flag.String("loop", "auto", "where decoding loops over the words: host (one step graph call per word), graph (the whole loop in one graph) or auto")
	flag.Parse()
	if *checkpoint == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/caption -checkpoint RUN_DIR [-beam 3] [-json] [-attention OUT_DIR] IMAGE_OR_DIR...")
		os.Exit(2)
	}
	loop, err := decode.ParseLoop(*loopFlag)
	check(err)
	paths, err := expand(flag.Args())
	check(err)
	backend, _, err := captioner.NewBackend(*backendName)
	check(err)
	m, err := captioner.OpenModel(backend, *checkpoint)
	check(err)
	caps, err := decode.Images(m, paths, decode.Options{Beam: *beam, LengthNorm: *lengthNorm, SkipAttention: *attention == "", Loop: loop}, 8, nil)
	check(err)
	gh, gw := m.Config.GridDims()
	for i, c := range caps {
		if *asJSON {
			out, _ := json.Marshal(map[string]any{"image": paths[i], "caption": strings.Join(c.Words, " "),
				"tokens": c.Words, "ids": c.Tokens, "log_prob": c.LogProb, "finished": c.Finished})
			fmt.Println(string(out))
		} else {
			fmt.Printf("%s: %s\n", paths[i], c.Text())
		}
		if *attention != "" {
			img, err := datasets.DecodeImage(paths[i], 0)
			check(err)
			fig := viz.AttentionFigure(img, c.Words, c.Attention, gh, gw, 160, 6)
			check(os.MkdirAll(*attention, 0o755))
			name := filepath.Join(*attention, strings.TrimSuffix(filepath.Base(paths[i]), filepath.Ext(paths[i]))+".attention.png")
			f, err := os.Create(name)
			check(err)
			check(png.Encode(f, fig))
			check(f.Close())
			if !*asJSON {
				fmt.Printf("  attention: %s\n", name)
			}
		}
	}
}

// expand replaces folders by the JPEG and PNG files in them (sorted).
func expand(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		info, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", a, err)
		}
		if !info.IsDir() {
			out = append(out, a)
			continue
		}
		entries, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		var found []string
		for _, e := range entries {
			switch strings.ToLower(filepath.Ext(e.Name())) {
			case ".jpg", ".jpeg", ".png":
				found = append(found, filepath.Join(a, e.Name()))
			}
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("folder %s has no .jpg or .png images", a)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "caption:", err)
		os.Exit(1)
	}
}
