package datasets

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// COCOCaptions is the layout of a COCO captions annotation file (captions_train2014.json):
// images, and captions that name their image.
type COCOCaptions struct {
	Images      []COCOImage      `json:"images"`
	Annotations []COCOAnnotation `json:"annotations"`
}

// COCOImage is an entry of COCOCaptions.Images.
type COCOImage struct {
	ID       int64  `json:"id"`
	FileName string `json:"file_name"`
}

// COCOAnnotation is one caption of COCOCaptions.Annotations.
type COCOAnnotation struct {
	ID      int64  `json:"id"`
	ImageID int64  `json:"image_id"`
	Caption string `json:"caption"`
}

// sniffJSON says whether a JSON file is a COCO annotation file ("coco": has "annotations") or a
// Karpathy split file ("karpathy": images with sentences).
func sniffJSON(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("dataset: %w", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return "", fmt.Errorf("dataset %s: not a JSON object: %w", path, err)
	}
	if _, ok := top["annotations"]; ok {
		return "coco", nil
	}
	if _, ok := top["images"]; ok {
		return "karpathy", nil
	}
	return "", fmt.Errorf("dataset %s: JSON with neither \"annotations\" (COCO captions) nor \"images\" (Karpathy split)", path)
}

// LoadKarpathy reads one of Karpathy's split files. Image paths are opts.Images joined with each
// entry's filepath (COCO's train2014/val2014) and filename; when opts.Images is empty the
// folder of the JSON file is searched for Flickr8kImageDirs, flickr30k-images, or used itself.
// "restval" images count as train.
func LoadKarpathy(path string, opts LoadOptions) (*Dataset, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("karpathy split: %w", err)
	}
	var kf karpathyFile
	if err := json.Unmarshal(data, &kf); err != nil {
		return nil, fmt.Errorf("karpathy split %s: %w", path, err)
	}
	imageDir := opts.Images
	if imageDir == "" {
		base := filepath.Dir(path)
		imageDir = findImageDir(base, append(append([]string{}, Flickr8kImageDirs...), "flickr30k-images"))
		if imageDir == "" {
			imageDir = base
		}
	}
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
	if err := d.resolveImages(imageDir, opts.AllowMissing); err != nil {
		return nil, err
	}
	return d, nil
}

// LoadCOCO reads a COCO captions annotation file. All its images get opts.Split, or the split
// named in the file name (train2014 → train, val2014 → val, test → test). The image folder is
// opts.Images, or the folder named like the split part of the file name (train2014/) beside the
// file or beside its parent folder.
func LoadCOCO(path string, opts LoadOptions) (*Dataset, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("coco annotations: %w", err)
	}
	var cf COCOCaptions
	if err := json.Unmarshal(data, &cf); err != nil {
		return nil, fmt.Errorf("coco annotations %s: %w", path, err)
	}
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)) // captions_train2014
	part := base[strings.LastIndex(base, "_")+1:]                       // train2014
	split := opts.Split
	if split == "" {
		switch {
		case strings.HasPrefix(part, "train"):
			split = Train
		case strings.HasPrefix(part, "val"):
			split = Val
		case strings.HasPrefix(part, "test"):
			split = Test
		default:
			return nil, fmt.Errorf("coco annotations %s: cannot tell the split from the file name; pass it explicitly", path)
		}
	}
	imageDir := opts.Images
	if imageDir == "" {
		dir := filepath.Dir(path)
		for _, cand := range []string{filepath.Join(dir, part), filepath.Join(filepath.Dir(dir), part)} {
			if dirExists(cand) {
				imageDir = cand
				break
			}
		}
		if imageDir == "" {
			return nil, fmt.Errorf("coco annotations %s: no image folder %s/ beside it; pass -images DIR", path, part)
		}
	}
	d := &Dataset{Name: "coco " + path}
	byID := map[int64]int{}
	for _, img := range cf.Images {
		if _, dup := byID[img.ID]; dup {
			d.warnf("%s: image id %d listed twice; first kept", path, img.ID)
			continue
		}
		byID[img.ID] = len(d.Examples)
		d.Examples = append(d.Examples, Example{Image: filepath.Join(imageDir, img.FileName), Split: split})
	}
	orphans := 0
	for _, a := range cf.Annotations {
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
	d.sortExamples()
	if err := d.resolveImages(imageDir, opts.AllowMissing); err != nil {
		return nil, err
	}
	return d, nil
}
