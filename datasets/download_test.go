package datasets

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// makeZip builds a zip archive from name → content (a name ending in / is a folder).
func makeZip(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, content)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// mirror serves one file with Range support (http.ServeContent); its behaviour can make it
// fail: 404, cut the body after some bytes, or serve other bytes.
type mirror struct {
	mu       sync.Mutex
	data     []byte
	notFound bool
	cutAfter int // >0: send the full Content-Length but close after this many bytes (once)
	ranges   []string
}

func (m *mirror) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.ranges = append(m.ranges, r.Header.Get("Range"))
	cut := m.cutAfter
	m.cutAfter = 0
	m.mu.Unlock()
	if m.notFound {
		http.NotFound(w, r)
		return
	}
	if cut > 0 && r.Header.Get("Range") == "" {
		w.Header().Set("Content-Length", strconv.Itoa(len(m.data)))
		w.WriteHeader(http.StatusOK)
		w.Write(m.data[:cut])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection mid-body
	}
	http.ServeContent(w, r, "f.zip", time.Time{}, bytes.NewReader(m.data))
}

func specFor(data []byte, urls ...string) DownloadSpec {
	return DownloadSpec{Name: "test", Files: []RemoteFile{{Name: "set.zip", URLs: urls, SHA256: sha(data)}}}
}

func TestDownloadVerifiesAndExtracts(t *testing.T) {
	data := makeZip(t, map[string]string{
		"Flicker8k_Dataset/a.jpg": "AAAA", "readme.txt": "hi",
		"__MACOSX/Flicker8k_Dataset/._a.jpg": "junk", "Flicker8k_Dataset/.DS_Store": "junk",
	})
	srv := httptest.NewServer(&mirror{data: data})
	defer srv.Close()
	dir := t.TempDir()
	var log bytes.Buffer
	if err := Download(context.Background(), specFor(data, srv.URL), dir, DownloadOptions{Progress: &log}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "Flicker8k_Dataset", "a.jpg")); string(b) != "AAAA" {
		t.Fatalf("a.jpg = %q", b)
	}
	for _, junk := range []string{"__MACOSX", "Flicker8k_Dataset/.DS_Store"} {
		if _, err := os.Stat(filepath.Join(dir, junk)); err == nil {
			t.Errorf("%s was extracted", junk)
		}
	}
	if !strings.Contains(log.String(), "verified (sha256 "+sha(data)) {
		t.Errorf("log lacks the verified digest:\n%s", log.String())
	}
	// A rerun skips the finished file without any request.
	srv.Close()
	log.Reset()
	if err := Download(context.Background(), specFor(data, srv.URL), dir, DownloadOptions{Progress: &log}); err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if !strings.Contains(log.String(), "already downloaded") {
		t.Errorf("rerun log: %s", log.String())
	}
}

func TestDownloadResumesATruncatedTransfer(t *testing.T) {
	data := makeZip(t, map[string]string{"big.bin": strings.Repeat("0123456789", 5000)})
	m := &mirror{data: data, cutAfter: len(data) / 3}
	srv := httptest.NewServer(m)
	defer srv.Close()
	dir := t.TempDir()
	spec := specFor(data, srv.URL)
	err := Download(context.Background(), spec, dir, DownloadOptions{Progress: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "rerun to resume") {
		t.Fatalf("first run: err = %v, want a broken-transfer error", err)
	}
	part := filepath.Join(dir, ".downloads", "set.zip.part")
	info, statErr := os.Stat(part)
	if statErr != nil || info.Size() != int64(len(data)/3) {
		t.Fatalf("partial file: %v, %v", info, statErr)
	}
	if err := Download(context.Background(), spec, dir, DownloadOptions{Progress: io.Discard}); err != nil {
		t.Fatal(err)
	}
	want := "bytes=" + strconv.Itoa(len(data)/3) + "-"
	if last := m.ranges[len(m.ranges)-1]; last != want {
		t.Fatalf("resume asked for Range %q, want %q", last, want)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "big.bin")); len(b) != 50000 {
		t.Fatalf("extracted %d bytes", len(b))
	}
}

func TestDownloadFallsBackOnBadMirrors(t *testing.T) {
	data := makeZip(t, map[string]string{"x.txt": "x"})
	missing := httptest.NewServer(&mirror{notFound: true})
	defer missing.Close()
	corrupt := httptest.NewServer(&mirror{data: append(append([]byte{}, data[:len(data)-1]...), data[len(data)-1]^0xff)})
	defer corrupt.Close()
	good := httptest.NewServer(&mirror{data: data})
	defer good.Close()
	dir := t.TempDir()
	var log bytes.Buffer
	err := Download(context.Background(), specFor(data, missing.URL, corrupt.URL, good.URL), dir, DownloadOptions{Progress: &log})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "404") || !strings.Contains(log.String(), "SHA-256") {
		t.Errorf("log should report the 404 and the checksum mismatch:\n%s", log.String())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "x.txt")); string(b) != "x" {
		t.Fatal("x.txt not extracted")
	}
}

func TestDownloadReportsEveryFailure(t *testing.T) {
	data := makeZip(t, map[string]string{"x.txt": "x"})
	other := makeZip(t, map[string]string{"y.txt": "y"})
	missing := httptest.NewServer(&mirror{notFound: true})
	defer missing.Close()
	wrong := httptest.NewServer(&mirror{data: other})
	defer wrong.Close()
	dir := t.TempDir()
	err := Download(context.Background(), specFor(data, missing.URL, wrong.URL), dir, DownloadOptions{Progress: io.Discard})
	if err == nil {
		t.Fatal("no error when every mirror fails")
	}
	for _, s := range []string{"every mirror failed", missing.URL, "404", wrong.URL, sha(other), sha(data)} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %q:\n%v", s, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".downloads", "set.zip.part")); err == nil {
		t.Error("a corrupted partial file was kept")
	}
	if _, err := os.Stat(filepath.Join(dir, "y.txt")); err == nil {
		t.Error("a file that failed verification was extracted")
	}
}

func TestDownloadChecksMD5Pins(t *testing.T) {
	data := makeZip(t, map[string]string{"x.txt": "x"})
	srv := httptest.NewServer(&mirror{data: data})
	defer srv.Close()
	sum := md5.Sum(data)
	spec := DownloadSpec{Name: "t", Files: []RemoteFile{{Name: "x.zip", URLs: []string{srv.URL}, MD5: hex.EncodeToString(sum[:])}}}
	if err := Download(context.Background(), spec, t.TempDir(), DownloadOptions{Progress: io.Discard}); err != nil {
		t.Fatal(err)
	}
	spec.Files[0].MD5 = strings.Repeat("0", 32)
	err := Download(context.Background(), spec, t.TempDir(), DownloadOptions{Progress: io.Discard})
	var ce *ChecksumError
	if !errors.As(err, &ce) && !strings.Contains(err.Error(), "MD5") {
		t.Fatalf("wrong MD5 pin: err = %v", err)
	}
	spec.Files[0].MD5 = ""
	if err := Download(context.Background(), spec, t.TempDir(), DownloadOptions{Progress: io.Discard}); err == nil || !strings.Contains(err.Error(), "no pinned digest") {
		t.Fatalf("unpinned file: err = %v", err)
	}
}

func TestExtractZipRefusesEscapingPaths(t *testing.T) {
	for _, name := range []string{"../evil.txt", "a/../../evil.txt", "/abs/evil.txt"} {
		dir := t.TempDir()
		target := filepath.Join(dir, "inner")
		os.MkdirAll(target, 0o755)
		archive := filepath.Join(dir, "bad.zip")
		os.WriteFile(archive, makeZip(t, map[string]string{"ok.txt": "ok", name: "evil"}), 0o644)
		err := ExtractZip(archive, target)
		if err == nil || !strings.Contains(err.Error(), "refusing") {
			t.Errorf("%s: err = %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "evil.txt")); err == nil {
			t.Errorf("%s escaped the target folder", name)
		}
		if _, err := os.Stat(filepath.Join(target, "ok.txt")); err == nil {
			t.Errorf("%s: files were written before the archive was refused", name)
		}
	}
	// A file that is not a zip names itself.
	notZip := filepath.Join(t.TempDir(), "x.zip")
	os.WriteFile(notZip, []byte("nope"), 0o644)
	if err := ExtractZip(notZip, t.TempDir()); err == nil || !strings.Contains(err.Error(), notZip) {
		t.Errorf("non-zip: err = %v", err)
	}
}

func TestFlickr8kSpecIsPinned(t *testing.T) {
	for _, f := range Flickr8kDownload.Files {
		if len(f.MD5) != 32 && len(f.SHA256) != 64 {
			t.Errorf("%s has no pinned digest", f.Name)
		}
		if len(f.URLs) == 0 || !strings.HasPrefix(f.URLs[0], "https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/") {
			t.Errorf("%s: first mirror %v", f.Name, f.URLs)
		}
	}
}

func TestFetchFileKeepsOnlyVerifiedFiles(t *testing.T) {
	data := []byte("one data file\n")
	good := httptest.NewServer(&mirror{data: data})
	defer good.Close()
	path := filepath.Join(t.TempDir(), "sub", "file.txt")
	rf := RemoteFile{Name: "file.txt", URLs: []string{good.URL}, SHA256: sha(data)}
	if err := FetchFile(context.Background(), rf, path, DownloadOptions{Progress: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("fetched %q, %v", got, err)
	}
	rf.SHA256 = sha([]byte("other bytes"))
	os.Remove(path)
	if err := FetchFile(context.Background(), rf, path, DownloadOptions{Progress: io.Discard}); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("wrong digest: %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("a file that failed its check was kept")
	}
	if err := FetchFile(context.Background(), RemoteFile{Name: "x", URLs: []string{good.URL}}, path, DownloadOptions{}); err == nil {
		t.Fatal("no error for a file without a pinned digest")
	}
}
