package datasets

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/attncap/attncap/internal/jsonfile"
)

// karpathyFile is the layout of Karpathy's dataset_{flickr8k,flickr30k,coco}.json.
type karpathyFile struct {
	Dataset string `json:"dataset"`
	Images  []struct {
		FilePath  string `json:"filepath"`
		FileName  string `json:"filename"`
		Split     string `json:"split"`
		Sentences []struct {
			Raw string `json:"raw"`
		} `json:"sentences"`
	} `json:"images"`
}

// datasetJSONShape says what a dataset .json file holds, for messages.
const datasetJSONShape = `a Karpathy split file (dataset_*.json: {"images": [{"filename", "split", "sentences"}, …]}) or a COCO captions annotation file (captions_*.json: {"images", "annotations"})`

// sniffJSON says whether a JSON file is a COCO annotation file ("coco": has "annotations") or a
// Karpathy split file ("karpathy": images with sentences).
func sniffJSON(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("dataset: %w", err)
	}
	if err := jsonfile.Check(path, data, datasetJSONShape); err != nil {
		return "", err
	}
	top, ok := jsonfile.Object(data)
	switch {
	case !ok && jsonfile.Kind(data) == "a list":
		return "", fmt.Errorf("%s: a JSON list, as a COCO results file is; a dataset is %s", path, datasetJSONShape)
	case !ok:
		return "", fmt.Errorf("%s: %s, want %s", path, jsonfile.Kind(data), datasetJSONShape)
	}
	if _, ok := top["annotations"]; ok {
		return "coco", nil
	}
	if _, ok := top["images"]; ok {
		return "karpathy", nil
	}
	return "", fmt.Errorf("%s: a JSON object with neither \"annotations\" (COCO captions) nor \"images\" (Karpathy split); it has %s; want %s",
		path, jsonfile.Keys(top), datasetJSONShape)
}

// karpathyImageDirs are the image folders looked for beside a Karpathy split file, in order.
var karpathyImageDirs = append(append([]string{}, Flickr8kImageDirs...), "flickr30k-images", "flickr30k_images")

// karpathyImages chooses the image folder of a Karpathy split file: the -images folder, else
// the first of karpathyImageDirs beside the file, else the file's own folder (COCO's split file
// sits beside train2014/ and val2014/, which its entries' "filepath" name).
func karpathyImages(path, dataset, given string) (imageSource, error) {
	src := imageSource{}
	if given != "" {
		var err error
		if src, err = givenImageDir(given); err != nil {
			return src, err
		}
	} else if dir := findImageDir(filepath.Dir(path), karpathyImageDirs); dir != "" {
		src.Dir = dir
	} else {
		src.Dir = filepath.Dir(path)
		src.Why = "the JSON file's own folder, as none of " + folderList(karpathyImageDirs) + " is in it"
	}
	if dataset == "flickr8k" {
		src.Download = flickr8kDownloadCommand(filepath.Dir(path))
	}
	return src, nil
}

// LoadKarpathy reads one of Karpathy's split files. Image paths are the image folder joined with
// each entry's filepath (COCO's train2014/val2014) and filename; the folder is opts.Images, or
// (see karpathyImages) the first of Flickr8kImageDirs, flickr30k-images, flickr30k_images found
// beside the file, or the file's own folder. "restval" images count as train. The folder form
// of Load (a folder holding the split file) reads the file exactly so.
func LoadKarpathy(path string, opts LoadOptions) (*Dataset, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("karpathy split: %w", err)
	}
	if err := jsonfile.Check(path, data, datasetJSONShape); err != nil {
		return nil, err
	}
	var kf karpathyFile
	if err := json.Unmarshal(data, &kf); err != nil {
		return nil, jsonfile.Describe(path, data, err)
	}
	src, err := karpathyImages(path, kf.Dataset, opts.Images)
	if err != nil {
		return nil, err
	}
	imageDir := src.Dir
	d := &Dataset{Name: "karpathy " + path}
	badSplit, noCaption := 0, 0
	for i, img := range kf.Images {
		split, err := ParseSplit(img.Split)
		if err != nil || img.FileName == "" {
			badSplit++
			if badSplit <= 5 {
				d.warnf("%s: image entry %d (%q) has split %q or no filename; skipped", path, i, img.FileName, img.Split)
			}
			continue
		}
		var caps []string
		for _, s := range img.Sentences {
			if c := strings.TrimSpace(s.Raw); c != "" {
				caps = append(caps, c)
			}
		}
		if len(caps) == 0 {
			noCaption++
			continue
		}
		d.Examples = append(d.Examples, Example{Image: filepath.Join(imageDir, img.FilePath, img.FileName), Captions: caps, Split: split})
	}
	if badSplit > 5 {
		d.warnf("%s: %d image entries skipped in all for a bad split or filename", path, badSplit)
	}
	if noCaption > 0 {
		d.warnf("%s: %d images without captions skipped", path, noCaption)
	}
	if len(d.Examples) == 0 {
		return nil, fmt.Errorf("karpathy split %s: no image with captions", path)
	}
	d.sortExamples()
	if err := d.resolveImages(src, opts.AllowMissing); err != nil {
		return nil, err
	}
	return d, nil
}

// LoadCOCO reads a COCO captions annotation file (checked by ParseCOCOCaptions: an instances
// file or a malformed entry is an error). All its images get opts.Split, or the split named in
// the file name (train2014 → train, val2014 → val, test → test). The image folder is
// opts.Images, or the folder named like the split part of the file name (train2014/) beside the
// file or beside its parent folder. Captions that are empty or name no listed image, and images
// without a caption or a file name, are skipped with a warning.
func LoadCOCO(path string, opts LoadOptions) (*Dataset, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("coco annotations: %w", err)
	}
	cf, err := ParseCOCOCaptions(path, data)
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)) // captions_train2014
	part := base[strings.LastIndex(base, "_")+1:]                       // train2014
	split, err := cocoSplit(path, part, opts.Split)
	if err != nil {
		return nil, err
	}
	src, err := cocoImages(path, part, opts.Images)
	if err != nil {
		return nil, err
	}
	d := &Dataset{Name: "coco " + path}
	byID := d.addCOCOImages(path, cf.Images, src.Dir, split)
	d.addCOCOCaptions(path, cf.Annotations, byID)
	if len(d.Examples) == 0 {
		return nil, fmt.Errorf("coco annotations %s: no image with a caption (%d images, %d captions; see the warnings: %s)",
			path, len(cf.Images), len(cf.Annotations), strings.Join(d.Warnings, "; "))
	}
	d.sortExamples()
	if err := d.resolveImages(src, opts.AllowMissing); err != nil {
		return nil, err
	}
	return d, nil
}

// cocoSplit is the split forced by opts, or the one named by the file name's last part.
func cocoSplit(path, part string, forced Split) (Split, error) {
	switch {
	case forced != "":
		return forced, nil
	case strings.HasPrefix(part, "train"):
		return Train, nil
	case strings.HasPrefix(part, "val"):
		return Val, nil
	case strings.HasPrefix(part, "test"):
		return Test, nil
	}
	return "", fmt.Errorf("coco annotations %s: cannot tell the split from the file name (want captions_train*, captions_val* or captions_test*); pass it explicitly", path)
}

// cocoImages chooses the image folder of a COCO annotation file: the -images folder, else the
// folder named part beside the file, else beside its parent folder (annotations/../val2014).
func cocoImages(path, part, given string) (imageSource, error) {
	if given != "" {
		return givenImageDir(given)
	}
	dir := filepath.Dir(path)
	cands := []string{filepath.Join(dir, part), filepath.Join(filepath.Dir(dir), part)}
	for _, c := range cands {
		if dirExists(c) {
			return imageSource{Dir: c}, nil
		}
	}
	return imageSource{}, fmt.Errorf("coco annotations %s: no image folder: looked for %s/ and %s/; pass the image folder with -images DIR", path, cands[0], cands[1])
}

// addCOCOImages adds an example per listed image (first of duplicate ids kept) and returns
// each id's example index.
func (d *Dataset) addCOCOImages(path string, images []COCOImage, imageDir string, split Split) map[COCOID]int {
	byID := map[COCOID]int{}
	noFile := 0
	for _, img := range images {
		if _, dup := byID[img.ID]; dup {
			d.warnf("%s: image id %s listed twice; first kept", path, img.ID)
			continue
		}
		if img.FileName == "" {
			noFile++
			continue
		}
		byID[img.ID] = len(d.Examples)
		d.Examples = append(d.Examples, Example{Image: filepath.Join(imageDir, img.FileName), Split: split})
	}
	if noFile > 0 {
		d.warnf("%s: %d images without a \"file_name\" skipped", path, noFile)
	}
	return byID
}

// addCOCOCaptions gives each example its non-empty captions, then drops examples without one.
func (d *Dataset) addCOCOCaptions(path string, anns []COCOAnnotation, byID map[COCOID]int) {
	orphans := 0
	for _, a := range anns {
		i, ok := byID[a.ImageID]
		c := strings.TrimSpace(a.Caption)
		if !ok || c == "" {
			orphans++
			continue
		}
		d.Examples[i].Captions = append(d.Examples[i].Captions, c)
	}
	if orphans > 0 {
		d.warnf("%s: %d annotations with an unknown image id or an empty caption skipped", path, orphans)
	}
	kept := d.Examples[:0]
	for _, e := range d.Examples {
		if len(e.Captions) > 0 {
			kept = append(kept, e)
		}
	}
	if n := len(d.Examples) - len(kept); n > 0 {
		d.warnf("%s: %d images without captions skipped", path, n)
	}
	d.Examples = kept
}
