// Command convert imports a model trained elsewhere as an attncap model folder:
//
//	go run ./scripts/convert -from tutorial -checkpoint BEST_checkpoint_coco_5_cap_per_img_5_min_word_freq.pth.tar \
//	    -word-map WORDMAP_coco_5_cap_per_img_5_min_word_freq.json -out models/tutorial-coco
//
// -from tutorial reads the checkpoints of sgrvinod/a-PyTorch-Tutorial-to-Image-Captioning
// (captioner/convert/tutorial). The folder then works with scripts/caption, evaluate, serve,
// train -init and the notebooks.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/attncap/attncap/captioner/convert/tutorial"
)

func main() {
	from := flag.String("from", "tutorial", "the checkpoint's project: tutorial (sgrvinod/a-PyTorch-Tutorial-to-Image-Captioning)")
	var opts tutorial.Options
	flag.StringVar(&opts.Checkpoint, "checkpoint", "", "the checkpoint file (.pth.tar or .pth, either torch.save format)")
	flag.StringVar(&opts.WordMap, "word-map", "", "the WORDMAP_….json the checkpoint was trained with")
	flag.StringVar(&opts.EncoderWeights, "encoder", "", "torchvision ResNet weights (.safetensors), when the checkpoint holds the decoder alone")
	flag.IntVar(&opts.GridSize, "grid", 0, "encoder grid side after pooling (default: the checkpoint's, else 14)")
	flag.StringVar(&opts.Out, "out", "", "the model folder to write (must not exist or be empty)")
	flag.Parse()
	if *from != "tutorial" {
		fmt.Fprintf(os.Stderr, "convert: -from %q: the only source so far is tutorial\n", *from)
		os.Exit(2)
	}
	if opts.Checkpoint == "" || opts.WordMap == "" || opts.Out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/convert -from tutorial -checkpoint FILE.pth.tar -word-map WORDMAP.json -out DIR")
		os.Exit(2)
	}
	// The checkpoint's tensors are freed as the model's are made: a tighter garbage collector
	// keeps the peak near the file's size (docs/performance.md) at no measurable cost in time.
	debug.SetGCPercent(20)
	start := time.Now()
	res, err := tutorial.Convert(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "convert:", err)
		os.Exit(1)
	}
	c := res.Config
	fmt.Printf("%s: %s checkpoint (%s), %s, %d words, embedding %d, hidden %d, attention %d, grid %d×%d; wrote %s in %.1fs\n",
		opts.Checkpoint, res.Format, res.Layout, c.Encoder, res.Words, c.EmbedDim, c.HiddenDim, c.AttentionDim, c.GridSize, c.GridSize, opts.Out, time.Since(start).Seconds())
}
