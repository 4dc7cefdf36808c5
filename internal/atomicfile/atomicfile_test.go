package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileReplacesAndLeavesNoTemporaries(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "f.json")
	for _, content := range []string{"first", "second"} {
		if err := WriteFile(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(path); string(b) != content {
			t.Fatalf("read %q, want %q", b, content)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("folder holds %d entries, want only f.json", len(entries))
	}
	// Writing where a folder stands fails, and leaves nothing behind.
	if err := WriteFile(dir, []byte("x")); err == nil {
		t.Fatal("writing over a folder succeeded")
	}
	entries, _ = os.ReadDir(filepath.Dir(dir))
	for _, e := range entries {
		if filepath.Ext(e.Name()) != "" && e.Name()[0] == '.' {
			t.Fatalf("temporary %s left behind", e.Name())
		}
	}
}
