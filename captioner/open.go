package captioner

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/attncap/attncap/captioner/runfolder"
	"github.com/gomlx/compute"
	"github.com/gomlx/go-huggingface/hub"
)

// OpenModel loads a model from a run folder (its best/ model), a model folder itself, or a
// model folder on the Hugging Face hub (hf:OWNER/REPO[@REVISION], see ResolveCheckpoint).
func OpenModel(backend compute.Backend, dir string) (*Model, error) {
	dir, err := ResolveCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); err != nil {
		if _, err2 := os.Stat(filepath.Join(dir, runfolder.Best, ConfigFile)); err2 == nil {
			dir = filepath.Join(dir, runfolder.Best)
		} else {
			return nil, fmt.Errorf("checkpoint %s: neither a model folder (%s) nor a run folder (%s/%s): %w", dir, ConfigFile, runfolder.Best, ConfigFile, err)
		}
	}
	return LoadModel(backend, dir)
}

// ResolveCheckpoint returns the local model folder of a checkpoint: a folder as it is, or for
// hf:OWNER/REPO[@REVISION] the hub snapshot folder holding the repository's config.json,
// vocab.json and model.safetensors, downloaded once through go-huggingface's hub client into
// the standard Hugging Face cache ($XDG_CACHE_HOME or ~/.cache; $HF_ENDPOINT names another hub).
func ResolveCheckpoint(id string) (string, error) {
	repoID, ok := strings.CutPrefix(id, "hf:")
	if !ok {
		return id, nil
	}
	repoID, revision, _ := strings.Cut(repoID, "@")
	if strings.Count(repoID, "/") != 1 {
		return "", fmt.Errorf("checkpoint %q: want hf:OWNER/REPO[@REVISION]", id)
	}
	repo := hub.New(repoID)
	repo.Verbosity = 0 // its progress goes to stdout, where -json output goes
	if revision != "" {
		repo = repo.WithRevision(revision)
	}
	paths, err := repo.DownloadFiles(ConfigFile, VocabFile, VariablesFile)
	if err != nil {
		return "", fmt.Errorf("checkpoint %s: downloading %s, %s and %s from the Hugging Face hub: %w "+
			"(offline? download the model folder elsewhere and pass its path)", id, ConfigFile, VocabFile, VariablesFile, err)
	}
	return filepath.Dir(paths[0]), nil
}
