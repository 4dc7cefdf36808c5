package datasets

import (
	"archive/zip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/attncap/attncap/internal/progress"
	"github.com/schollz/progressbar/v3"
)

// RemoteFile is one archive of a dataset, with the mirrors it can be fetched from and the
// digests it must match. At least one digest must be pinned.
type RemoteFile struct {
	Name   string   // file name on disk, e.g. Flickr8k_Dataset.zip
	URLs   []string // mirrors, tried in order
	SHA256 string   // hex digest; checked when set
	MD5    string   // hex digest; checked when set
}

// DownloadSpec is a downloadable dataset: its archives, extracted in order into one folder.
type DownloadSpec struct {
	Name  string
	Files []RemoteFile
}

// Flickr8kDownload fetches the Flickr8k release from the GitHub mirror users use today
// (jbrownlee/Datasets), falling back to a second public mirror of the same files. The MD5
// digests are those pinned by the mlverse/torchvision R package, which checks them on every
// download; the SHA-256 of what was verified is printed and kept next to the archive.
var Flickr8kDownload = DownloadSpec{
	Name: "flickr8k",
	Files: []RemoteFile{
		{
			Name: "Flickr8k_text.zip",
			URLs: []string{
				"https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/Flickr8k_text.zip",
				"https://github.com/Avaneesh40585/Flickr8k-Dataset/releases/download/v1.0/Flickr8k_text.zip",
			},
			MD5: "bf6c1abcb8e4a833b7f922104de18627",
		},
		{
			Name: "Flickr8k_Dataset.zip",
			URLs: []string{
				"https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/Flickr8k_Dataset.zip",
				"https://github.com/Avaneesh40585/Flickr8k-Dataset/releases/download/v1.0/Flickr8k_Dataset.zip",
			},
			MD5: "f18a1e2920de5bd84dae7cf08ec78978",
		},
	},
}

// DownloadSpecs lists the datasets `scripts/download -dataset NAME` knows.
var DownloadSpecs = map[string]DownloadSpec{"flickr8k": Flickr8kDownload}

// DownloadOptions tune Download.
type DownloadOptions struct {
	// Client makes the requests; nil means http.DefaultClient.
	Client *http.Client
	// Progress receives the progress bar and messages; nil means os.Stderr, io.Discard hides them.
	Progress io.Writer
	// KeepArchives keeps the verified archives after extraction (in DIR/.downloads).
	KeepArchives bool
}

// ChecksumError reports an archive whose digest is not the pinned one.
type ChecksumError struct {
	File, Algorithm, Want, Got string
}

// Error names the file and both digests.
func (e *ChecksumError) Error() string {
	return fmt.Sprintf("%s: %s is %s, want %s (corrupted or different file)", e.File, e.Algorithm, e.Got, e.Want)
}

// Download fetches every archive of spec into dir/.downloads (resuming a partial file with an
// HTTP Range request, trying mirrors in order), verifies its digests, and extracts it into dir
// (skipping __MACOSX/ entries and refusing entries that would land outside dir). Extraction
// goes to a staging folder whose top-level entries are renamed into place at the end, so an
// interrupted run never leaves a half-extracted dataset. Finished steps are skipped on a rerun.
func Download(ctx context.Context, spec DownloadSpec, dir string, opts DownloadOptions) error {
	if opts.Client == nil {
		opts.Client = http.DefaultClient
	}
	if opts.Progress == nil {
		opts.Progress = os.Stderr
	}
	cache := filepath.Join(dir, ".downloads")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return fmt.Errorf("download %s: %w", spec.Name, err)
	}
	for _, rf := range spec.Files {
		if rf.SHA256 == "" && rf.MD5 == "" {
			return fmt.Errorf("download %s: %s has no pinned digest", spec.Name, rf.Name)
		}
		done := filepath.Join(cache, rf.Name+".extracted")
		if fileExists(done) {
			fmt.Fprintf(opts.Progress, "%s: already downloaded and extracted\n", rf.Name)
			continue
		}
		archive := filepath.Join(cache, rf.Name)
		if err := fetchVerified(ctx, opts, rf, archive); err != nil {
			return fmt.Errorf("download %s: %w", spec.Name, err)
		}
		fmt.Fprintf(opts.Progress, "%s: extracting into %s\n", rf.Name, dir)
		if err := ExtractZip(archive, dir); err != nil {
			return fmt.Errorf("download %s: %w", spec.Name, err)
		}
		if err := os.WriteFile(done, nil, 0o644); err != nil {
			return fmt.Errorf("download %s: %w", spec.Name, err)
		}
		if !opts.KeepArchives {
			_ = os.Remove(archive)
		}
	}
	return nil
}

// FetchFile makes sure path holds rf with its pinned digests, for a single file that is not an
// archive: a file already there that matches is kept; otherwise rf is downloaded from its
// mirrors in turn (resuming a partial download), verified, and only then renamed into place.
func FetchFile(ctx context.Context, rf RemoteFile, path string, opts DownloadOptions) error {
	if rf.SHA256 == "" && rf.MD5 == "" {
		return fmt.Errorf("fetch %s: no pinned digest", rf.Name)
	}
	if opts.Client == nil {
		opts.Client = http.DefaultClient
	}
	if opts.Progress == nil {
		opts.Progress = os.Stderr
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("fetch %s: %w", rf.Name, err)
	}
	return fetchVerified(ctx, opts, rf, path)
}

// fetchVerified makes sure path holds rf with the pinned digests, downloading it if needed.
func fetchVerified(ctx context.Context, opts DownloadOptions, rf RemoteFile, path string) error {
	if fileExists(path) {
		if err := verifyFile(rf, path, opts.Progress); err == nil {
			return nil
		}
		_ = os.Remove(path) // a bad complete file: fetch again
	}
	part := path + ".part"
	var failures []string
	for _, url := range rf.URLs {
		err := fetchResuming(ctx, opts, url, part, rf.Name)
		if err == nil {
			if err = verifyFile(rf, part, opts.Progress); err == nil {
				return os.Rename(part, path)
			}
			_ = os.Remove(part) // wrong bytes: never resume from them
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		failures = append(failures, fmt.Sprintf("%s: %v", url, err))
		fmt.Fprintf(opts.Progress, "%s: %v; trying the next mirror\n", rf.Name, err)
	}
	return fmt.Errorf("%s: every mirror failed:\n  %s", rf.Name, strings.Join(failures, "\n  "))
}

// fetchResuming appends url's bytes to part, asking only for the missing tail when part
// already holds a prefix. A server that ignores Range gets the whole file again.
func fetchResuming(ctx context.Context, opts DownloadOptions, url, part, name string) error {
	var offset int64
	if info, err := os.Stat(part); err == nil {
		offset = info.Size()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := opts.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	flags := os.O_CREATE | os.O_WRONLY
	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		if start := contentRangeStart(resp.Header.Get("Content-Range")); start != offset {
			return fmt.Errorf("server resumed at byte %d, asked for %d", start, offset)
		}
		flags |= os.O_APPEND
		fmt.Fprintf(opts.Progress, "%s: resuming at byte %d\n", name, offset)
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && offset > 0:
		return nil // the partial file is already whole; verification decides
	case resp.StatusCode == http.StatusOK:
		flags |= os.O_TRUNC
		offset = 0
	default:
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return err
	}
	total := int64(-1)
	if resp.ContentLength >= 0 {
		total = offset + resp.ContentLength
	}
	var dst io.Writer = f
	bar := progress.New(opts.Progress, total, name, progressbar.OptionShowBytes(true), progressbar.OptionSetPredictTime(true))
	if bar != nil {
		_ = bar.Set64(offset)
		dst = io.MultiWriter(f, bar)
	}
	n, copyErr := io.Copy(dst, resp.Body)
	closeErr := f.Close()
	if bar != nil {
		_ = bar.Finish()
	}
	if copyErr != nil {
		return fmt.Errorf("transfer broke off after %d bytes (rerun to resume): %w", offset+n, copyErr)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("transfer ended after %d of %d bytes (rerun to resume)", offset+n, total)
	}
	return closeErr
}

// contentRangeStart parses the first byte of "bytes START-END/TOTAL", or -1.
func contentRangeStart(h string) int64 {
	rest, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return -1
	}
	startStr, _, _ := strings.Cut(rest, "-")
	start, err := strconv.ParseInt(startStr, 10, 64)
	if err != nil {
		return -1
	}
	return start
}

// verifyFile checks the pinned digests of a file and prints its SHA-256.
func verifyFile(rf RemoteFile, path string, progress io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	hSHA, hMD5 := sha256.New(), md5.New()
	if _, err := io.Copy(io.MultiWriter(hSHA, hMD5), f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, c := range []struct {
		alg, want string
		h         hash.Hash
	}{{"SHA-256", rf.SHA256, hSHA}, {"MD5", rf.MD5, hMD5}} {
		got := hex.EncodeToString(c.h.Sum(nil))
		if c.want != "" && !strings.EqualFold(got, c.want) {
			return &ChecksumError{File: rf.Name, Algorithm: c.alg, Want: c.want, Got: got}
		}
	}
	fmt.Fprintf(progress, "%s: verified (sha256 %x)\n", rf.Name, hSHA.Sum(nil))
	return nil
}

// ExtractZip extracts a zip archive into dir. Entries under __MACOSX/ and .DS_Store files are
// skipped; an entry whose path is absolute or climbs out of dir is an error (nothing is
// written). Files are written into a staging folder inside dir and its top-level entries
// renamed into place at the end; an existing entry of the same name is replaced.
func ExtractZip(archive, dir string) error {
	zr, err := zip.OpenReader(archive)
	if err != nil {
		return fmt.Errorf("%s: not a readable zip archive: %w", archive, err)
	}
	defer zr.Close()
	// Check every name before writing anything.
	for _, f := range zr.File {
		if skipZipEntry(f.Name) {
			continue
		}
		if _, err := safeZipPath(f.Name); err != nil {
			return fmt.Errorf("%s: %w", archive, err)
		}
	}
	staging, err := os.MkdirTemp(dir, ".extract-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(staging)
	for _, f := range zr.File {
		if skipZipEntry(f.Name) {
			continue
		}
		rel, _ := safeZipPath(f.Name)
		target := filepath.Join(staging, rel)
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			continue
		}
		if !f.Mode().IsRegular() {
			continue // links and devices are not part of any dataset
		}
		if err := extractZipFile(f, target); err != nil {
			return fmt.Errorf("%s: %s: %w", archive, f.Name, err)
		}
	}
	entries, err := os.ReadDir(staging)
	if err != nil {
		return err
	}
	for _, e := range entries {
		dst := filepath.Join(dir, e.Name())
		if err := os.RemoveAll(dst); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(staging, e.Name()), dst); err != nil {
			return err
		}
	}
	return nil
}

func skipZipEntry(name string) bool {
	name = strings.ReplaceAll(name, "\\", "/")
	return strings.HasPrefix(name, "__MACOSX/") || strings.Contains(name, "/__MACOSX/") ||
		filepath.Base(name) == ".DS_Store"
}

// safeZipPath returns the entry's relative path, or an error if it is absolute or escapes.
func safeZipPath(name string) (string, error) {
	n := strings.ReplaceAll(name, "\\", "/")
	if strings.HasPrefix(n, "/") || filepath.IsAbs(n) || (len(n) > 1 && n[1] == ':') {
		return "", fmt.Errorf("entry %q has an absolute path; refusing to extract", name)
	}
	clean := filepath.Clean(filepath.FromSlash(n))
	if clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("entry %q would be written outside the target folder; refusing to extract", name)
	}
	return clean, nil
}

func extractZipFile(f *zip.File, target string) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, rc)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
