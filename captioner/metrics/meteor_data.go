package metrics

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/attncap/attncap/datasets"
)

// MeteorCommit is the commit of github.com/cmu-mtlab/meteor (METEOR 1.5, LGPL 2.1; synonyms
// from WordNet 3.0) whose data files LoadMeteor uses.
const MeteorCommit = "57a9ec5d5f65b8ceca6db5788ef876f3726614b3"

// MeteorParaphraseFile is the name of the English paraphrase table (data/paraphrase-en.gz of
// METEOR 1.5; pycocoevalcap ships it as pycocoevalcap/meteor/data/paraphrase-en.gz).
const MeteorParaphraseFile = "paraphrase-en.gz"

// meteorDataFile is a data file of METEOR's English modules: its name on disk, its path in the
// repository, and its SHA-256 at MeteorCommit. (english.relations, also in the repository, is
// not read by METEOR 1.5: its SynonymDictionary skips it.)
type meteorDataFile struct{ name, repoPath, sha256 string }

var meteorDataFiles = []meteorDataFile{
	{"english.synsets", "resources/synonym/english.synsets", "20b7cf6ae1cba2395d714d8c2ec2992e88c6d1c75c7c30aa480c6a2a9bb8fef9"},
	{"english.exceptions", "resources/synonym/english.exceptions", "5feb8fcb5b349d035df1a448149c2ccc860bf32e4b9eea8c8e4f113e90a5a962"},
	{"english.words", "resources/function/english.words", "2ae0d5b8c29e2993a0f442b065b946d1a17fbfe8538e66bf5931c4a248cf4c3a"},
	{"english.prefixes", "resources/nonbreaking/english.prefixes", "bd909f364224748976f9b8b7cdeb4f9be3bf7c8e66a10f1ed268b12d904ab876"},
}

// MeteorMirrors are where the data files are fetched from, in order: a file's URL is a mirror
// followed by its path in the repository.
var MeteorMirrors = []string{
	"https://raw.githubusercontent.com/cmu-mtlab/meteor/" + MeteorCommit + "/",
	"https://github.com/cmu-mtlab/meteor/raw/" + MeteorCommit + "/",
}

// MeteorDataEnv names the environment variable that gives MeteorOptions.DataDir's default.
const MeteorDataEnv = "ATTNCAP_METEOR_DATA"

// MeteorOptions say where LoadMeteor finds its data.
type MeteorOptions struct {
	// DataDir holds english.synsets, english.exceptions, english.words and english.prefixes
	// (as in the repository at MeteorCommit, checked by SHA-256), and may hold
	// paraphrase-en.gz. Empty: $ATTNCAP_METEOR_DATA when set (for machines that cannot
	// download), else CacheDir, where missing files are downloaded on first use.
	DataDir string
	// CacheDir is the download folder; empty: os.UserCacheDir()/attncap/meteor.
	CacheDir string
	// Paraphrase is the paraphrase table. Empty: paraphrase-en.gz in the data folder, if it
	// is there; without a table the score is METEOR_noparaphrase.
	Paraphrase string
	// Mirrors replace MeteorMirrors when set.
	Mirrors []string
	// Client makes the downloads; nil: http.DefaultClient.
	Client *http.Client
	// Progress receives download messages; nil: os.Stderr.
	Progress io.Writer
}

// meteorData is the text of the data files.
type meteorData struct{ synsets, exceptions, functionWords, prefixes string }

// readMeteorData reads the data files from opts.DataDir, or from the cache (downloading what
// is missing or damaged), and returns them with the folder they came from.
func readMeteorData(opts MeteorOptions) (meteorData, string, error) {
	dir, fetch := opts.DataDir, false
	if dir == "" {
		dir = os.Getenv(MeteorDataEnv)
	}
	if dir == "" {
		var err error
		if dir, err = meteorCacheDir(opts.CacheDir); err != nil {
			return meteorData{}, "", err
		}
		fetch = true
	}
	text := map[string]string{}
	var missing []string
	for _, f := range meteorDataFiles {
		path := filepath.Join(dir, f.name)
		data, err := readVerified(path, f)
		if err != nil && fetch {
			data, err = fetchMeteorFile(opts, f, path)
		}
		switch {
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, f.name)
		case err != nil:
			return meteorData{}, "", err
		}
		text[f.name] = data
	}
	if len(missing) > 0 {
		return meteorData{}, "", fmt.Errorf("METEOR data folder %s lacks %s: put there the files of github.com/cmu-mtlab/meteor at commit %s "+
			"(resources/synonym/, resources/function/, resources/nonbreaking/), or leave the folder unset to download them into the cache",
			dir, strings.Join(missing, ", "), MeteorCommit[:7])
	}
	return meteorData{synsets: text["english.synsets"], exceptions: text["english.exceptions"],
		functionWords: text["english.words"], prefixes: text["english.prefixes"]}, dir, nil
}

// meteorCacheDir is the download folder.
func meteorCacheDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("METEOR data: no cache folder (%w); give a data folder", err)
	}
	return filepath.Join(base, "attncap", "meteor"), nil
}

// readVerified reads a data file and checks its SHA-256.
func readVerified(path string, f meteorDataFile) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != f.sha256 {
		return "", fmt.Errorf("METEOR data: %w", &datasets.ChecksumError{File: path, Algorithm: "SHA-256", Want: f.sha256, Got: got})
	}
	return string(data), nil
}

// fetchMeteorFile downloads a data file into path (verified, then renamed into place) and reads it.
func fetchMeteorFile(opts MeteorOptions, f meteorDataFile, path string) (string, error) {
	mirrors := opts.Mirrors
	if mirrors == nil {
		mirrors = MeteorMirrors
	}
	rf := datasets.RemoteFile{Name: f.name, SHA256: f.sha256}
	for _, m := range mirrors {
		rf.URLs = append(rf.URLs, m+f.repoPath)
	}
	progress := opts.Progress
	if progress == nil {
		progress = os.Stderr
	}
	fmt.Fprintf(progress, "METEOR data: fetching %s (cmu-mtlab/meteor@%s) into %s\n", f.name, MeteorCommit[:7], filepath.Dir(path))
	err := datasets.FetchFile(context.Background(), rf, path, datasets.DownloadOptions{Client: opts.Client, Progress: progress})
	if err != nil {
		return "", fmt.Errorf("METEOR data: %w", err)
	}
	return readVerified(path, f)
}

// findParaphrases resolves the paraphrase table: the one named (which must be a gzip file), or
// paraphrase-en.gz in dir when it is there, or none ("").
func findParaphrases(named, dir string) (string, error) {
	if named == "" && dir == "" {
		return "", nil
	}
	if named == "" {
		path := filepath.Join(dir, MeteorParaphraseFile)
		if _, err := os.Stat(path); err != nil {
			return "", nil
		}
		named = path
	}
	f, err := os.Open(named)
	if err != nil {
		return "", fmt.Errorf("paraphrase table: %w", err)
	}
	defer f.Close()
	if _, err := gzip.NewReader(bufio.NewReader(f)); err != nil {
		return "", fmt.Errorf("paraphrase table %s: not a gzip file (%v); want METEOR 1.5's %s", named, err, MeteorParaphraseFile)
	}
	return named, nil
}
