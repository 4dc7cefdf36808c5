package captioner_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decode"
	"github.com/attncap/attncap/captioner/internal/captest"
	"github.com/attncap/attncap/captioner/internal/testmodel"
	"github.com/attncap/attncap/internal/safetensors"
)

func variableNames(t *testing.T, path string) []string {
	t.Helper()
	sf, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	return sf.Names()
}

// The model folder that is served and shared holds the model's weights only; the checkpoint a
// run resumes from also holds the optimizer state.
func TestModelFolderHoldsOnlyInferenceVariables(t *testing.T) {
	m, _, _ := testmodel.TrainedTinyModel(t)
	dir, ckpt := t.TempDir(), t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := m.SaveCheckpoint(ckpt); err != nil {
		t.Fatal(err)
	}
	model, all := variableNames(t, filepath.Join(dir, captioner.VariablesFile)), variableNames(t, filepath.Join(ckpt, captioner.VariablesFile))
	var optimizerState int
	for _, n := range all {
		if !captioner.IsModelVariable(n) {
			optimizerState++
		}
	}
	if optimizerState == 0 {
		t.Fatalf("the checkpoint has no optimizer state: %v", all)
	}
	for _, n := range model {
		if !captioner.IsModelVariable(n) {
			t.Errorf("the model folder holds %s, which inference does not need", n)
		}
	}
	if len(model)+optimizerState != len(all) {
		t.Errorf("model folder %d variables + %d optimizer = %d, checkpoint has %d", len(model), optimizerState, len(model)+optimizerState, len(all))
	}
	a, _ := os.Stat(filepath.Join(dir, captioner.VariablesFile))
	b, _ := os.Stat(filepath.Join(ckpt, captioner.VariablesFile))
	t.Logf("model folder %d bytes, checkpoint %d bytes", a.Size(), b.Size())
	if a.Size()*2 > b.Size() {
		t.Errorf("model folder %d bytes is not much smaller than the checkpoint's %d (Adam keeps two moments per weight)", a.Size(), b.Size())
	}
}

// A config.json edited after saving (hidden_dim) is an error naming the variable and both shapes.
func TestConfigThatDoesNotMatchTheWeightsNamesTheVariable(t *testing.T) {
	m, regions, _ := testmodel.TrainedTinyModel(t)
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	cfg := *m.Config
	cfg.HiddenDim *= 2
	if err := captioner.SaveConfig(filepath.Join(dir, captioner.ConfigFile), &cfg); err != nil {
		t.Fatal(err)
	}
	loaded, err := captioner.LoadModel(captest.Backend(t), dir)
	if err == nil {
		_, err = decode.Greedy(loaded, regions, decode.Options{})
	}
	if err == nil {
		t.Fatal("a config that does not match the weights was used")
	}
	for _, want := range []string{"does not match the model's config", filepath.Join(dir, captioner.ConfigFile), "variable /decoder/", fmt.Sprint(m.Config.HiddenDim), fmt.Sprint(cfg.HiddenDim)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// fakeHub serves repositories like the Hugging Face hub's API does for go-huggingface: the
// revision info (with the commit sha) and files under resolve/, with an ETag.
func fakeHub(t *testing.T, repo, dir string) *httptest.Server {
	t.Helper()
	const sha = "0123456789abcdef0123456789abcdef01234567"
	mux := http.NewServeMux()
	mux.HandleFunc("/api/models/"+repo+"/revision/", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"id": repo, "sha": sha, "siblings": []map[string]string{
			{"rfilename": captioner.ConfigFile}, {"rfilename": captioner.VocabFile}, {"rfilename": captioner.VariablesFile}}})
	})
	mux.HandleFunc("/"+repo+"/resolve/"+sha+"/", func(w http.ResponseWriter, r *http.Request) {
		name := filepath.Base(r.URL.Path)
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", fmt.Sprintf("%q", fmt.Sprintf("%x-%d", len(data), len(name))))
		w.Header().Set("X-Repo-Commit", sha)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

func TestCheckpointFromAHub(t *testing.T) {
	m, regions, _ := testmodel.TrainedTinyModel(t)
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	hub := fakeHub(t, "attncap/tiny", dir)
	t.Setenv("HF_ENDPOINT", hub.URL)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	loaded, err := captioner.OpenModel(captest.Backend(t), "hf:attncap/tiny@main")
	if err != nil {
		t.Fatal(err)
	}
	want, err := decode.Greedy(m, regions, decode.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := decode.Greedy(loaded, regions, decode.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if strings.Join(got[i].Words, " ") != strings.Join(want[i].Words, " ") || got[i].LogProb != want[i].LogProb {
			t.Errorf("image %d: %q from the hub, %q from the folder", i, got[i].Words, want[i].Words)
		}
	}
	if _, err := captioner.OpenModel(captest.Backend(t), "hf:attncap/missing"); err == nil || !strings.Contains(err.Error(), "hf:attncap/missing") {
		t.Errorf("a repository the hub does not have: err = %v", err)
	}
	if _, err := captioner.OpenModel(captest.Backend(t), "hf:no-slash"); err == nil || !strings.Contains(err.Error(), "hf:OWNER/REPO") {
		t.Errorf("a malformed id: err = %v", err)
	}
}
