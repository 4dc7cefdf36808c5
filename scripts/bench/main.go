// Command bench prints attncap's speed on the current backend — and, with -compare, PyTorch's
// on the same machine in the same run, with the attncap/PyTorch ratio per row:
//
//	go run ./scripts/bench [-compare [-rounds 5]] [-reps 5] [-json OUT.json] [-backend go|xla:cuda] [-device cpu|cuda] [-dtype float32|bfloat16]
//	                       [-only decoders|loops|pipeline] [-only loops -checkpoint RUN -data DATA] [-only caption -checkpoint MODEL] [-only controls]
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/attncap/attncap/bench"
	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/internal/atomicfile"
)

func main() {
	compare := flag.Bool("compare", false, "also run the PyTorch reference (bench/reference/sat.py) and print ratios")
	reps := flag.Int("reps", 5, "timed repetitions per row, after warm-up")
	rounds := flag.Int("rounds", 1, "with -compare: time each compared row in this many alternating rounds (attncap, then PyTorch) and give the medians over the rounds")
	jsonOut := flag.String("json", "", "also write the rows as JSON to this file")
	python := flag.String("python", "/usr/bin/python3", "Python with torch and torchvision, for -compare")
	device := flag.String("device", "cpu", "PyTorch device for -compare: cpu or cuda")
	backendName := flag.String("backend", "", "go (default), xla:cuda, … (default: $GOMLX_BACKEND or go)")
	only := flag.String("only", "", "run one group of rows: decoders (LSTM against Transformer: train step, greedy and beam-3 decoding), loops (greedy and beam-3 decoding with the loop on the host against one graph), pipeline (JPEG decode+resize+normalise without an encoder at GOMAXPROCS 1, 2 and all cores), caption (one JPEG captioned by -checkpoint MODEL beside ResNet-50, alternating rounds), controls (decoding under each decoding control against the default, alternating rounds)")
	dtype := flag.String("dtype", "", "compute precision of the model rows: float32 (default) or bfloat16 (no PyTorch comparison)")
	checkpoint := flag.String("checkpoint", "", "with -only loops: also time a trained model (run or model folder) …")
	data := flag.String("data", "", "… on the first 64 test images of this dataset (folder, .json or shapes)")
	flag.Parse()
	if *only != "" && *only != "decoders" && *only != "loops" && *only != "pipeline" && *only != "caption" && *only != "controls" {
		check(fmt.Errorf("-only %q: the groups are decoders, loops, pipeline, caption and controls", *only))
	}
	if *only == "caption" && (*checkpoint == "" || *data != "") {
		check(fmt.Errorf("-only caption needs -checkpoint MODEL (and no -data): it times captioning one JPEG with that model beside ResNet-50"))
	}
	if *only != "caption" && (*checkpoint != "" || *data != "") && (*only != "loops" || *checkpoint == "" || *data == "") {
		check(fmt.Errorf("-checkpoint and -data go together, with -only loops (a trained model's decoding rows on the data's test images)"))
	}
	if err := (&captioner.Config{DType: *dtype}).ValidateDType(); err != nil {
		check(fmt.Errorf("-dtype: %w", err))
	}
	backend, desc, err := captioner.NewBackend(*backendName)
	check(err)
	opts := bench.Options{Reps: *reps, Rounds: *rounds, Python: *python, Device: *device, Only: *only, DType: *dtype, Checkpoint: *checkpoint, Data: *data, Progress: func(s string) { fmt.Fprintln(os.Stderr, "…", s) }}
	rows, err := bench.Run(backend, opts)
	check(err)
	if *compare {
		check(bench.Compare(rows, opts))
	}
	how := fmt.Sprintf("median of %d runs after warm-up [min–max]", *reps)
	if *compare && *rounds > 1 {
		how += fmt.Sprintf("; rows with a PyTorch figure: medians over %d alternating rounds of %d runs each", *rounds, *reps)
	}
	fmt.Printf("backend: %s; %d CPUs (%s/%s); %s\n\n", desc, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, how)
	fmt.Printf("| %-70s | %-22s | %-10s | %-9s | %s\n", "row", "attncap", "PyTorch", "ratio", "note")
	fmt.Printf("|%s|%s|%s|%s|%s\n", dashes(72), dashes(24), dashes(12), dashes(11), dashes(6))
	for _, r := range rows {
		ref, ratio := "—", "—"
		if r.Reference > 0 {
			ref, ratio = fmt.Sprintf("%.3g", r.Reference), fmt.Sprintf("%.2f×", r.Ratio)
		}
		value := fmt.Sprintf("%8.3g %-6s [%.3g–%.3g]", r.Value, r.Unit, r.Min, r.Max)
		if r.Min == 0 && r.Max == 0 { // a single reading (peak memory): no spread
			value = fmt.Sprintf("%8.0f %s", r.Value, r.Unit)
		}
		fmt.Printf("| %-70s | %-22s | %-10s | %-9s | %s\n", r.Name, value, ref, ratio, r.Note)
	}
	if *jsonOut != "" {
		check(atomicfile.WriteJSON(*jsonOut, rows))
	}
}

func dashes(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '-'
	}
	return string(b)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
