package datasets

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ParseCaptionsCSV reads Kaggle's captions.txt: a header `image,caption`, then one
// `image,caption` row per caption, with the caption quoted when it holds commas or quotes.
// Captions keep their file order per image. Rows that do not parse are returned as issues.
func ParseCaptionsCSV(r io.Reader) (captions map[string][]string, order []string, issues []TokenFileIssue, err error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	captions = map[string][]string{}
	header := true
	for {
		rec, rerr := cr.Read()
		if rerr == io.EOF {
			break
		}
		line, _ := cr.FieldPos(0)
		if rerr != nil {
			var pe *csv.ParseError
			if errors.As(rerr, &pe) {
				issues = append(issues, TokenFileIssue{Line: pe.Line, Reason: pe.Err.Error()})
				continue
			}
			return nil, nil, issues, rerr
		}
		if header {
			header = false
			if len(rec) >= 2 && strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(rec[0], "\ufeff")), "image") {
				continue
			}
		}
		if len(rec) != 2 {
			issues = append(issues, TokenFileIssue{Line: line, Reason: fmt.Sprintf("%d fields, want 2 (image,caption)", len(rec)), Text: strings.Join(rec, ",")})
			continue
		}
		image, caption := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
		switch {
		case !isImageName(image):
			issues = append(issues, TokenFileIssue{Line: line, Reason: fmt.Sprintf("%q names no image file", image)})
			continue
		case caption == "":
			issues = append(issues, TokenFileIssue{Line: line, Reason: "empty caption"})
			continue
		}
		if _, ok := captions[image]; !ok {
			order = append(order, image)
		}
		captions[image] = append(captions[image], caption)
	}
	return captions, order, issues, nil
}

// kaggleImageDirs are the image folders looked for beside Kaggle's captions.txt, in order.
var kaggleImageDirs = []string{"Images", "images", "Flicker8k_Dataset", "Flickr8k_Dataset", "flickr30k_images"}

// kaggleImages chooses the image folder of a Kaggle folder: the -images folder, else the first
// of kaggleImageDirs in it.
func kaggleImages(dir, given string) (imageSource, error) {
	if given != "" {
		return givenImageDir(given)
	}
	if found := findImageDir(dir, kaggleImageDirs); found != "" {
		return imageSource{Dir: found}, nil
	}
	return imageSource{}, fmt.Errorf("kaggle captions %s: no image folder beside it: looked for %s; pass the image folder with -images DIR",
		filepath.Join(dir, "captions.txt"), folderList(kaggleImageDirs))
}

// LoadKaggle reads Kaggle's Flickr8k/Flickr30k layout: captions.txt and an Images/ folder (or
// opts.Images). The official split lists (Flickr_8k.*Images.txt) are used when they sit in the
// folder; otherwise images sorted by name are split 75% / 12.5% / 12.5% into train/val/test,
// with a warning.
func LoadKaggle(dir string, opts LoadOptions) (*Dataset, error) {
	path := filepath.Join(dir, "captions.txt")
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("kaggle captions: %w", err)
	}
	captions, _, issues, err := ParseCaptionsCSV(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("kaggle captions %s: %w", path, err)
	}
	src, err := kaggleImages(dir, opts.Images)
	if err != nil {
		return nil, err
	}
	imageDir := src.Dir
	d := &Dataset{Name: "kaggle " + dir}
	d.reportIssues(path, issues)

	split := map[string]Split{}
	if fileExists(filepath.Join(dir, flickr8kTrainList)) {
		for _, l := range []struct {
			file string
			s    Split
		}{{flickr8kTrainList, Train}, {flickr8kDevList, Val}, {flickr8kTestList, Test}} {
			names, err := readImageList(filepath.Join(dir, l.file))
			if err != nil {
				return nil, fmt.Errorf("kaggle %s: split list: %w", dir, err)
			}
			for _, n := range names {
				if _, dup := split[n]; !dup {
					split[n] = l.s
				}
			}
		}
	} else {
		names := make([]string, 0, len(captions))
		for n := range captions {
			names = append(names, n)
		}
		sort.Strings(names)
		nTrain, nVal := len(names)*3/4, len(names)/8
		for i, n := range names {
			switch {
			case i < nTrain:
				split[n] = Train
			case i < nTrain+nVal:
				split[n] = Val
			default:
				split[n] = Test
			}
		}
		d.warnf("%s: no split lists (%s…) beside captions.txt; split by sorted image name into %d/%d/%d train/val/test",
			dir, flickr8kTrainList, nTrain, nVal, len(names)-nTrain-nVal)
	}
	for name, caps := range captions {
		if s, ok := split[name]; ok {
			d.Examples = append(d.Examples, Example{Image: filepath.Join(imageDir, name), Captions: caps, Split: s})
		}
	}
	d.sortExamples()
	if err := d.resolveImages(src, opts.AllowMissing); err != nil {
		return nil, err
	}
	return d, nil
}
