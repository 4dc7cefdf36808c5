package metrics

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fileServer serves files by path, counting requests; unknown paths are 404.
type fileServer struct {
	mu       sync.Mutex
	files    map[string][]byte
	requests []string
}

func (s *fileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.URL.Path)
	data, ok := s.files[r.URL.Path]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Write(data)
}

func (s *fileServer) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.requests) }

// serveMeteorFiles serves the data files of dir under /meteor/ as the repository lays them out.
func serveMeteorFiles(t *testing.T, dir string) (*fileServer, string) {
	t.Helper()
	fs := &fileServer{files: map[string][]byte{}}
	for _, f := range meteorDataFiles {
		data, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil {
			t.Fatal(err)
		}
		fs.files["/meteor/"+f.repoPath] = data
	}
	srv := httptest.NewServer(fs)
	t.Cleanup(srv.Close)
	return fs, srv.URL
}

func TestLoadMeteorFetchesVerifiedFilesIntoTheCacheOnce(t *testing.T) {
	t.Setenv(MeteorDataEnv, "") // the default data folder is the cache, whatever the machine sets
	shared := sharedMeteorDir(t)
	fs, url := serveMeteorFiles(t, shared)
	cache := t.TempDir()
	var progress bytes.Buffer
	// The first mirror has nothing: every file comes from the second.
	opts := MeteorOptions{CacheDir: cache, Mirrors: []string{url + "/missing/", url + "/meteor/"}, Progress: &progress}
	m, err := LoadMeteor(opts)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name() != MeteorNoParaphraseName {
		t.Errorf("Name() = %q without a paraphrase table", m.Name())
	}
	for _, f := range meteorDataFiles {
		if _, err := readVerified(filepath.Join(cache, f.name), f); err != nil {
			t.Errorf("cache: %v", err)
		}
	}
	if n := fs.count(); n != 2*len(meteorDataFiles) {
		t.Errorf("%d requests for %d files from the second mirror", n, len(meteorDataFiles))
	}
	if !strings.Contains(progress.String(), "english.synsets: verified (sha256 "+meteorDataFiles[0].sha256+")") {
		t.Errorf("progress:\n%s", progress.String())
	}

	// Cached files are not fetched again; a damaged one is.
	if _, err := LoadMeteor(opts); err != nil || fs.count() != 2*len(meteorDataFiles) {
		t.Fatalf("second load: %v, %d requests", err, fs.count())
	}
	if err := os.WriteFile(filepath.Join(cache, "english.words"), []byte("the\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadMeteor(opts); err != nil || fs.count() != 2*len(meteorDataFiles)+2 {
		t.Fatalf("load after damage: %v, %d requests", err, fs.count())
	}

	// paraphrase-en.gz in the data folder brings the paraphrase module.
	sample, err := os.ReadFile(filepath.Join(shared, "paraphrase-sample.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cache, MeteorParaphraseFile), sample, 0o644); err != nil {
		t.Fatal(err)
	}
	if m, err := LoadMeteor(opts); err != nil || m.Name() != MeteorName {
		t.Fatalf("with %s in the cache: %v, %v", MeteorParaphraseFile, m, err)
	}
}

func TestLoadMeteorRefusesWrongOrMissingFiles(t *testing.T) {
	t.Setenv(MeteorDataEnv, "") // the default data folder is the cache, whatever the machine sets
	// A mirror serving other bytes: the download fails its SHA-256 check and nothing is kept.
	fs := &fileServer{files: map[string][]byte{}}
	for _, f := range meteorDataFiles {
		fs.files["/meteor/"+f.repoPath] = []byte("not the file\n")
	}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	cache := t.TempDir()
	_, err := LoadMeteor(MeteorOptions{CacheDir: cache, Mirrors: []string{srv.URL + "/meteor/"}, Progress: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "SHA-256") || !strings.Contains(err.Error(), "english.synsets") {
		t.Fatalf("wrong bytes: %v", err)
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Errorf("the cache keeps %v", entries)
	}

	// A data folder is read, never fetched into: missing files are named.
	dir := t.TempDir()
	_, err = LoadMeteor(MeteorOptions{DataDir: dir, Mirrors: []string{srv.URL + "/meteor/"}})
	want := "METEOR data folder " + dir + " lacks english.synsets, english.exceptions, english.words, english.prefixes"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("empty data folder: %v\nwant %s…", err, want)
	}
	// … and checked.
	for _, f := range meteorDataFiles {
		os.WriteFile(filepath.Join(dir, f.name), []byte("x\n"), 0o644)
	}
	if _, err := LoadMeteor(MeteorOptions{DataDir: dir}); err == nil || !strings.Contains(err.Error(), "SHA-256 is") {
		t.Fatalf("wrong files in the data folder: %v", err)
	}
}

func TestFindParaphrasesWantsAGzipFile(t *testing.T) {
	dir := t.TempDir()
	if p, err := findParaphrases("", dir); p != "" || err != nil {
		t.Fatalf("no table: %q, %v", p, err)
	}
	plain := filepath.Join(dir, "table.txt")
	os.WriteFile(plain, []byte("0.5\na\nb\n"), 0o644)
	if _, err := findParaphrases(plain, dir); err == nil || !strings.Contains(err.Error(), "not a gzip file") {
		t.Fatalf("plain text table: %v", err)
	}
	if _, err := findParaphrases(filepath.Join(dir, "none.gz"), dir); err == nil {
		t.Fatal("no error for a missing table")
	}
	gz := writeParaphrases(t, "a man", "a guy")
	if p, err := findParaphrases(gz, dir); p != gz || err != nil {
		t.Fatalf("gzip table: %q, %v", p, err)
	}
}
