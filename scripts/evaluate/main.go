// Command evaluate scores captions like coco-caption (BLEU-1..4, ROUGE-L, CIDEr-D):
//
//	go run ./scripts/evaluate -annotations A.json -results R.json [-json OUT.json]
//	go run ./scripts/evaluate -checkpoint RUN_DIR -data DIR -split test [-beam 3] [-json OUT.json] [-results R.json] [-annotations-out A.json]
//
// The first form scores a COCO results file against a COCO captions annotation file; the second
// captions a dataset split with a trained model first (and can write both files, so that the
// numbers can be reproduced with either form, or with pycocoevalcap).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/metrics"
	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/internal/atomicfile"
)

func main() {
	annotations := flag.String("annotations", "", "COCO captions annotation file (images, annotations)")
	results := flag.String("results", "", "with -annotations: the COCO results file to score; with -checkpoint: where to write the captions as one")
	jsonOut := flag.String("json", "", "also write the scores as JSON to this file")
	checkpoint := flag.String("checkpoint", "", "run folder (its best model) or model folder to caption with")
	data := flag.String("data", "", "with -checkpoint: dataset folder, .json, or shapes")
	images := flag.String("images", "", "image folder, for a Karpathy or COCO .json")
	split := flag.String("split", "test", "with -checkpoint: split to caption")
	beam := flag.Int("beam", 3, "beam width (1: greedy)")
	batch := flag.Int("batch", 16, "images per decoding batch")
	annOut := flag.String("annotations-out", "", "with -checkpoint: write the split's references as a COCO annotation file")
	allowMissing := flag.Bool("allow-missing", false, "drop images missing on disk")
	backendName := flag.String("backend", "", "go (default), xla:cuda, … (default: $GOMLX_BACKEND or go)")
	flag.Parse()

	var scores metrics.Scores
	switch {
	case *annotations != "" && *results != "" && *checkpoint == "":
		ann, err := metrics.LoadCOCOAnnotations(*annotations)
		check(err)
		res, err := metrics.LoadCOCOResults(*results)
		check(err)
		scores, err = metrics.EvaluateCOCO(ann, res)
		check(err)
	case *checkpoint != "" && *data != "":
		s, err := datasets.ParseSplit(*split)
		check(err)
		backend, desc, err := captioner.NewBackend(*backendName)
		check(err)
		fmt.Fprintln(os.Stderr, "backend:", desc)
		m, err := captioner.OpenModel(backend, *checkpoint)
		check(err)
		path, err := datasets.ResolveData(*data)
		check(err)
		ds, err := datasets.Load(path, datasets.LoadOptions{Images: *images, AllowMissing: *allowMissing})
		check(err)
		ev, err := captioner.EvaluateSplit(m, ds, s, captioner.DecodeOptions{Beam: *beam, SkipAttention: true}, *batch, os.Stderr)
		check(err)
		scores = ev.Scores
		if *results != "" {
			check(metrics.WriteCOCOResults(*results, ev.Results))
		}
		if *annOut != "" {
			check(writeJSON(*annOut, ev.Annotations))
		}
	default:
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/evaluate -annotations A.json -results R.json [-json OUT.json]\n"+
			"   or: go run ./scripts/evaluate -checkpoint RUN_DIR -data DIR -split test [-beam 3] [-json OUT.json] [-results R.json]")
		os.Exit(2)
	}
	fmt.Printf("%-8s %s\n", "metric", "score")
	for _, row := range []struct {
		name string
		v    float64
	}{{"Bleu_1", scores.Bleu1}, {"Bleu_2", scores.Bleu2}, {"Bleu_3", scores.Bleu3}, {"Bleu_4", scores.Bleu4}, {"ROUGE_L", scores.RougeL}, {"CIDEr", scores.CIDEr}} {
		fmt.Printf("%-8s %.6f\n", row.name, row.v)
	}
	if *jsonOut != "" {
		check(writeJSON(*jsonOut, scores))
	}
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(data, '\n'))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "evaluate:", err)
		os.Exit(1)
	}
}
