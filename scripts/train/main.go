// Command train trains a Show, Attend and Tell captioner and evaluates it on the test split:
//
//	go run ./scripts/train -data shapes                     # built-in synthetic set, tiny encoder
//	go run ./scripts/train -data DIR -encoder resnet50 -out runs/flickr8k
//	go run ./scripts/train -out runs/flickr8k -resume       # continue an interrupted run
//
// Ctrl-C saves the run (RUN/last, RUN/state.json); -resume continues it exactly.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"

	"github.com/attncap/attncap/captioner"
)

func main() {
	data := flag.String("data", "shapes", "dataset: Flickr8k-layout folder, Kaggle folder, Karpathy/COCO .json, or shapes (built-in synthetic set)")
	images := flag.String("images", "", "image folder, for a Karpathy or COCO .json")
	allowMissing := flag.Bool("allow-missing", false, "drop images that are listed but missing on disk")
	encoder := flag.String("encoder", "", "tiny (from scratch; default for -data shapes), resnet18, resnet34, resnet50 (default otherwise), resnet101, resnet152")
	weights := flag.String("weights", "", "encoder weights: .safetensors file or hf:OWNER/REPO[@REV] (resnet50 default: hf:timm/resnet50.a1_in1k)")
	imageSize := flag.Int("image-size", 0, "input image side (default: 224 for ResNets, 64 for tiny)")
	grid := flag.Int("grid", 0, "average-pool the encoder grid to G×G regions (0: keep it)")
	embed := flag.Int("embed", 0, "word embedding size (default 512; 128 for tiny)")
	hidden := flag.Int("hidden", 0, "LSTM hidden size (default 512; 256 for tiny)")
	attention := flag.Int("attention", 0, "attention size (default 512; 128 for tiny)")
	dropout := flag.Float64("dropout", -1, "dropout before the output layer (default 0.5; 0.2 for tiny)")
	minCount := flag.Int("min-count", 0, "words seen fewer times in train captions map to <unk> (default 5)")
	batch := flag.Int("batch", 0, "captions per training step (default 64)")
	epochs := flag.Int("epochs", 0, "maximum epochs (default 30; 8 for tiny)")
	lr := flag.Float64("lr", 0, "Adam learning rate (default 1e-3; 2e-3 for tiny)")
	encoderLR := flag.Float64("encoder-lr", 0, "learning rate of fine-tuned encoder stages (default: -lr)")
	finetune := flag.Int("finetune", 0, "first ResNet stage (1-4) to fine-tune; 0 keeps the encoder frozen")
	patience := flag.Int("patience", 0, "stop after this many epochs without a better val BLEU-4 (default 4)")
	beam := flag.Int("beam", 0, "beam width for validation decoding (default 1: greedy)")
	testBeam := flag.Int("test-beam", 0, "beam width for the final test evaluation (default 3)")
	flip := flag.Bool("flip", false, "random horizontal flips when the encoder is trained (wrong for captions that say left/right)")
	out := flag.String("out", "", "run folder (default runs/<dataset>-<encoder>)")
	resume := flag.Bool("resume", false, "continue the run in -out exactly where it stopped")
	seed := flag.Uint64("seed", 1, "random seed (initialisation, data order, dropout, augmentation)")
	backendName := flag.String("backend", "", "go (default), xla:cuda, xla:cpu, … (default: $GOMLX_BACKEND or go)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile (pprof) of the run to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err)
		}
		defer pprof.StopCPUProfile()
	}
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "train: unexpected arguments %q (flags go before them; see -help)\n", flag.Args())
		os.Exit(2)
	}
	enc := *encoder
	if enc == "" {
		enc = "resnet50"
		if *data == "shapes" {
			enc = "tiny"
		}
	}
	opts := captioner.DefaultTrainOptions(enc)
	opts.Data, opts.Images, opts.AllowMissing, opts.Resume, opts.Seed = *data, *images, *allowMissing, *resume, *seed
	opts.Model.Encoder, opts.Model.FineTuneFrom, opts.Model.GridSize = enc, *finetune, *grid
	setIf(&opts.Model.Weights, *weights, *weights != "")
	setIf(&opts.Model.ImageSize, *imageSize, *imageSize > 0)
	setIf(&opts.Model.EmbedDim, *embed, *embed > 0)
	setIf(&opts.Model.HiddenDim, *hidden, *hidden > 0)
	setIf(&opts.Model.AttentionDim, *attention, *attention > 0)
	setIf(&opts.Model.Dropout, *dropout, *dropout >= 0)
	setIf(&opts.MinCount, *minCount, *minCount > 0)
	setIf(&opts.Batch, *batch, *batch > 0)
	setIf(&opts.Epochs, *epochs, *epochs > 0)
	setIf(&opts.LR, *lr, *lr > 0)
	setIf(&opts.EncoderLR, *encoderLR, *encoderLR > 0)
	setIf(&opts.Patience, *patience, *patience > 0)
	setIf(&opts.Beam, *beam, *beam > 0)
	setIf(&opts.TestBeam, *testBeam, *testBeam > 0)
	opts.Flip = *flip
	opts.Out = *out
	if opts.Out == "" {
		opts.Out = "runs/" + strings.TrimSuffix(baseName(*data), ".json") + "-" + enc
	}
	opts.Progress = os.Stderr
	opts.Logf = func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }

	backend, desc, err := captioner.NewBackend(*backendName)
	if err != nil {
		fail(err)
	}
	fmt.Fprintf(os.Stderr, "backend: %s\nrun folder: %s\n", desc, opts.Out)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := captioner.Train(ctx, backend, opts)
	if errors.Is(err, captioner.ErrInterrupted) {
		fmt.Fprintln(os.Stderr, "\n"+err.Error())
		os.Exit(130)
	}
	if err != nil {
		fail(err)
	}
	fmt.Printf("\ntrained %d epochs in %s; best val BLEU-4 %.4f at epoch %d (model in %s/best)\n",
		res.Epochs, res.Elapsed.Round(1e9), res.BestValBLEU, res.BestEpoch, opts.Out)
	if len(res.Samples) > 0 {
		fmt.Println("\nsample test captions:")
		for _, s := range res.Samples {
			fmt.Printf("  %s\n    generated: %s\n    reference: %s\n", baseName(s.Image), s.Caption, s.References[0])
		}
		t := res.Test
		fmt.Printf("\ntest (beam %d): BLEU-1 %.4f  BLEU-2 %.4f  BLEU-3 %.4f  BLEU-4 %.4f  ROUGE-L %.4f  CIDEr %.4f\n",
			opts.TestBeam, t.Bleu1, t.Bleu2, t.Bleu3, t.Bleu4, t.RougeL, t.CIDEr)
	}
}

func setIf[T any](dst *T, v T, ok bool) {
	if ok {
		*dst = v
	}
}

func baseName(p string) string {
	p = strings.TrimRight(p, "/")
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}

// fail prints the error (dataset errors already say how to get the data or run offline).
func fail(err error) {
	fmt.Fprintln(os.Stderr, "train:", err)
	os.Exit(1)
}
