// Package bench measures attncap's speed on the current backend, and the PyTorch reference of
// the same model (bench/reference/sat.py) on the same machine, for `go run ./scripts/bench`.
package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/attncap/attncap/internal/cputime"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decode"
	"github.com/attncap/attncap/captioner/train"
	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	gomlxtrain "github.com/gomlx/gomlx/ml/train"
)

// Row is one measurement: Value is the median of the repetitions, in Unit (higher is better
// unless Unit is "s"), Min and Max the spread; Reference is the PyTorch median (0: not run).
type Row struct {
	Name      string  `json:"name"`
	Unit      string  `json:"unit"`
	Value     float64 `json:"value"`
	Min       float64 `json:"min"`
	Max       float64 `json:"max"`
	Reference float64 `json:"pytorch,omitempty"`
	// Ratio is attncap/PyTorch speed (for "s" rows: PyTorch time / attncap time).
	Ratio float64 `json:"ratio,omitempty"`
	Note  string  `json:"note,omitempty"`

	refArgs  []string                  // arguments of bench/reference/sat.py measuring the same thing
	refCount float64                   // items per repetition, on both sides
	retime   func() ([]float64, error) // times the row's repetitions again (warm), for Options.Rounds
	tokens   float64                   // tokens per item: Note gives Value·tokens tokens/s (0: no such note)
}

// withTokens sets r's token count per item and its Note from it.
func (r Row) withTokens(tokens float64) Row {
	r.tokens = tokens
	r.Note = fmt.Sprintf("%.0f tokens/s", r.Value*tokens)
	return r
}

// Options choose what to run.
type Options struct {
	Reps     int    // timed repetitions per row (after warm-up)
	Compare  bool   // also run the PyTorch reference
	Python   string // interpreter with torch (default /usr/bin/python3)
	Script   string // bench/reference/sat.py
	Device   string // PyTorch device: cpu or cuda
	Progress func(string)
	// Rounds > 1 makes Compare time each compared row in that many alternating rounds
	// (attncap's repetitions, then PyTorch's), so that the machine's drift from minute to minute
	// falls on both sides; Value, Reference and Ratio are then the medians over the rounds.
	Rounds int
	// ResNetBatches and DecoderBatches are the batch sizes measured (default 1, 16 and 32, 64).
	ResNetBatches, DecoderBatches []int
	// Only runs one group of rows: "decoders" (LSTM against Transformer), "loops" (decoding's
	// loop on the host against one graph, greedy and beam 3), "pipeline" (the image pipeline
	// without an encoder at GOMAXPROCS 1, 2 and all cores); "" runs them all.
	Only string
	// DType is the compute precision of the model rows (Config.DType: "" or "float32", or
	// "bfloat16"; the pipeline rows have none). Rows in bfloat16 say so in their names and have
	// no PyTorch comparison (the reference computes in float32).
	DType string
	// Checkpoint and Data add to the "loops" rows a trained model (run or model folder) decoding
	// the first test images of its dataset (folder, .json or shapes). Only "caption" times
	// captioning one JPEG with the model folder Checkpoint (an imported one, say) beside
	// ResNet-50 (caption.go).
	Checkpoint, Data string
	// PipelineImages is the folder of JPEGs for the pipeline rows (default PipelineImages;
	// synthetic JPEGs when it has none).
	PipelineImages string
}

// say returns Options.Progress, or a function that drops the messages.
func (o Options) say() func(string) {
	if o.Progress == nil {
		return func(string) {}
	}
	return o.Progress
}

// precision marks r as measured in Options.DType when that is not float32: its name says so
// and it loses its PyTorch reference, which computes in float32.
func (o Options) precision(r Row) Row {
	if o.DType == "" || o.DType == captioner.DTypeFloat32 {
		return r
	}
	r.Name += ", " + o.DType
	r.refArgs, r.refCount, r.retime = nil, 0, nil
	return r
}

// stats turns per-repetition seconds into a row of "per second" values (count per rep / time).
func stats(name, unit string, count float64, secs []float64) Row {
	vals := make([]float64, len(secs))
	for i, s := range secs {
		if unit == "s" {
			vals[i] = s
		} else {
			vals[i] = count / s
		}
	}
	sort.Float64s(vals)
	return Row{Name: name, Unit: unit, Value: vals[len(vals)/2], Min: vals[0], Max: vals[len(vals)-1]}
}

// timeit runs fn warm times, then reps timed times.
func timeit(warm, reps int, fn func() error) ([]float64, error) {
	for i := 0; i < warm; i++ {
		if err := fn(); err != nil {
			return nil, err
		}
	}
	secs := make([]float64, reps)
	for i := range secs {
		start := time.Now()
		if err := fn(); err != nil {
			return nil, err
		}
		secs[i] = time.Since(start).Seconds()
	}
	return secs, nil
}

func randomTensor(rng *rand.Rand, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

// Sizes of the Flickr8k-like decoder workload: 49 regions × 2048 channels (ResNet-50 at 224),
// vocabulary 3000, captions of 20 words.
const benchRegions, benchChannels, benchVocabSize, benchSteps = 49, 2048, 3000, 20

// benchVocab is a vocabulary of benchVocabSize ids.
func benchVocab() *text.Vocab {
	words := make([]string, benchVocabSize-4)
	for i := range words {
		words[i] = "w" + strconv.Itoa(i)
	}
	return text.BuildVocab([][]string{words}, 1)
}

// DecoderStep builds a training step of decoder ("lstm" or "transformer", at its ResNet
// defaults: 512 units; Adam, gradient clipping at 5; compute precision dtype, Config.DType) at
// Flickr8k size on random features of
// `images` images with k random captions each, and returns a function that runs one step (the
// first call also compiles).
func DecoderStep(backend compute.Backend, decoder, dtype string, images, k int, rng *rand.Rand) (func() error, error) {
	cfg := captioner.DefaultConfigFor("resnet50", decoder)
	cfg.MaxLen, cfg.DType = benchSteps+1, dtype
	m, err := captioner.NewModel(backend, cfg, benchVocab())
	if err != nil {
		return nil, err
	}
	feats := randomTensor(rng, images, benchRegions, benchChannels)
	ids := make([]int32, images*k*(benchSteps+1))
	for i := range ids {
		ids[i] = int32(4 + rng.IntN(benchVocabSize-4))
		if i%(benchSteps+1) == 0 {
			ids[i] = text.StartID
		}
	}
	trainer := gomlxtrain.NewTrainer(backend, m.Store, m.ModelFn(), m.LossFn(), train.NewOptimizer(1e-3, 0, 5), nil, nil)
	return func() error {
		f, err := feats.LocalClone() // the trainer takes ownership of its inputs
		if err != nil {
			return err
		}
		c := tensors.FromFlatDataAndDimensions(ids, images*k, benchSteps+1)
		_, err = trainer.TrainStep(gomlxtrain.Batch{Inputs: []*tensors.Tensor{f, c}, Labels: []*tensors.Tensor{c}})
		return err
	}, nil
}

// UntrainedCaptioner is a ResNet-50 captioner with decoder ("lstm" or "transformer") and
// random weights at Flickr8k size (vocabulary 3000): its captions run to the 20-word limit, the
// most work a caption can cost; dtype is the compute precision (Config.DType, "" for float32).
// For speed measurements only.
func UntrainedCaptioner(backend compute.Backend, decoder, dtype string) (*captioner.Model, error) {
	cfg := captioner.DefaultConfigFor("resnet50", decoder)
	cfg.Weights, cfg.MaxLen, cfg.DType = "", benchSteps+1, dtype
	return captioner.NewModel(backend, cfg, benchVocab())
}

// DecodeThroughput times decoding of n images of random 49×2048 regions in batches of batch
// images (beam search with width beam; 1 is greedy-equivalent; the loop over the words where
// loop says) with an untrained decoder, so that every caption runs to the 20-word limit, and
// returns images/s (with batch 1, 1000 / images/s is one caption's latency in ms); dtype is the
// compute precision (Config.DType). The first
// batch, which compiles the graphs, is not timed.
func DecodeThroughput(backend compute.Backend, decoder, dtype string, n, batch, beam int, skipAttention bool, loop decode.Loop, rng *rand.Rand) (float64, error) {
	m, err := UntrainedCaptioner(backend, decoder, dtype)
	if err != nil {
		return 0, err
	}
	regions := randomTensor(rng, batch, benchRegions, benchChannels)
	opts := decode.Options{Beam: beam, MaxLen: benchSteps + 1, SkipAttention: skipAttention, Loop: loop}
	if _, err := decode.Beam(m, regions, opts); err != nil { // compile, initialise
		return 0, err
	}
	start := time.Now()
	for done := 0; done < n; done += batch {
		if _, err := decode.Beam(m, regions, opts); err != nil {
			return 0, err
		}
	}
	batches := (n + batch - 1) / batch
	return float64(batches*batch) / time.Since(start).Seconds(), nil
}

// Run measures every row on backend.
func Run(backend compute.Backend, opts Options) ([]Row, error) {
	if opts.Reps < 1 {
		opts.Reps = 5
	}
	say := opts.say()
	rng := rand.New(rand.NewPCG(1, 1))
	if len(opts.ResNetBatches) == 0 {
		opts.ResNetBatches = []int{1, 16}
	}
	if len(opts.DecoderBatches) == 0 {
		opts.DecoderBatches = []int{32, 64}
	}
	if opts.Only == "decoders" {
		return decoderRows(backend, opts, rng)
	}
	if opts.Only == "loops" {
		return loopRows(backend, opts, rng)
	}
	if opts.Only == "controls" {
		return controlRows(backend, opts, rng)
	}
	if opts.Only == "caption" {
		return captionModelRows(backend, opts, rng)
	}
	if opts.Only == "pipeline" {
		say("image pipeline without an encoder, GOMAXPROCS 1 and 2")
		return pipelineRows(opts, rng)
	}

	rows, err := lstmStepRows(backend, opts, rng)
	if err != nil {
		return nil, err
	}
	enc, resnet, err := resnetRows(backend, opts, rng)
	if err != nil {
		return nil, err
	}
	rows = append(rows, resnet...)
	transformerRows, err := decoderRows(backend, opts, rng)
	if err != nil {
		return nil, err
	}
	rows = append(rows, transformerRows...)
	loops, err := loopRows(backend, opts, rng)
	if err != nil {
		return nil, err
	}
	rows = append(rows, loops...)

	captions, err := captionRows(backend, enc, opts, rng)
	if err != nil {
		return nil, err
	}
	rows = append(rows, captions...)
	say("image pipeline without an encoder, GOMAXPROCS 1 and 2")
	pipeline, err := pipelineRows(opts, rng)
	if err != nil {
		return nil, err
	}
	rows = append(rows, pipeline...)
	rows = append(rows, Row{Name: "peak memory (max RSS)", Unit: "MiB", Value: MaxRSSMiB()})
	return rows, nil
}

// lstmStepRows times the LSTM decoder's training step at each of opts.DecoderBatches.
func lstmStepRows(backend compute.Backend, opts Options, rng *rand.Rand) ([]Row, error) {
	say := opts.say()
	var rows []Row
	for _, b := range opts.DecoderBatches {
		say(fmt.Sprintf("decoder train step, batch %d", b))
		step, err := DecoderStep(backend, captioner.DecoderLSTM, opts.DType, b, 1, rng)
		if err != nil {
			return nil, err
		}
		secs, err := timeit(1, opts.Reps, step)
		if err != nil {
			return nil, err
		}
		r := stats(fmt.Sprintf("decoder train step, batch %d (49×2048, V 3000, 20 steps)", b), "steps/s", 1, secs)
		r = r.withTokens(float64(b * benchSteps))
		r.refArgs, r.refCount = []string{"decoder", "--batch", strconv.Itoa(b)}, 1
		r.retime = func() ([]float64, error) { return timeit(0, opts.Reps, step) }
		rows = append(rows, opts.precision(r))
	}

	return rows, nil
}

// resnetRows times ResNet-50's forward pass at each of opts.ResNetBatches, and returns the
// encoder-only model it timed.
func resnetRows(backend compute.Backend, opts Options, rng *rand.Rand) (*captioner.Model, []Row, error) {
	say := opts.say()
	var rows []Row
	cfg := captioner.DefaultConfig("resnet50")
	cfg.Weights, cfg.DType = "", opts.DType // speed does not depend on the weights' values
	enc, err := captioner.NewEncoderModel(backend, cfg)
	if err != nil {
		return nil, nil, err
	}
	for _, b := range opts.ResNetBatches {
		say(fmt.Sprintf("ResNet-50 forward, batch %d", b))
		images := randomTensor(rng, b, 224, 224, 3)
		forward := func() error {
			out, err := enc.EncodeImages(images)
			if err == nil {
				out.MustFinalizeAll()
			}
			return err
		}
		secs, err := timeit(1, opts.Reps, forward)
		if err != nil {
			return nil, nil, err
		}
		r := stats(fmt.Sprintf("ResNet-50 forward @224, batch %d", b), "img/s", float64(b), secs)
		r.refArgs, r.refCount = []string{"resnet50", "--batch", strconv.Itoa(b)}, float64(b)
		r.retime = func() ([]float64, error) { return timeit(0, opts.Reps, forward) }
		rows = append(rows, opts.precision(r))
	}

	return enc, rows, nil
}

// tempJPEGs writes n noisy JPEGs (writeJPEGs) into a new temporary folder; cleanup removes it.
func tempJPEGs(n int, rng *rand.Rand) (paths []string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "attncap-bench-")
	if err != nil {
		return nil, nil, err
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	if paths, err = writeJPEGs(dir, n, rng); err != nil {
		cleanup()
		return nil, nil, err
	}
	return paths, cleanup, nil
}

// captionRows times captioning one JPEG end to end (ResNet-50, beam 3) and the JPEG → features
// pipeline of 32 images with enc.
func captionRows(backend compute.Backend, enc *captioner.Model, opts Options, rng *rand.Rand) ([]Row, error) {
	say := opts.say()
	var rows []Row
	say("caption one image, ResNet-50 + beam 3")
	m, err := UntrainedCaptioner(backend, captioner.DecoderLSTM, opts.DType)
	if err != nil {
		return nil, err
	}
	paths, cleanup, err := tempJPEGs(32, rng)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	secs, err := timeit(1, opts.Reps, func() error {
		_, err := decode.Images(m, paths[:1], decode.Options{Beam: 3, MaxLen: 21}, 1, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	r := stats("caption latency: 1 JPEG → ResNet-50 → beam 3 (≤ 20 words)", "s", 1, secs)
	r.Note = "untrained decoder: runs to the length limit"
	rows = append(rows, opts.precision(r))

	say("JPEG → cached features, 32 images 500×375")
	var cpu0 time.Duration
	var cpuUsed []float64
	secs, err = timeit(1, max(1, opts.Reps/2), func() error {
		cpu0 = cputime.Process()
		start := time.Now()
		_, err := enc.ExtractFeatures(paths, 8, nil)
		cpuUsed = append(cpuUsed, (cputime.Process()-cpu0).Seconds()/time.Since(start).Seconds())
		return err
	})
	if err != nil {
		return nil, err
	}
	r = stats("JPEG → features pipeline (decode, resize, ResNet-50), 32 images", "img/s", float64(len(paths)), secs)
	sort.Float64s(cpuUsed)
	r.Note = fmt.Sprintf("%.0f%% of %d cores busy", 100*cpuUsed[len(cpuUsed)/2]/float64(numCPU()), numCPU())
	rows = append(rows, opts.precision(r))
	return rows, nil
}

// writeJPEGs writes n noisy 500×375 JPEGs (Flickr8k's typical size).
func writeJPEGs(dir string, n int, rng *rand.Rand) ([]string, error) {
	var paths []string
	for i := 0; i < n; i++ {
		img := image.NewRGBA(image.Rect(0, 0, 500, 375))
		for p := 0; p < len(img.Pix); p += 4 {
			v := uint8(rng.IntN(256))
			img.Pix[p], img.Pix[p+1], img.Pix[p+2], img.Pix[p+3] = v, uint8(p/4%251), 255-v, 255
		}
		img.SetRGBA(0, 0, color.RGBA{1, 2, 3, 255})
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
			return nil, err
		}
		p := filepath.Join(dir, fmt.Sprintf("img%02d.jpg", i))
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// reference runs the PyTorch script and returns the median seconds per repetition.
func reference(opts Options, args ...string) (float64, error) {
	py := opts.Python
	if py == "" {
		py = "/usr/bin/python3"
	}
	cmdArgs := append([]string{opts.Script}, args...)
	cmdArgs = append(cmdArgs, "--reps", strconv.Itoa(opts.Reps), "--device", opts.Device)
	out, err := exec.Command(py, cmdArgs...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return 0, fmt.Errorf("pytorch reference %v: %w\n%s", args, err, ee.Stderr)
		}
		return 0, fmt.Errorf("pytorch reference %v: %w", args, err)
	}
	var res struct{ Times []float64 }
	if err := json.Unmarshal(out, &res); err != nil || len(res.Times) == 0 {
		return 0, fmt.Errorf("pytorch reference %v: unreadable output %q", args, out)
	}
	sort.Float64s(res.Times)
	return res.Times[len(res.Times)/2], nil
}

// Compare fills Reference and Ratio for the rows the PyTorch reference implements. With
// opts.Rounds > 1 it times each such row in alternating rounds (compareRow).
func Compare(rows []Row, opts Options) error {
	if opts.Script == "" {
		opts.Script = filepath.Join("bench", "reference", "sat.py")
	}
	if opts.Device == "" {
		opts.Device = "cpu"
	}
	if opts.Reps < 1 {
		opts.Reps = 5
	}
	for i := range rows {
		if rows[i].refArgs == nil {
			continue
		}
		if err := compareRow(&rows[i], opts); err != nil {
			return err
		}
	}
	return nil
}

// compareRow runs the PyTorch reference of r once, or in opts.Rounds rounds: round k > 0
// first times attncap again (r.retime), then PyTorch, and each round gives a ratio. r's Value,
// Reference and Ratio become the medians over the rounds, Min and Max the spread of all of
// attncap's repetitions.
func compareRow(r *Row, opts Options) error {
	rounds := max(1, opts.Rounds)
	if r.retime == nil {
		rounds = 1
	}
	ours, refs, ratios := []float64{r.Value}, []float64{}, []float64{}
	for k := 0; k < rounds; k++ {
		if k > 0 {
			secs, err := r.retime()
			if err != nil {
				return err
			}
			again := stats(r.Name, r.Unit, r.refCount, secs)
			ours = append(ours, again.Value)
			r.Min, r.Max = min(r.Min, again.Min), max(r.Max, again.Max)
		}
		if opts.Progress != nil {
			opts.Progress(fmt.Sprintf("PyTorch: %s (round %d of %d)", r.Name, k+1, rounds))
		}
		secs, err := reference(opts, r.refArgs...)
		if err != nil {
			return err
		}
		refs = append(refs, r.refCount/secs)
		ratios = append(ratios, ours[k]/refs[k])
	}
	r.Value, r.Reference, r.Ratio = median(ours), median(refs), median(ratios)
	if r.tokens > 0 {
		*r = r.withTokens(r.tokens)
	}
	if rounds > 1 {
		note := fmt.Sprintf("ratio per round: %s", joinRatios(ratios))
		if r.Note != "" {
			note = r.Note + "; " + note
		}
		r.Note = note
	}
	return nil
}

// joinRatios writes ratios as "1.61×, 1.55×, …".
func joinRatios(ratios []float64) string {
	s := ""
	for i, v := range ratios {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%.2f×", v)
	}
	return s
}
