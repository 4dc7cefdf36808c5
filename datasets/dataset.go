// Package datasets reads image-captioning datasets from disk into one in-memory form — each
// image's path, its captions and its split — and prepares their images as normalised float32
// tensors.
//
// Layouts read by Load: the official Flickr8k release (Flickr8k.token.txt, Flickr_8k.*Images.txt
// and an image folder), Karpathy's split files (dataset_flickr8k.json, dataset_flickr30k.json,
// dataset_coco.json), Kaggle's captions.txt with an Images/ folder, and COCO caption annotation
// files (captions_train2014.json). A folder loads exactly as the file that names its layout
// does, and LoadOptions.Images names the image folder of any layout. The built-in synthetic
// "shapes" set is written in the Flickr8k layout (see GenerateShapes) so the same reader loads
// it. The COCO formats (COCOCaptions, COCOResult, COCOID) are shared with the evaluator.
//
// Bad data never crashes a load and never silently shifts data: malformed lines are counted and
// named in Dataset.Warnings; a file of the wrong kind (an instances file, a results list) or a
// malformed JSON entry is an error naming the file and the entry; and images listed but missing
// on disk are an error (MissingImagesError: where the loader looked, what to do) unless
// LoadOptions.AllowMissing drops them.
package datasets

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Split is the part of a dataset an image belongs to.
type Split string

// The three splits. Karpathy's "restval" counts as Train; Flickr8k's "dev" list is Val.
const (
	Train Split = "train"
	Val   Split = "val"
	Test  Split = "test"
)

// Splits lists the splits in their usual order.
var Splits = []Split{Train, Val, Test}

// ParseSplit accepts train/val/test and their common aliases (dev, valid, validation, restval).
func ParseSplit(s string) (Split, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "train", "restval":
		return Train, nil
	case "val", "dev", "valid", "validation":
		return Val, nil
	case "test":
		return Test, nil
	}
	return "", fmt.Errorf("unknown split %q: want train, val or test", s)
}

// Example is one image with all its captions.
type Example struct {
	// Image is the path of the image file.
	Image string
	// Captions are the raw caption strings, as written in the dataset.
	Captions []string
	// Split is the part of the dataset the image belongs to.
	Split Split
}

// Dataset is every usable image of a dataset with its captions and split.
type Dataset struct {
	// Name says which layout was read and from where, for messages.
	Name string
	// Examples in a deterministic order (sorted by image name within the source's order rules).
	Examples []Example
	// Warnings about bad data that was skipped: malformed lines, bogus keys, dropped images.
	Warnings []string
	// Missing is the number of images listed by the dataset but absent on disk (only non-zero
	// when LoadOptions.AllowMissing let the load go on without them).
	Missing int
}

// Split returns the examples of one split, in order.
func (d *Dataset) Split(s Split) []Example {
	var out []Example
	for _, e := range d.Examples {
		if e.Split == s {
			out = append(out, e)
		}
	}
	return out
}

// CountSplit returns the number of images and captions in one split.
func (d *Dataset) CountSplit(s Split) (images, captions int) {
	for _, e := range d.Examples {
		if e.Split == s {
			images++
			captions += len(e.Captions)
		}
	}
	return
}

func (d *Dataset) warnf(format string, args ...any) {
	d.Warnings = append(d.Warnings, fmt.Sprintf(format, args...))
}

// LoadOptions tune Load.
type LoadOptions struct {
	// Images is the image folder, for every layout; empty means the folder found by name beside
	// the dataset's files (see each loader). A path that is not a folder is an error.
	Images string
	// AllowMissing drops images that are listed but absent on disk (with a warning) instead of
	// failing.
	AllowMissing bool
	// Split forces the split of every image of a COCO annotation file; empty means guessed from
	// the file name (train2014 → train, val2014 → val, test → test).
	Split Split
}

// MissingImagesError reports images listed by a dataset but not found on disk: where the loader
// looked and why there, and what to do (pass -images DIR, download the images for a layout
// scripts/download can fetch, or -allow-missing).
type MissingImagesError struct {
	// Dataset names the dataset, as Dataset.Name.
	Dataset string
	// Dir is the image folder looked in.
	Dir string
	// Why says how Dir was chosen when its name does not ("the -images folder"); may be "".
	Why string
	// Download is the command that fetches the images, for the layouts scripts/download knows
	// (Flickr8k); "" for the others.
	Download string
	// Missing are the file names of the missing images, in the dataset's order.
	Missing []string
}

// Error names how many images are missing and the first few, where they were looked for and
// what to do.
func (e *MissingImagesError) Error() string {
	where := e.Dir
	if e.Why != "" {
		where += " (" + e.Why + ")"
	}
	fix := "pass the image folder with -images DIR, or -allow-missing to drop them"
	if e.Download != "" {
		fix = "download them (" + e.Download + "), " + fix
	}
	return fmt.Sprintf("%s: %d listed images are missing from %s (first: %s); %s",
		e.Dataset, len(e.Missing), where, strings.Join(firstN(e.Missing, 5), ", "), fix)
}

// imageSource is the folder a loader reads images from, with what a MissingImagesError says
// about it.
type imageSource struct {
	Dir, Why, Download string
}

// givenImageDir is the -images folder, which must exist.
func givenImageDir(dir string) (imageSource, error) {
	if !dirExists(dir) {
		return imageSource{}, fmt.Errorf("-images %s: no such folder", dir)
	}
	return imageSource{Dir: dir, Why: "the -images folder"}, nil
}

// folderList writes folder names as "A/, B/ or C/".
func folderList(names []string) string {
	var s []string
	for _, n := range names {
		s = append(s, n+"/")
	}
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// flickr8kDownloadCommand is the command that fetches Flickr8k into dir.
func flickr8kDownloadCommand(dir string) string {
	return "go run ./scripts/download -dataset flickr8k -dir " + dir
}

// Load reads the dataset at path, detecting its layout: a Flickr8k-layout folder, a Kaggle
// captions.txt folder, a Karpathy split JSON or a COCO captions JSON. A folder and the file that
// names its layout (Flickr8k.token.txt, captions.txt, dataset_*.json, the one captions_*.json
// at its top or under annotations/) load the same examples. An unknown layout is an error that
// lists what was looked for.
func Load(path string, opts LoadOptions) (*Dataset, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w (try `go run ./scripts/download -dataset flickr8k -dir DIR`, or -data shapes to run offline)", path, err)
	}
	if info.IsDir() {
		return loadFolder(path, opts)
	}
	return loadFile(path, opts)
}

// loadFile reads the dataset a file names: a Karpathy/COCO .json, Kaggle's captions.txt, or
// Flickr8k.token.txt (at the top of a Flickr8k folder or in its Flickr8k_text/).
func loadFile(path string, opts LoadOptions) (*Dataset, error) {
	switch {
	case strings.HasSuffix(strings.ToLower(path), ".json"):
		return loadJSON(path, opts)
	case filepath.Base(path) == "captions.txt":
		return LoadKaggle(filepath.Dir(path), opts)
	case filepath.Base(path) == flickr8kTokenFile:
		dir := filepath.Dir(path)
		if filepath.Base(dir) == "Flickr8k_text" && findImageDir(dir, Flickr8kImageDirs) == "" {
			dir = filepath.Dir(dir)
		}
		return LoadFlickr8k(dir, opts)
	}
	return nil, fmt.Errorf("dataset %s: a file that is none of a Karpathy/COCO .json, captions.txt (Kaggle) or %s (Flickr8k); "+
		"pass the dataset folder or one of those files", path, flickr8kTokenFile)
}

// loadFolder detects the layout of a dataset folder.
func loadFolder(path string, opts LoadOptions) (*Dataset, error) {
	if tokenFile := findFlickr8kTokenFile(path); tokenFile != "" {
		return LoadFlickr8k(path, opts)
	}
	if _, err := os.Stat(filepath.Join(path, "captions.txt")); err == nil {
		return LoadKaggle(path, opts)
	}
	for _, name := range []string{"dataset_flickr8k.json", "dataset_flickr30k.json", "dataset_coco.json"} {
		if p := filepath.Join(path, name); fileExists(p) {
			return LoadKarpathy(p, opts)
		}
	}
	coco := findCOCOCaptionFiles(path)
	switch {
	case len(coco) == 1:
		return LoadCOCO(coco[0], opts)
	case len(coco) > 1:
		return nil, fmt.Errorf("dataset %s: holds %d COCO caption files (%s), each one split; pass one of them as the dataset", path, len(coco), strings.Join(coco, ", "))
	}
	return nil, fmt.Errorf("dataset %s: unknown layout; looked for %s (Flickr8k, also under Flickr8k_text/), "+
		"captions.txt + Images/ (Kaggle), dataset_flickr8k.json, dataset_flickr30k.json or dataset_coco.json (Karpathy), "+
		"captions_*.json (COCO, also under annotations/) — or pass a Karpathy/COCO .json file with -images DIR", path, flickr8kTokenFile)
}

// findCOCOCaptionFiles lists the captions_*.json files at the top of dir and under
// annotations/, sorted.
func findCOCOCaptionFiles(dir string) []string {
	var found []string
	for _, sub := range []string{dir, filepath.Join(dir, "annotations")} {
		matches, _ := filepath.Glob(filepath.Join(sub, "captions_*.json"))
		for _, m := range matches {
			if fileExists(m) {
				found = append(found, m)
			}
		}
	}
	sort.Strings(found)
	return found
}

// loadJSON tells a Karpathy split file from a COCO annotation file by its top-level keys.
func loadJSON(path string, opts LoadOptions) (*Dataset, error) {
	kind, err := sniffJSON(path)
	if err != nil {
		return nil, err
	}
	if kind == "coco" {
		return LoadCOCO(path, opts)
	}
	return LoadKarpathy(path, opts)
}

// resolveImages checks every example's image on disk; missing ones are an error naming src or,
// with AllowMissing, dropped with a warning. Examples keep their order.
func (d *Dataset) resolveImages(src imageSource, allowMissing bool) error {
	var missing []string
	kept := d.Examples[:0]
	for _, e := range d.Examples {
		if fileExists(e.Image) {
			kept = append(kept, e)
		} else {
			missing = append(missing, filepath.Base(e.Image))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if !allowMissing {
		return &MissingImagesError{Dataset: d.Name, Dir: src.Dir, Why: src.Why, Download: src.Download, Missing: missing}
	}
	d.Examples = kept
	d.Missing = len(missing)
	d.warnf("%d listed images missing from %s were dropped (first: %s)", len(missing), src.Dir, strings.Join(firstN(missing, 5), ", "))
	return nil
}

// sortExamples orders examples by split (train, val, test) then image path, so that every
// layout gives a reproducible order.
func (d *Dataset) sortExamples() {
	rank := map[Split]int{Train: 0, Val: 1, Test: 2}
	sort.SliceStable(d.Examples, func(i, j int) bool {
		a, b := d.Examples[i], d.Examples[j]
		if a.Split != b.Split {
			return rank[a.Split] < rank[b.Split]
		}
		return a.Image < b.Image
	})
}

func fileExists(p string) bool {
	info, err := os.Stat(p)
	return err == nil && !info.IsDir()
}

func dirExists(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.IsDir()
}
