package captioner

import (
	"fmt"
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
