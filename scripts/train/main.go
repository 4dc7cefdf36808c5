// Command train trains a Show, Attend and Tell captioner and evaluates it on the test split:
//
//	go run ./scripts/train -data shapes                     # built-in synthetic set, tiny encoder
//	go run ./scripts/train -data DIR -encoder resnet50 -out runs/flickr8k
//	go run ./scripts/train -out runs/flickr8k -resume       # continue an interrupted run
//	go run ./scripts/train -data DIR -backend xla:cuda -dtype bfloat16   # bfloat16 compute, float32 weights
//
// Ctrl-C saves the run (RUN/last, RUN/state.json); -resume continues it exactly.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/train"
)

func main() {
	data := flag.String("data", "shapes", "dataset: Flickr8k-layout folder, Kaggle folder, Karpathy/COCO .json, or shapes (built-in synthetic set)")
	images := flag.String("images", "", "image folder, when it is not where the dataset layout puts it")
	allowMissing := flag.Bool("allow-missing", false, "drop images that are listed but missing on disk")
	encoder := flag.String("encoder", "", "tiny (from scratch; default for -data shapes), resnet18, resnet34, resnet50 (default otherwise), resnet101, resnet152")
	weights := flag.String("weights", "", "encoder weights: .safetensors file or hf:OWNER/REPO[@REV] (resnet50 default: hf:timm/resnet50.a1_in1k)")
	imageSize := flag.Int("image-size", 0, "input image side (default: 224 for ResNets, 64 for tiny)")
	grid := flag.Int("grid", 0, "average-pool the encoder grid to G×G regions (0: keep it)")
	decoder := flag.String("decoder", "lstm", "lstm (Show, Attend and Tell) or transformer")
	embed := flag.Int("embed", 0, "word embedding size, the Transformer's width (default 512; 128 for tiny)")
	hidden := flag.Int("hidden", 0, "LSTM hidden size (default 512; 256 for tiny)")
	attention := flag.Int("attention", 0, "LSTM attention size (default 512; 128 for tiny)")
	layers := flag.Int("layers", 0, "Transformer layers (default 3; 2 for tiny)")
	heads := flag.Int("heads", 0, "Transformer attention heads (default 8; 4 for tiny)")
	ff := flag.Int("ff", 0, "Transformer feed-forward width (default 2048; 512 for tiny)")
	positions := flag.String("positions", "", "Transformer word positions: learned (default) or sinusoidal")
	tie := flag.Bool("tie-embeddings", false, "Transformer: share the word embedding with the output layer")
	regionCoords := flag.Bool("region-coords", false, "LSTM: append each region's grid position (x, y) to its features, so attention and the context know where an object is (default: on for the tiny encoder with -scst)")
	attentionReg := flag.Float64("attention-reg", -1, "LSTM: λ of the doubly-stochastic attention regulariser, λ·mean over regions of (1 − Σ_t α)² added to the loss (default 1, as Show, Attend and Tell; 0 turns it off)")
	dtype := flag.String("dtype", captioner.DTypeFloat32, "compute precision: float32, or bfloat16 (matrix products and activations in bfloat16 with float32 variables, Adam moments, softmaxes, layer norms and loss: for GPUs with bfloat16 tensor cores; see docs/performance.md)")
	dropout := flag.Float64("dropout", -1, "dropout (LSTM: before the output layer, default 0.5, 0.2 for tiny; Transformer: 0.1)")
	minCount := flag.Int("min-count", 5, "words seen fewer times in train captions map to <unk>")
	batch := flag.Int("batch", 0, "captions per training step (default 64)")
	epochs := flag.Int("epochs", 0, fmt.Sprintf("maximum epochs of cross-entropy training (default 30; 8 for tiny, %d for tiny with -scst)", train.SCSTTinyCrossEntropyEpochs))
	lr := flag.Float64("lr", 0, "Adam learning rate (default 1e-3; 2e-3 for tiny)")
	lrSchedule := flag.String("lr-schedule", "", "cross-entropy learning-rate schedule: plateau (×0.5 after 2 epochs without a better val BLEU-4; the default) or cosine (annealed over -epochs)")
	encoderLR := flag.Float64("encoder-lr", 0, "learning rate of fine-tuned encoder stages (default: -lr)")
	finetune := flag.Int("finetune", 0, "first ResNet stage (1-4) to fine-tune; 0 keeps the encoder frozen")
	patience := flag.Int("patience", 0, "stop after this many epochs without a better val BLEU-4 (default 4)")
	beam := flag.Int("beam", 0, "beam width for validation decoding (default 1: greedy)")
	testBeam := flag.Int("test-beam", 0, "beam width for the final test evaluation (default 3)")
	flip := flag.Bool("flip", false, "random horizontal flips when the encoder is trained (wrong for captions that say left/right)")
	out := flag.String("out", "", "run folder (default runs/<dataset>-<encoder>)")
	resume := flag.Bool("resume", false, "continue the run in -out exactly where it stopped, with its own options (only -epochs, -patience, -test-beam, -no-test and the -scst flags may change)")
	noVal := flag.Bool("no-val", false, "train without validation (for a dataset without a val split): constant learning rate, no early stop, the last epoch's model is kept")
	noTest := flag.Bool("no-test", false, "skip the final test (for a dataset without a test split)")
	rebuild := flag.Bool("rebuild-features", false, "recompute the cached encoder features instead of reusing them")
	meteor := flag.Bool("meteor", true, "METEOR 1.5 in the final test (its data: -meteor-data, $ATTNCAP_METEOR_DATA, or downloaded into the cache)")
	meteorData := flag.String("meteor-data", "", "folder with METEOR's data files")
	meteorParaphrase := flag.String("meteor-paraphrase", "", "METEOR paraphrase table (paraphrase-en.gz); without one the score is METEOR_noparaphrase")
	seed := flag.Uint64("seed", 1, "random seed (initialisation, data order, dropout, augmentation)")
	scst := flag.Bool("scst", false, "after cross-entropy, self-critical training (SCST) on the CIDEr-D of sampled captions; best/ becomes the best model by val CIDEr-D, xe-best/ keeps the cross-entropy one")
	scstFrom := flag.String("scst-from", "", "start -out as a copy of the finished cross-entropy run RUN and add the self-critical stage to it (RUN is not changed; implies -scst)")
	scstSamples := flag.Int("scst-samples", 0, "SCST: captions sampled per image (default 5)")
	scstBaseline := flag.String("scst-baseline", "", "SCST baseline: mean (of the image's other samples, default) or greedy (the greedy caption's reward)")
	scstLR := flag.Float64("scst-lr", 0, "SCST Adam learning rate (default 5e-5; 2e-4 for tiny)")
	scstEpochs := flag.Int("scst-epochs", 0, "SCST epochs at most (default 30; 4 for tiny)")
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
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	enc := *encoder
	if enc == "" {
		enc = "resnet50"
		if *data == "shapes" {
			enc = "tiny"
		}
	}
	runDir := *out
	if runDir == "" {
		runDir = "runs/" + strings.TrimSuffix(baseName(*data), ".json") + "-" + enc
		if *decoder != captioner.DecoderLSTM {
			runDir += "-" + *decoder
		}
	}
	if *scstFrom != "" {
		if *out == "" || *resume {
			fmt.Fprintln(os.Stderr, "train: -scst-from RUN needs a new -out folder (e.g. -out runs/shapes-tiny-scst) and no -resume")
			os.Exit(2)
		}
		*scst, set["scst"] = true, true
	}
	// A fresh run starts from the encoder's defaults; a resumed one from the options it was
	// started with, so that only the flags given now can differ (and Train refuses those that
	// would change the run).
	opts, fromRun := train.DefaultTrainOptionsFor(enc, *decoder), false
	if *resume || *scstFrom != "" {
		src := runDir
		if *scstFrom != "" {
			src = *scstFrom // the copy resumes with the source run's options
		}
		saved, err := train.LoadRunOptions(src)
		switch {
		case err == nil:
			opts, fromRun = saved, true
		case !errors.Is(err, fs.ErrNotExist): // a run from before options.json: defaults, as it was started
			fail(err)
		}
	}
	setIf(&opts.Data, *data, set["data"] || !fromRun)
	setIf(&opts.Images, *images, set["images"])
	setIf(&opts.AllowMissing, *allowMissing, set["allow-missing"])
	setIf(&opts.Model.Encoder, enc, set["encoder"] || !fromRun)
	setIf(&opts.Model.Weights, *weights, set["weights"])
	setIf(&opts.Model.FineTuneFrom, *finetune, set["finetune"])
	setIf(&opts.Model.ImageSize, *imageSize, set["image-size"])
	setIf(&opts.Model.GridSize, *grid, set["grid"])
	setIf(&opts.Model.Decoder, decoderField(*decoder), set["decoder"])
	setIf(&opts.Model.EmbedDim, *embed, set["embed"])
	setIf(&opts.Model.Layers, *layers, set["layers"])
	setIf(&opts.Model.Heads, *heads, set["heads"])
	setIf(&opts.Model.FFDim, *ff, set["ff"])
	setIf(&opts.Model.Positions, *positions, set["positions"])
	setIf(&opts.Model.TieEmbeddings, *tie, set["tie-embeddings"])
	setIf(&opts.Model.HiddenDim, *hidden, set["hidden"])
	setIf(&opts.Model.AttentionDim, *attention, set["attention"])
	setIf(&opts.Model.AttentionReg, *attentionReg, set["attention-reg"])
	setIf(&opts.Model.RegionCoords, *regionCoords, set["region-coords"])
	setIf(&opts.Model.Dropout, *dropout, set["dropout"])
	setIf(&opts.Model.DType, dtypeField(*dtype), set["dtype"])
	setIf(&opts.MinCount, *minCount, set["min-count"])
	setIf(&opts.Batch, *batch, set["batch"])
	setIf(&opts.Epochs, *epochs, set["epochs"])
	setIf(&opts.LR, *lr, set["lr"])
	setIf(&opts.LRSchedule, *lrSchedule, set["lr-schedule"])
	setIf(&opts.EncoderLR, *encoderLR, set["encoder-lr"])
	setIf(&opts.Patience, *patience, set["patience"])
	setIf(&opts.Beam, *beam, set["beam"])
	setIf(&opts.TestBeam, *testBeam, set["test-beam"])
	setIf(&opts.Flip, *flip, set["flip"])
	setIf(&opts.Seed, *seed, set["seed"])
	setIf(&opts.NoValidation, *noVal, set["no-val"])
	setIf(&opts.NoTest, *noTest, set["no-test"])
	setIf(&opts.SCST.Enabled, *scst, set["scst"])
	setIf(&opts.SCST.Samples, *scstSamples, set["scst-samples"])
	setIf(&opts.SCST.Baseline, *scstBaseline, set["scst-baseline"])
	setIf(&opts.SCST.LR, *scstLR, set["scst-lr"])
	setIf(&opts.SCST.Epochs, *scstEpochs, set["scst-epochs"])
	if !fromRun { // a longer first stage before SCST, and region coordinates (docs/scst.md)
		opts = train.WithSCSTDefaults(opts, func(name string) bool { return set[name] })
	}
	opts.Out, opts.Resume, opts.RebuildFeatures = runDir, *resume, *rebuild
	if *scstFrom != "" {
		// Check the stage's options before copying the run: a typo must not leave a copy behind.
		if err := train.CheckSCSTOptions(opts); err != nil {
			fail(err)
		}
		if err := train.ForkRun(*scstFrom, runDir); err != nil {
			fail(err)
		}
		opts.Resume = true
	}
	opts.Meteor = train.MeteorChoice{Off: !*meteor, Data: *meteorData, Paraphrase: *meteorParaphrase}
	opts.Progress = os.Stderr
	opts.Logf = func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }

	backend, desc, err := captioner.NewBackend(*backendName)
	if err != nil {
		fail(err)
	}
	fmt.Fprintf(os.Stderr, "backend: %s\nrun folder: %s\n", desc, opts.Out)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := train.Train(ctx, backend, opts)
	if errors.Is(err, train.ErrInterrupted) {
		fmt.Fprintln(os.Stderr, "\n"+err.Error())
		os.Exit(130)
	}
	if err != nil {
		fail(err)
	}
	if opts.NoValidation {
		fmt.Printf("\ntrained %d epochs in %s without validation; the last epoch's model is in %s/best\n", res.Epochs, res.Elapsed.Round(1e9), opts.Out)
	} else {
		where := "model in " + opts.Out + "/best"
		if res.SCST != nil {
			where = "cross-entropy model in " + opts.Out + "/xe-best"
		}
		fmt.Printf("\ntrained %d epochs in %s; best val BLEU-4 %.4f at epoch %d (%s)\n",
			res.Epochs, res.Elapsed.Round(1e9), res.BestValBLEU, res.BestEpoch, where)
	}
	if s := res.SCST; s != nil {
		fmt.Printf("self-critical stage: %d epochs in %s; best val CIDEr-D %.4f at epoch %d, cross-entropy model %.4f (model in %s/best)\n",
			s.Epochs, s.Elapsed.Round(1e9), s.BestCIDEr, s.BestEpoch, s.StartCIDEr, opts.Out)
	}
	if res.Tested {
		fmt.Println("\nsample test captions:")
		for _, s := range res.Samples {
			fmt.Printf("  %s\n    generated: %s\n    reference: %s\n", baseName(s.Image), s.Caption, s.References[0])
		}
		t := res.Test
		meteorText := ""
		if name, v, ok := t.MeteorScore(); ok {
			meteorText = fmt.Sprintf("  %s %.4f", name, v)
		}
		fmt.Printf("\ntest (beam %d): BLEU-1 %.4f  BLEU-2 %.4f  BLEU-3 %.4f  BLEU-4 %.4f  ROUGE-L %.4f  CIDEr %.4f%s\n",
			opts.TestBeam, t.Bleu1, t.Bleu2, t.Bleu3, t.Bleu4, t.RougeL, t.CIDEr, meteorText)
		if res.Objects != nil {
			fmt.Printf("\nobject accuracy (%s): does the caption name exactly the image's objects?\n", res.Objects.File)
			res.Objects.WriteTable(os.Stdout)
		}
	}
}

// decoderField is Config.Decoder for a -decoder value: the LSTM is the unnamed default, as in
// every run and checkpoint from before the Transformer.
func decoderField(name string) string {
	if name == captioner.DecoderLSTM {
		return ""
	}
	return name
}

// dtypeField is Config.DType for a -dtype value: float32 is the unnamed default, as in every run
// and checkpoint from before bfloat16.
func dtypeField(name string) string {
	if name == captioner.DTypeFloat32 {
		return ""
	}
	return name
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
	fmt.Fprintln(os.Stderr, "train:", strings.TrimPrefix(err.Error(), "train: ")) // the library's errors may say "train:" already
	os.Exit(1)
}
