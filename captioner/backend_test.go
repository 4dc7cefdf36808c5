package captioner

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestNewBackendDefaultsToGo(t *testing.T) {
	t.Setenv(BackendEnv, "")
	b, desc, err := NewBackend("")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	if !strings.Contains(b.Name(), "Go") || !strings.HasPrefix(desc, "go") {
		t.Fatalf("backend %q (%s), want go", b.Name(), desc)
	}
}

func TestNewBackendErrorsAreClear(t *testing.T) {
	if _, _, err := NewBackend("tpu"); err == nil || !strings.Contains(err.Error(), "unknown") {
		t.Fatalf("unknown backend: err = %v", err)
	}
	// No PJRT plugin is installed where tests run: asking for CUDA must fail fast with advice,
	// never try to download one.
	t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", t.TempDir())
	_, _, err := NewBackend("xla:cuda")
	if err == nil {
		t.Skip("a CUDA PJRT plugin is installed here")
	}
	if !strings.Contains(err.Error(), "PJRT_PLUGIN_LIBRARY_PATH") || !strings.Contains(err.Error(), "-backend go") {
		t.Fatalf("xla:cuda without a plugin: err = %v", err)
	}
}

func TestGoBackendWorkerPoolIsSized(t *testing.T) {
	t.Setenv(BackendEnv, "")
	b, desc, err := NewBackend("")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	// The backend describes its own pool size: it must be the one attncap set.
	want := fmt.Sprintf("parallelism=%d", goParallelism())
	if !strings.Contains(b.Description(), want) || !strings.Contains(desc, "workers") {
		t.Fatalf("backend %q (%s): want %s", b.Description(), desc, want)
	}
	// Options given are passed through untouched.
	b2, desc2, err := NewBackend("go:ops_sequential")
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Finalize()
	if strings.Contains(b2.Description(), want) || !strings.Contains(desc2, "ops_sequential") {
		t.Fatalf("go:ops_sequential gave %q (%s)", b2.Description(), desc2)
	}
}

// TestTF32SwitchSetsNVIDIAOverride: "tf32=false" on an XLA backend sets NVIDIA_TF32_OVERRIDE=0
// (what made cuDNN's convolutions float32-exact on an H200) before the plugin starts, leaves
// it alone without the option, and refuses once this process has started an XLA backend.
func TestTF32SwitchSetsNVIDIAOverride(t *testing.T) {
	t.Setenv("NVIDIA_TF32_OVERRIDE", "")
	defer func(started bool) { xlaStarted = started }(xlaStarted)
	xlaStarted = false
	if desc, err := xlaTF32("cuda"); err != nil || !strings.Contains(desc, "TF32 on") {
		t.Fatalf("xla:cuda: %q, %v", desc, err)
	}
	if v := os.Getenv("NVIDIA_TF32_OVERRIDE"); v != "" {
		t.Fatalf("xla:cuda set NVIDIA_TF32_OVERRIDE=%q", v)
	}
	xlaStarted = true
	if _, err := xlaTF32("cuda,tf32=false"); err == nil || !strings.Contains(err.Error(), "own process") {
		t.Fatalf("tf32=false after an XLA backend started: err = %v", err)
	}
	xlaStarted = false
	desc, err := xlaTF32("cuda, TF32=false")
	if err != nil || !strings.Contains(desc, "TF32 off") || os.Getenv("NVIDIA_TF32_OVERRIDE") != "0" {
		t.Fatalf("tf32=false: %q, %v, NVIDIA_TF32_OVERRIDE=%q", desc, err, os.Getenv("NVIDIA_TF32_OVERRIDE"))
	}
	xlaStarted = true // already off: nothing to set, so no error
	if _, err := xlaTF32("cuda,tf32=false"); err != nil {
		t.Fatalf("tf32=false with the override already set: %v", err)
	}
}
