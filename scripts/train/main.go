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
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/runfolder"
	"github.com/attncap/attncap/captioner/train"
)

func main() {
	trainFlags := train.RegisterFlags(flag.CommandLine)
	out := flag.String("out", "", "run folder (default runs/<dataset>-<encoder>, plus -<decoder> for the transformer)")
	resume := flag.Bool("resume", false, "continue the run in -out exactly where it stopped, with its own options (only -epochs, -patience, -test-beam, -no-test and the -scst flags may change)")
	scstFrom := flag.String("scst-from", "", "start -out as a copy of the finished cross-entropy run RUN and add the self-critical stage to it (RUN is not changed; implies -scst)")
	meteor := flag.Bool("meteor", true, "METEOR 1.5 in the final test (its data: -meteor-data, $ATTNCAP_METEOR_DATA, or downloaded into the cache)")
	meteorData := flag.String("meteor-data", "", "folder with METEOR's data files")
	meteorParaphrase := flag.String("meteor-paraphrase", "", "METEOR paraphrase table (paraphrase-en.gz); without one the score is METEOR_noparaphrase")
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
	if *scstFrom != "" && (*out == "" || *resume) {
		fmt.Fprintln(os.Stderr, "train: -scst-from RUN needs a new -out folder (e.g. -out runs/shapes-tiny-scst) and no -resume")
		os.Exit(2)
	}
	opts, err := trainFlags.Options(train.RunOptions{Out: *out, Resume: *resume, SCSTFrom: *scstFrom})
	if err != nil {
		fail(err)
	}
	if *scstFrom != "" {
		// Check the stage's options before copying the run: a typo must not leave a copy behind.
		if err := train.CheckSCSTOptions(opts); err != nil {
			fail(err)
		}
		if err := train.ForkRun(*scstFrom, opts.Out); err != nil {
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
	printResult(opts, res)

}

func baseName(p string) string {
	p = strings.TrimRight(p, "/")
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}

// printResult prints what the run reached: epochs, the best model's place, sample test
// captions and the test scores.
func printResult(opts train.TrainOptions, res *train.TrainResult) {
	if opts.NoValidation {
		fmt.Printf("\ntrained %d epochs in %s without validation; the last epoch's model is in %s\n", res.Epochs, res.Elapsed.Round(1e9), filepath.Join(opts.Out, runfolder.Best))
	} else {
		where := "model in " + filepath.Join(opts.Out, runfolder.Best)
		if res.SCST != nil {
			where = "cross-entropy model in " + filepath.Join(opts.Out, runfolder.XEBest)
		}
		fmt.Printf("\ntrained %d epochs in %s; best val BLEU-4 %.4f at epoch %d (%s)\n",
			res.Epochs, res.Elapsed.Round(1e9), res.BestValBLEU, res.BestEpoch, where)
	}
	if s := res.SCST; s != nil {
		fmt.Printf("self-critical stage: %d epochs in %s; best val CIDEr-D %.4f at epoch %d, cross-entropy model %.4f (model in %s)\n",
			s.Epochs, s.Elapsed.Round(1e9), s.BestCIDEr, s.BestEpoch, s.StartCIDEr, filepath.Join(opts.Out, runfolder.Best))
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

// fail prints the error (dataset errors already say how to get the data or run offline).
func fail(err error) {
	fmt.Fprintln(os.Stderr, "train:", strings.TrimPrefix(err.Error(), "train: ")) // the library's errors may say "train:" already
	os.Exit(1)
}
