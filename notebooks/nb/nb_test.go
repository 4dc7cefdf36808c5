package nb

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func chdir(t *testing.T, dir string) {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chdir(wd) })
}

func writeRun(t *testing.T, dir string, finished bool) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "best"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "best", "config.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	state := `{"epoch": 2, "finished": false}`
	if finished {
		state = `{"epoch": 8, "finished": true}`
	}
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(state), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTrainedRunPrefersTheFinishedMainRun(t *testing.T) {
	chdir(t, t.TempDir())
	writeRun(t, NotebookRun, true)
	if r := TrainedRun(); r.Dir != NotebookRun || r.Data != NotebookData {
		t.Errorf("only notebook 02's run: got %+v", r)
	}
	writeRun(t, MainRun, false) // still training: not used
	if r := TrainedRun(); r.Dir != NotebookRun {
		t.Errorf("unfinished main run chosen: %+v", r)
	}
	writeRun(t, MainRun, true)
	if r := TrainedRun(); r.Dir != MainRun || r.Data != "shapes" || !strings.Contains(r.Why, "README main command") {
		t.Errorf("finished main run: got %+v", r)
	}
}

// Without any run, a notebook cell ends with one sentence naming what to run, not a panic.
func TestTrainedRunWithoutRunsSaysWhatToRun(t *testing.T) {
	if os.Getenv("NB_CHILD") == "1" {
		TrainedRun()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestTrainedRunWithoutRunsSaysWhatToRun$")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "NB_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the cell did not end:\n%s", out)
	}
	if !strings.Contains(string(out), "attncap: no trained model yet: run notebook 02 first") || strings.Contains(string(out), "panic") {
		t.Errorf("output:\n%s", out)
	}
}

func TestRelNamesNoAbsolutePaths(t *testing.T) {
	dir := t.TempDir()
	chdir(t, dir)
	if got := Rel(filepath.Join(dir, "runs", "x")); got != filepath.Join("runs", "x") {
		t.Errorf("Rel = %q", got)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skip(err)
	}
	if got := Rel(filepath.Join(home, ".cache", "attncap")); got != filepath.Join("~", ".cache", "attncap") {
		t.Errorf("Rel(home path) = %q", got)
	}
}
