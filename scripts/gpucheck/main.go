// Command gpucheck is the one program scripts/gpu/run.sh runs on a GPU machine: with the XLA
// backend on the CUDA PJRT plugin it (1) checks the ResNet-50 and ResNet-18 encoders against
// torchvision's layer4 output (files written by captioner/testdata/gen_resnet_parity.py), with
// TF32 on and, in a child process with -backend xla:…,tf32=false, off, (2) trains on the
// synthetic shapes set end to end, (3) runs the benchmark rows next to PyTorch on the same card,
// and (4) times a Flickr8k-sized decoder epoch (30,000 captions on cached features); the
// benchmark and the training are repeated in bfloat16. Everything is printed and written to OUT/gpu.json.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/attncap/attncap/bench"
	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decode"
	"github.com/attncap/attncap/captioner/train"
	"github.com/attncap/attncap/internal/atomicfile"
	"github.com/attncap/attncap/internal/safetensors"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
)

func main() {
	plugin := flag.String("plugin", "", "absolute path of the CUDA PJRT plugin (.so)")
	parity := flag.String("parity", "", "folder written by gen_resnet_parity.py (resnet50 at 224 and 448, resnet18 at 224)")
	out := flag.String("out", ".", "where to write gpu.json and the training run")
	python := flag.String("python", "python3", "Python with PyTorch (CUDA) for the benchmark reference")
	script := flag.String("script", "bench/reference/sat.py", "PyTorch reference script")
	epochs := flag.Int("epochs", 12, "epochs for the shapes training")
	reps := flag.Int("reps", 10, "benchmark repetitions")
	tf32 := flag.Bool("tf32", true, "false: run with -backend xla:PLUGIN,tf32=false (TF32 off in cuDNN too; the parity step runs it in a child process)")
	only := flag.String("steps", "parity,bench,epoch,decode,train,bench-bfloat16,train-bfloat16", "steps to run (comma-separated; -bfloat16: the same in bfloat16 compute)")
	flag.Parse()
	want := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		want[strings.TrimSpace(s)] = true
	}
	c := &checks{report: map[string]any{}, out: *out}
	report, save, step := c.report, c.save, c.step

	spec := "xla:" + *plugin
	if !*tf32 {
		spec += ",tf32=false"
	}
	backend, desc, err := captioner.NewBackend(spec)
	if err != nil {
		fmt.Println("backend:", err)
		report["backend_error"] = err.Error()
		save()
		os.Exit(1)
	}
	fmt.Println("backend:", desc)
	report["backend"] = desc

	if *parity != "" && want["parity"] {
		c.parity(backend, *plugin, *parity, *tf32)
	}
	for _, dtype := range []string{"", captioner.DTypeBFloat16} {
		if name := "bench" + precisionSuffix(dtype); want[name] {
			step(name, func() (any, error) {
				return benchRows(backend, dtype, *reps, *python, *script)
			})
		}
	}

	if want["epoch"] {
		step("Flickr8k-sized decoder epoch (30,000 captions, cached features)", func() (any, error) {
			return decoderEpoch(backend)
		})
	}
	if want["decode"] {
		c.decode(backend)
	}
	for _, dtype := range []string{"", captioner.DTypeBFloat16} {
		if name := "train" + precisionSuffix(dtype); want[name] {
			step("train shapes (tiny encoder)"+precisionSuffix(dtype), func() (any, error) {
				return trainShapes(backend, dtype, filepath.Join(*out, "run-shapes"+precisionSuffix(dtype)), *epochs)
			})
		}
	}
}

// checks is the report of a GPU run, written to OUT/gpu.json after every step.
type checks struct {
	report map[string]any
	out    string
}

// save writes the report so far to OUT/gpu.json; a failure to write is printed and the checks
// go on.
func (c *checks) save() {
	if err := atomicfile.WriteJSON(filepath.Join(c.out, "gpu.json"), c.report); err != nil {
		fmt.Println("gpu.json:", err)
	}
}

// step runs one check, prints its result or error and records it.
func (c *checks) step(name string, fn func() (any, error)) {
	start := time.Now()
	fmt.Printf("\n=== %s\n", name)
	v, err := fn()
	if err != nil {
		fmt.Printf("FAILED: %v\n", err)
		c.report[name] = map[string]any{"error": err.Error(), "seconds": time.Since(start).Seconds()}
	} else {
		fmt.Printf("%s: %+v (%.1f s)\n", name, v, time.Since(start).Seconds())
		c.report[name] = map[string]any{"result": v, "seconds": time.Since(start).Seconds()}
	}
	c.save()
}

// parity compares the ResNet features on the GPU with torchvision's (folder written by
// gen_resnet_parity.py), and with TF32 on, again with it off in a child process.
func (c *checks) parity(backend compute.Backend, plugin, parity string, tf32 bool) {
	step := c.step
	cases := []struct {
		arch string
		size int
	}{{"resnet50", 224}, {"resnet50", 448}, {"resnet18", 224}}
	if !tf32 {
		cases = cases[:1]
	}
	for _, tc := range cases {
		step(fmt.Sprintf("parity %s @%d tf32=%v", tc.arch, tc.size, tf32), func() (any, error) {
			return parityCheck(backend, parity, tc.arch, tc.size)
		})
	}
	if tf32 {
		// TF32 can only be turned off before CUDA starts (captioner.NewBackend): in a child
		// process whose first backend has tf32=false.
		step("parity with -backend xla:…,tf32=false (child process)", func() (any, error) {
			return parityWithoutTF32(plugin, parity, filepath.Join(c.out, "tf32-off"))
		})
	}
}

// decode times decoding throughput and latency with each loop and checks that the one-graph
// loop gives the host loop's captions.
func (c *checks) decode(backend compute.Backend) {
	step := c.step
	for _, tc := range []struct {
		n, batch, beam int
		skipAttention  bool
		loop           decode.Loop
	}{
		{1000, 250, 3, true, decode.LoopGraph}, {1000, 250, 3, true, decode.LoopHost}, {1000, 250, 3, false, decode.LoopGraph},
		{1000, 250, 1, true, decode.LoopGraph}, {1000, 250, 1, true, decode.LoopHost},
		{100, 1, 3, true, decode.LoopGraph}, {100, 1, 3, true, decode.LoopHost},
	} {
		step(fmt.Sprintf("decode %d images in batches of %d, beam %d, attention copied %v, loop %s (images/s)", tc.n, tc.batch, tc.beam, !tc.skipAttention, tc.loop), func() (any, error) {
			return bench.DecodeThroughput(backend, captioner.DecoderLSTM, "", tc.n, tc.batch, tc.beam, tc.skipAttention, tc.loop, rand.New(rand.NewPCG(4, 4)))
		})
	}
	for _, decoder := range []string{captioner.DecoderLSTM, captioner.DecoderTransformer} {
		for _, beam := range []int{1, 3} {
			step(fmt.Sprintf("%s beam %d: one-graph loop gives the host loop's captions (250 images)", decoder, beam), func() (any, error) {
				same, diff, err := bench.LoopsAgree(backend, decoder, beam, 250, rand.New(rand.NewPCG(5, 5)))
				return map[string]any{"same_captions": same, "of": 250, "max_logprob_diff": diff}, err
			})
		}
	}
}

// precisionSuffix names a step's compute precision: "" for float32, "-bfloat16".
func precisionSuffix(dtype string) string {
	if dtype == "" {
		return ""
	}
	return "-" + dtype
}

// benchRows runs the benchmark rows on backend in compute precision dtype, with the PyTorch
// reference on CUDA for the float32 rows.
func benchRows(backend compute.Backend, dtype string, reps int, python, script string) ([]bench.Row, error) {
	opts := bench.Options{Reps: reps, Python: python, Script: script, Device: "cuda", Progress: func(s string) { fmt.Println("…", s) },
		ResNetBatches: []int{1, 64}, DecoderBatches: []int{32, 64}, DType: dtype}
	rows, err := bench.Run(backend, opts)
	if err != nil {
		return nil, err
	}
	if err := bench.Compare(rows, opts); err != nil {
		fmt.Println("PyTorch reference failed:", err)
	}
	for _, r := range rows {
		fmt.Printf("  %-70s %10.4g %-6s [%.4g–%.4g]  pytorch %.4g  ratio %.2f  %s\n", r.Name, r.Value, r.Unit, r.Min, r.Max, r.Reference, r.Ratio, r.Note)
	}
	return rows, nil
}

// trainShapes trains the README's shapes model (tiny encoder, default flags) for epochs epochs
// in compute precision dtype into out, and returns its test scores and time.
func trainShapes(backend compute.Backend, dtype, out string, epochs int) (any, error) {
	opts := train.DefaultTrainOptions("tiny")
	opts.Data, opts.Out, opts.Epochs, opts.Model.DType = "shapes", out, epochs, dtype
	opts.Meteor.Off = true // the GPU machine has no network, and METEOR is a CPU metric
	opts.Logf = func(f string, a ...any) { fmt.Printf(f+"\n", a...) }
	res, err := train.Train(context.Background(), backend, opts)
	if err != nil {
		return nil, err
	}
	return map[string]any{"epochs": res.Epochs, "seconds": res.Elapsed.Seconds(), "test": res.Test, "best_val_bleu4": res.BestValBLEU}, nil
}

// parityWithoutTF32 runs this program again, as a child process whose backend has tf32=false,
// for the parity step only, writing to out, and returns what that run reported.
func parityWithoutTF32(plugin, parity, out string) (any, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-plugin", plugin, "-parity", parity, "-out", out, "-steps", "parity", "-tf32=false")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	runErr := cmd.Run()
	data, err := os.ReadFile(filepath.Join(out, "gpu.json"))
	if err != nil {
		return nil, fmt.Errorf("tf32=false child: %v; no report: %w", runErr, err)
	}
	var report map[string]any
	if err := json.Unmarshal(data, &report); err != nil {
		return nil, err
	}
	if runErr != nil {
		report["child_error"] = runErr.Error()
	}
	return report, nil
}

// parityCheck compares the encoder grid on the GPU with torchvision's (computed on CPU, float32).
func parityCheck(backend compute.Backend, dir, arch string, size int) (any, error) {
	m, err := captioner.NewEncoderModel(backend, func() captioner.Config {
		c := captioner.DefaultConfig(arch)
		c.Weights, c.ImageSize = filepath.Join(dir, arch+".safetensors"), size
		return c
	}())
	if err != nil {
		return nil, err
	}
	if err := m.LoadEncoderWeights(); err != nil {
		return nil, err
	}
	sf, err := safetensors.Open(filepath.Join(dir, arch+"_"+strconv.Itoa(size)+".safetensors"))
	if err != nil {
		return nil, err
	}
	defer sf.Close()
	ti, imgs, err := sf.Float32s("images")
	if err != nil {
		return nil, err
	}
	_, ref, err := sf.Float32s("expected")
	if err != nil {
		return nil, err
	}
	out, err := m.EncodeImages(tensors.FromFlatDataAndDimensions(imgs, ti.Shape...))
	if err != nil {
		return nil, err
	}
	got := tensors.MustCopyFlatData[float32](out)
	var diff, scale float64
	for i := range got {
		diff = math.Max(diff, math.Abs(float64(got[i]-ref[i])))
		scale = math.Max(scale, math.Abs(float64(ref[i])))
	}
	return map[string]float64{"max_abs_diff": diff, "max_abs_ref": scale, "ratio": diff / scale, "within_1e-3": b2f(diff <= 1e-3*scale)}, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// decoderEpoch times 30,000 captions of decoder training: batches of 12 images × 5 captions,
// random 49×2048 features, vocabulary 3000, 20 steps (bench.DecoderStep).
func decoderEpoch(backend compute.Backend) (any, error) {
	const imagesPerBatch, k = 12, 5
	run, err := bench.DecoderStep(backend, captioner.DecoderLSTM, "", imagesPerBatch, k, rand.New(rand.NewPCG(3, 3)))
	if err != nil {
		return nil, err
	}
	if err := run(); err != nil { // compile
		return nil, err
	}
	batches := (30000 + imagesPerBatch*k - 1) / (imagesPerBatch * k)
	start := time.Now()
	for i := 0; i < batches; i++ {
		if err := run(); err != nil {
			return nil, err
		}
	}
	secs := time.Since(start).Seconds()
	return map[string]float64{"batches": float64(batches), "seconds": secs, "captions_per_second": 30000 / secs}, nil
}
