// Command evaluate scores captions like coco-caption (BLEU-1..4, METEOR, ROUGE-L, CIDEr-D):
//
//	go run ./scripts/evaluate -annotations A.json -results R.json [-json OUT.json] [-objects FILE | -data DIR]
//	go run ./scripts/evaluate -checkpoint RUN_DIR -data DIR -split test [-beam 3] [-json OUT.json] [-results R.json] [-annotations-out A.json] [-objects FILE]
//
// The first form scores a COCO results file against a COCO captions annotation file; the second
// captions a dataset split with a trained model first (and can write both files, so that the
// numbers can be reproduced with either form, or with pycocoevalcap). Files that are not what
// they should be (an instances file, results without "caption", mixed id types) are an error
// naming the file and the entry; a CIDEr-D over too few images to trust gets a warning on
// stderr.
//
// On a generated shapes set (one with datasets.ShapesObjectsFile beside it) it also reports
// object accuracy (metrics.ObjectAccuracy): whether each caption names exactly the image's
// objects, overall and per number of objects, and whether the spatial claims of the captions
// that make one (relations, orders, positions) are right. The ground truth is found beside -data,
// or named with -objects FILE (in the files form, one of the two is needed for it); without one
// the object accuracy is simply not reported.
//
// METEOR is METEOR 1.5 as coco-caption computes it (metrics.Meteor). Its data files are
// downloaded into the user cache on first use, or read from -meteor-data DIR; its paraphrase
// table is -meteor-paraphrase FILE, or paraphrase-en.gz in the data folder (pycocoevalcap ships
// it in pycocoevalcap/meteor/data/). Without a table the score is reported as
// METEOR_noparaphrase (exact, stem and synonym modules), never as METEOR; -meteor=false skips
// it. When the default data cannot be had (offline, no $ATTNCAP_METEOR_DATA) the other scores
// are still given, with a warning; named data that cannot be read is an error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decode"
	"github.com/attncap/attncap/captioner/metrics"
	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/internal/atomicfile"
)

const usage = "usage: go run ./scripts/evaluate -annotations A.json -results R.json [-json OUT.json] [-objects FILE | -data DIR] [-meteor-data DIR] [-meteor-paraphrase FILE] [-meteor=false]\n" +
	"   or: go run ./scripts/evaluate -checkpoint RUN_DIR -data DIR -split test [-beam 3] [-json OUT.json] [-results R.json] [-objects FILE] [METEOR flags]"

// options are the command's flags.
type options struct {
	annotations, results, jsonOut, checkpoint, data, images, split, annOut, backend string
	beam, batch                                                                     int
	allowMissing                                                                    bool
	meteor                                                                          bool
	meteorData, meteorParaphrase                                                    string
	objects                                                                         string
	loop                                                                            decode.Loop
	beamStyle                                                                       string
	controls                                                                        *decode.ControlFlags
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run is the command: scores go to stdout, messages and warnings to stderr; it returns the exit
// status (2 for bad usage, 1 for an error).
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		return 2
	}
	var scores metrics.ScoreReport
	var nImages int
	switch {
	case o.annotations != "" && o.results != "" && o.checkpoint == "":
		scores, nImages, err = evaluateFiles(o, stderr)
	case o.checkpoint != "" && o.data != "":
		scores, nImages, err = evaluateCheckpoint(o, stderr)
	default:
		fmt.Fprintln(stderr, usage)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "evaluate:", err)
		return 1
	}
	printScores(stdout, scores.Scores)
	if scores.Objects != nil {
		fmt.Fprintf(stdout, "\nobject accuracy (%s): does the caption name exactly the image's objects?\n", scores.Objects.File)
		scores.Objects.WriteTable(stdout)
	}
	if w := metrics.CIDErWarning(nImages); w != "" {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if scores.MeteorNoParaphrase != nil {
		fmt.Fprintln(stderr, "note:", noParaphraseNote)
	}
	if o.jsonOut != "" {
		if err := atomicfile.WriteJSON(o.jsonOut, scores); err != nil {
			fmt.Fprintln(stderr, "evaluate:", err)
			return 1
		}
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("evaluate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.annotations, "annotations", "", "COCO captions annotation file (images, annotations)")
	fs.StringVar(&o.results, "results", "", "with -annotations: the COCO results file to score; with -checkpoint: where to write the captions as one")
	fs.StringVar(&o.jsonOut, "json", "", "also write the scores as JSON to this file")
	fs.StringVar(&o.checkpoint, "checkpoint", "", "run folder (its best model) or model folder to caption with")
	fs.StringVar(&o.data, "data", "", "with -checkpoint: dataset folder, .json, or shapes; with -annotations: where to look for the shapes ground truth")
	fs.StringVar(&o.images, "images", "", "image folder (default: found beside the dataset's files)")
	fs.StringVar(&o.split, "split", "test", "with -checkpoint: split to caption")
	fs.IntVar(&o.beam, "beam", 3, "beam width (1: greedy)")
	fs.Func("loop", "with -checkpoint: where decoding loops over the words: host, graph (the whole loop in one graph) or auto (default)", func(v string) (err error) {
		o.loop, err = decode.ParseLoop(v)
		return err
	})
	fs.Func("beam-style", "with -checkpoint: keep (attncap's beam search, default) or shrink (the PyTorch tutorial's, whose beam narrows as hypotheses end)", func(v string) (err error) {
		o.beamStyle, err = decode.ParseBeamStyle(v)
		return err
	})
	fs.IntVar(&o.batch, "batch", 16, "images per decoding batch")
	o.controls = decode.RegisterControlFlags(fs)
	fs.StringVar(&o.annOut, "annotations-out", "", "with -checkpoint: write the split's references as a COCO annotation file")
	fs.BoolVar(&o.allowMissing, "allow-missing", false, "drop images missing on disk")
	fs.StringVar(&o.backend, "backend", "", "go (default), xla:cuda, … (default: $GOMLX_BACKEND or go)")
	fs.BoolVar(&o.meteor, "meteor", true, "compute METEOR 1.5 (false: skip it)")
	fs.StringVar(&o.meteorData, "meteor-data", "", "folder with METEOR's data files (default: downloaded into the user cache on first use)")
	fs.StringVar(&o.meteorParaphrase, "meteor-paraphrase", "", "METEOR paraphrase table, paraphrase-en.gz (default: the one in the METEOR data folder, if any)")
	fs.StringVar(&o.objects, "objects", "", "shapes ground truth ("+datasets.ShapesObjectsFile+") for object accuracy (default: the one beside -data, if any)")
	return o, fs.Parse(args)
}

// loadTruth reads the shapes ground truth: -objects FILE, else the file beside -data if it is a
// generated set (written first for a set made before the file existed), else none (nil: object
// accuracy is not reported).
func loadTruth(o options) (*datasets.ShapesObjects, error) {
	path := o.objects
	if path == "" && o.data != "" {
		data, err := datasets.ResolveData(o.data)
		if err != nil {
			return nil, err
		}
		if path, err = datasets.EnsureShapesObjects(data); err != nil {
			return nil, err
		}
	}
	if path == "" {
		return nil, nil
	}
	return datasets.LoadShapesObjects(path)
}

// withObjects adds the object accuracy of results to scores when truth is given.
func withObjects(scores metrics.Scores, truth *datasets.ShapesObjects, ann *metrics.COCOAnnotations, results []metrics.COCOResult) (metrics.ScoreReport, error) {
	r := metrics.ScoreReport{Scores: scores}
	if truth == nil {
		return r, nil
	}
	obj, _, err := metrics.ObjectAccuracyCOCO(truth, ann, results)
	if err != nil {
		return r, err
	}
	r.Objects = &obj
	return r, nil
}

// noParaphraseNote explains a METEOR_noparaphrase score.
const noParaphraseNote = "METEOR_noparaphrase is METEOR 1.5 without its paraphrase module (exact, stem and synonym " +
	"matches only): it is lower than METEOR and not comparable with papers' METEOR. For METEOR give -meteor-paraphrase " +
	"paraphrase-en.gz (pycocoevalcap ships it in pycocoevalcap/meteor/data/) or put it in the METEOR data folder"

// loadMeteor loads METEOR's data as the flags say, or returns nil with -meteor=false. As in
// training's final test, data that was named (-meteor-data, -meteor-paraphrase) and cannot be
// read is an error; the default data that cannot be had (offline, no $ATTNCAP_METEOR_DATA)
// only drops METEOR from the scores, with a warning on stderr saying how to get it.
func loadMeteor(o options, stderr io.Writer) (*metrics.Meteor, error) {
	if !o.meteor {
		return nil, nil
	}
	m, missing, err := metrics.LoadMeteorIfAvailable(metrics.MeteorOptions{DataDir: o.meteorData, Paraphrase: o.meteorParaphrase, Progress: stderr})
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w (-meteor=false scores without METEOR)", err)
	case missing != nil:
		fmt.Fprintf(stderr, "warning: scoring without METEOR: %v (give -meteor-data DIR, or -meteor=false)\n", missing)
	}
	return m, nil
}

// evaluateFiles scores a results file against an annotation file; METEOR's data is loaded
// once the files are known to be good.
func evaluateFiles(o options, stderr io.Writer) (metrics.ScoreReport, int, error) {
	examples, err := metrics.LoadCOCOExamples(o.annotations, o.results)
	if err != nil {
		return metrics.ScoreReport{}, 0, err
	}
	truth, err := loadTruth(o)
	if err != nil {
		return metrics.ScoreReport{}, 0, err
	}
	meteor, err := loadMeteor(o, stderr)
	if err != nil {
		return metrics.ScoreReport{}, 0, err
	}
	scores, err := metrics.EvaluateWith(examples, meteor)
	if err != nil || truth == nil {
		return metrics.ScoreReport{Scores: scores}, len(examples), err
	}
	ann, err := metrics.LoadCOCOAnnotations(o.annotations)
	if err != nil {
		return metrics.ScoreReport{}, 0, err
	}
	results, err := metrics.LoadCOCOResults(o.results)
	if err != nil {
		return metrics.ScoreReport{}, 0, err
	}
	report, err := withObjects(scores, truth, ann, results)
	return report, len(examples), err
}

// evaluateCheckpoint captions a dataset split with a trained model and scores it, writing the
// results and annotation files when asked. METEOR's data is loaded before captioning, so that
// a missing file fails fast.
func evaluateCheckpoint(o options, stderr io.Writer) (metrics.ScoreReport, int, error) {
	s, err := datasets.ParseSplit(o.split)
	if err != nil {
		return metrics.ScoreReport{}, 0, err
	}
	truth, err := loadTruth(o)
	if err != nil {
		return metrics.ScoreReport{}, 0, err
	}
	meteor, err := loadMeteor(o, stderr)
	if err != nil {
		return metrics.ScoreReport{}, 0, err
	}
	backend, desc, err := captioner.NewBackend(o.backend)
	if err != nil {
		return metrics.ScoreReport{}, 0, err
	}
	fmt.Fprintln(stderr, "backend:", desc)
	m, err := captioner.OpenModel(backend, o.checkpoint)
	if err != nil {
		return metrics.ScoreReport{}, 0, err
	}
	path, err := datasets.ResolveData(o.data)
	if err != nil {
		return metrics.ScoreReport{}, 0, err
	}
	ds, err := datasets.Load(path, datasets.LoadOptions{Images: o.images, AllowMissing: o.allowMissing})
	if err != nil {
		return metrics.ScoreReport{}, 0, err
	}
	ev, err := decode.EvaluateSplit(m, ds, s, decode.Options{Beam: o.beam, SkipAttention: true, Loop: o.loop, BeamStyle: o.beamStyle, Controls: o.controls.Controls()}, o.batch, stderr)
	if err != nil {
		return metrics.ScoreReport{}, 0, err
	}
	if meteor != nil {
		if ev.Scores, err = metrics.EvaluateCOCOWith(&ev.Annotations, ev.Results, meteor); err != nil {
			return metrics.ScoreReport{}, 0, err
		}
	}
	if o.results != "" {
		if err := metrics.WriteCOCOResults(o.results, ev.Results); err != nil {
			return metrics.ScoreReport{}, 0, err
		}
	}
	if o.annOut != "" {
		if err := atomicfile.WriteJSON(o.annOut, ev.Annotations); err != nil {
			return metrics.ScoreReport{}, 0, err
		}
	}
	report, err := withObjects(ev.Scores, truth, &ev.Annotations, ev.Results)
	return report, len(ev.Results), err
}

// printScores writes the score table, in coco-caption's order.
func printScores(w io.Writer, scores metrics.Scores) {
	type row struct {
		name string
		v    float64
	}
	rows := []row{{"Bleu_1", scores.Bleu1}, {"Bleu_2", scores.Bleu2}, {"Bleu_3", scores.Bleu3}, {"Bleu_4", scores.Bleu4}}
	if name, v, ok := scores.MeteorScore(); ok {
		rows = append(rows, row{name, v})
	}
	rows = append(rows, row{"ROUGE_L", scores.RougeL}, row{"CIDEr", scores.CIDEr})
	width := 8 // the table's narrowest first column
	for _, r := range rows {
		width = max(width, len(r.name))
	}
	fmt.Fprintf(w, "%-*s %s\n", width, "metric", "score")
	for _, r := range rows {
		fmt.Fprintf(w, "%-*s %.6f\n", width, r.name, r.v)
	}
}
