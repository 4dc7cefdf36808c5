package captioner

import (
	"fmt"
	"os"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
	"github.com/gomlx/go-xla/compute/xla"
)

// BackendEnv is the environment variable GoMLX reads for its backend; attncap honours it when no
// -backend flag is given.
const BackendEnv = "GOMLX_BACKEND"

// NewBackend returns the compute backend named by spec:
//
//   - "" — $GOMLX_BACKEND if set, else "go";
//   - "go" — GoMLX's pure-Go backend (build with GOEXPERIMENT=simd for its fast kernels);
//   - "xla:PLUGIN[,options]" — XLA through a PJRT plugin: "xla:cuda", "xla:cpu", or an absolute
//     path to a pjrt_c_api_*_plugin.so. Plugins are searched in PJRT_PLUGIN_LIBRARY_PATH and
//     the standard places; attncap never downloads one.
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
		b, err := gobackend.New(config)
		if err != nil {
			return nil, "", fmt.Errorf("backend %q: %w", spec, err)
		}
		return b, "go (pure Go" + simdNote + ")", nil
	case "xla", "stablehlo":
		xla.EnableAutoInstall(false)
		b, err := xla.New(config)
		if err != nil {
			return nil, "", fmt.Errorf("backend %q: %w\n(point PJRT_PLUGIN_LIBRARY_PATH at the folder holding pjrt_c_api_cuda_plugin.so, "+
				"pass its absolute path as -backend xla:/path/pjrt_c_api_cuda_plugin.so, or use -backend go)", spec, err)
		}
		return b, "xla (" + b.Description() + ")", nil
	}
	return nil, "", fmt.Errorf("backend %q: unknown; use go, xla:cuda, xla:cpu or xla:/path/to/pjrt_plugin.so", spec)
}
