package captioner

import (
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
	"github.com/gomlx/go-xla/compute/xla"
)

// BackendEnv is the environment variable GoMLX reads for its backend; attncap honours it when no
// -backend flag is given.
const BackendEnv = "GOMLX_BACKEND"

// goExecutors is the number of op executors the Go backend (compute v0.1.14) runs a graph with
// (its DefaultNumExecutors), set explicitly so that goParallelism stays right.
const goExecutors = 8

// goParallelism is the worker-pool size attncap gives the Go backend: room for its idle op
// executors plus two workers per core for the kernels. With the backend's default (2 per core)
// the executors, which each hold a worker while waiting for ops, leave the matrix-product
// kernels one worker: on 2 cores ResNet-50 ran at 8.3 img/s instead of 14.3 and the decoder
// training step took 1.19 s instead of 0.80 s (docs/performance.md).
func goParallelism() int { return goExecutors + 2*runtime.GOMAXPROCS(0) }

// tuneGoBackend sets the worker-pool size of a Go backend. The backend only takes it as a
// configuration option that also prints a line on stdout (which would corrupt the -json output
// of the scripts), so it is set on the backend's pool directly. It reports whether it could.
func tuneGoBackend(b compute.Backend, parallelism int) bool {
	v := reflect.ValueOf(b)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return false
	}
	workers := v.Elem().FieldByName("Workers")
	if !workers.IsValid() || workers.Kind() != reflect.Pointer || workers.IsNil() {
		return false
	}
	set := workers.MethodByName("SetMaxParallelism")
	if !set.IsValid() || set.Type().NumIn() != 1 || set.Type().In(0).Kind() != reflect.Int {
		return false
	}
	set.Call([]reflect.Value{reflect.ValueOf(parallelism)})
	return true
}

// xlaStarted records that this process has tried to create an XLA backend (and so may have started
// CUDA's libraries).
var xlaStarted bool

// xlaTF32 applies an XLA backend's "tf32=false" option and describes the TF32 setting. go-xla
// passes the option to XLA, but cuDNN's convolutions still used TF32 with it on an H200 (2026-11-30:
// ResNet-50 features 1.6e-3 from float32 either way, docs/performance.md); NVIDIA's
// NVIDIA_TF32_OVERRIDE=0, which cuBLAS and cuDNN read when they start, made them float32-exact.
// So with tf32=false attncap also sets NVIDIA_TF32_OVERRIDE=0 in its own environment, which
// only works before CUDA starts: asking for it after this process has created an XLA backend
// is an error that says to use a fresh process.
func xlaTF32(config string) (string, error) {
	off := false
	for _, opt := range strings.Split(config, ",") {
		if k, v, ok := strings.Cut(opt, "="); ok && strings.EqualFold(strings.TrimSpace(k), "tf32") {
			v = strings.TrimSpace(v)
			off = strings.EqualFold(v, "false") || v == "0"
		}
	}
	if !off {
		if os.Getenv("NVIDIA_TF32_OVERRIDE") == "0" {
			return "TF32 off: NVIDIA_TF32_OVERRIDE=0", nil
		}
		return "TF32 on in cuDNN convolutions (tf32=false turns it off)", nil
	}
	if os.Getenv("NVIDIA_TF32_OVERRIDE") != "0" {
		if xlaStarted {
			return "", fmt.Errorf("tf32=false needs NVIDIA_TF32_OVERRIDE=0 before CUDA starts, and this process has already " +
				"created an XLA backend: create the tf32=false backend first, or in its own process")
		}
		if err := os.Setenv("NVIDIA_TF32_OVERRIDE", "0"); err != nil {
			return "", fmt.Errorf("tf32=false: setting NVIDIA_TF32_OVERRIDE=0: %w", err)
		}
	}
	return "TF32 off: tf32=false, NVIDIA_TF32_OVERRIDE=0", nil
}

// NewBackend returns the compute backend named by spec:
//
//   - "" — $GOMLX_BACKEND if set, else "go";
//   - "go[:options]" — GoMLX's pure-Go backend (build with GOEXPERIMENT=simd for its fast
//     kernels). Without options attncap sizes its worker pool (see goParallelism); options
//     given are the backend's own and replace that (e.g. "go:parallelism=4,ops_sequential");
//   - "xla:PLUGIN[,options]" — XLA through a PJRT plugin: "xla:cuda", "xla:cpu", or an absolute
//     path to a pjrt_c_api_*_plugin.so. Plugins are searched in PJRT_PLUGIN_LIBRARY_PATH and
//     the standard places; attncap never downloads one. The option "tf32=false" turns TF32 off
//     in the CUDA libraries too (xlaTF32).
//
// The returned description says which backend runs, for logs.
func NewBackend(spec string) (compute.Backend, string, error) {
	if spec == "" {
		spec = os.Getenv(BackendEnv)
	}
	if spec == "" {
		spec = gobackend.BackendName
	}
	name, config, _ := strings.Cut(spec, ":")
	switch name {
	case gobackend.BackendName:
		tune := config == ""
		if tune {
			config = "num_executors=" + strconv.Itoa(goExecutors)
		}
		b, err := gobackend.New(config)
		if err != nil {
			return nil, "", fmt.Errorf("backend %q: %w", spec, err)
		}
		desc := "go (pure Go" + simdNote
		switch {
		case !tune:
			desc += ", options " + config
		case tuneGoBackend(b, goParallelism()):
			desc += fmt.Sprintf(", %d workers", goParallelism())
		default:
			desc += ", default workers: could not size the pool of this GoMLX version"
		}
		return b, desc + ")", nil
	case "xla", "stablehlo":
		tf32, err := xlaTF32(config)
		if err != nil {
			return nil, "", fmt.Errorf("backend %q: %w", spec, err)
		}
		xla.EnableAutoInstall(false)
		xlaStarted = true // even a failed start may have started CUDA
		b, err := xla.New(config)
		if err != nil {
			return nil, "", fmt.Errorf("backend %q: %w\n(point PJRT_PLUGIN_LIBRARY_PATH at the folder holding pjrt_c_api_cuda_plugin.so, "+
				"pass its absolute path as -backend xla:/path/pjrt_c_api_cuda_plugin.so, or use -backend go)", spec, err)
		}
		return b, "xla (" + b.Description() + ", " + tf32 + ")", nil
	}
	return nil, "", fmt.Errorf("backend %q: unknown; use go, xla:cuda, xla:cpu or xla:/path/to/pjrt_plugin.so", spec)
}
