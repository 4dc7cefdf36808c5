// Package datasets reads image-captioning datasets from disk into one in-memory form — each
// image's path, its captions and its split — and prepares their images as normalised float32
// tensors.
//
// Layouts read by Load: the official Flickr8k release (Flickr8k.token.txt, Flickr_8k.*Images.txt
// and an image folder), Karpathy's split files (dataset_flickr8k.json, dataset_flickr30k.json,
// dataset_coco.json), Kaggle's captions.txt with an Images/ folder, and COCO caption annotation
// files (captions_train2014.json). The built-in synthetic "shapes" set is written in the
// Flickr8k layout (see GenerateShapes) so the same reader loads it.
//
// Bad data never crashes a load and never silently shifts data: malformed lines are counted and
// named in Dataset.Warnings, and images listed but missing on disk are an error unless
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
	// Images is the image folder, for layouts whose annotation file does not sit next to the
	// images (Karpathy JSON, COCO JSON). Empty: looked for next to the annotation file.
	Images string
	// AllowMissing drops images that are listed but absent on disk (with a warning) instead of
	// failing.
	AllowMissing bool
	// Split forces the split of every image of a COCO annotation file; empty means guessed from
	// the file name (train2014 → train, val2014 → val, test → test).
	Split Split
}

// MissingImagesError reports images listed by a dataset but not found on disk.
type MissingImagesError struct {
	Dataset string
	Dir     string
	Missing []string
}

// Error names how many images are missing and the first few.
func (e *MissingImagesError) Error() string {
	const show = 5
	first := e.Missing
	if len(first) > show {
		first = first[:show]
	}
	return fmt.Sprintf("%s: %d listed images are missing from %s (first: %s); download the images "+
		"(go run ./scripts/download) or pass -allow-missing to drop them",
		e.Dataset, len(e.Missing), e.Dir, strings.Join(first, ", "))
}

// Load reads the dataset at path, detecting its layout: a Flickr8k-layout folder, a Kaggle
// captions.txt folder, a Karpathy split JSON or a COCO captions JSON. An unknown layout is an
// error that lists what was looked for.
func Load(path string, opts LoadOptions) (*Dataset, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w (try `go run ./scripts/download -dataset flickr8k -dir DIR`, or -data shapes to run offline)", path, err)
	}
	if !info.IsDir() {
		if strings.HasSuffix(strings.ToLower(path), ".json") {
			return loadJSON(path, opts)
		}
		if filepath.Base(path) == "captions.txt" {
			return LoadKaggle(filepath.Dir(path), opts)
		}
		return nil, fmt.Errorf("dataset %s: a file that is neither a Karpathy/COCO .json nor captions.txt", path)
	}
	if tokenFile := findFlickr8kTokenFile(path); tokenFile != "" {
		return LoadFlickr8k(path, opts)
	}
	if _, err := os.Stat(filepath.Join(path, "captions.txt")); err == nil {
		return LoadKaggle(path, opts)
	}
	for _, name := range []string{"dataset_flickr8k.json", "dataset_flickr30k.json", "dataset_coco.json"} {
		if p := filepath.Join(path, name); fileExists(p) {
			if opts.Images == "" {
				opts.Images = path
			}
			return LoadKarpathy(p, opts)
		}
	}
	return nil, fmt.Errorf("dataset %s: unknown layout; looked for %s (Flickr8k, also under Flickr8k_text/), "+
		"captions.txt + Images/ (Kaggle), dataset_flickr8k.json, dataset_flickr30k.json or dataset_coco.json (Karpathy) — or pass a "+
		"Karpathy/COCO .json file with -images DIR", path, flickr8kTokenFile)
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

// resolveImages checks every example's image on disk; missing ones are an error or, with
// AllowMissing, dropped with a warning. Examples keep their order.
func (d *Dataset) resolveImages(dir string, allowMissing bool) error {
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
		return &MissingImagesError{Dataset: d.Name, Dir: dir, Missing: missing}
	}
	d.Examples = kept
	d.Missing = len(missing)
	first := missing
	if len(first) > 5 {
		first = first[:5]
	}
	d.warnf("%d listed images missing from %s were dropped (first: %s)", len(missing), dir, strings.Join(first, ", "))
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
