package captioner

import (
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
