package datasets

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// File names of the official Flickr8k release.
const (
	flickr8kTokenFile = "Flickr8k.token.txt"
	flickr8kTrainList = "Flickr_8k.trainImages.txt"
	flickr8kDevList   = "Flickr_8k.devImages.txt"
	flickr8kTestList  = "Flickr_8k.testImages.txt"
)

// Flickr8kImageDirs are the image folder names accepted next to the text files, in order of
// preference: the official zip's (misspelt) name, its corrected spelling, and Kaggle's.
var Flickr8kImageDirs = []string{"Flicker8k_Dataset", "Flickr8k_Dataset", "Images"}

// findFlickr8kTokenFile returns the token file of a Flickr8k folder (at its top or in the
// Flickr8k_text/ folder the text zip is often extracted to), or "".
func findFlickr8kTokenFile(dir string) string {
	for _, p := range []string{filepath.Join(dir, flickr8kTokenFile), filepath.Join(dir, "Flickr8k_text", flickr8kTokenFile)} {
		if fileExists(p) {
			return p
		}
	}
	return ""
}

// findImageDir returns the first of names that is a folder under dir, or "".
func findImageDir(dir string, names []string) string {
	for _, name := range names {
		if p := filepath.Join(dir, name); dirExists(p) {
			return p
		}
	}
	return ""
}

// flickr8kImages chooses the image folder of a Flickr8k-layout folder: the -images folder, else
// the first of Flickr8kImageDirs in it. Its images can be downloaded, and messages say how.
func flickr8kImages(dir, given string) (imageSource, error) {
	download := flickr8kDownloadCommand(dir)
	if given != "" {
		src, err := givenImageDir(given)
		src.Download = download
		return src, err
	}
	if found := findImageDir(dir, Flickr8kImageDirs); found != "" {
		return imageSource{Dir: found, Download: download}, nil
	}
	return imageSource{}, fmt.Errorf("flickr8k %s: no image folder: looked for %s in it; download the images (%s) or pass the image folder with -images DIR",
		dir, folderList(Flickr8kImageDirs), download)
}

// TokenFileIssue is one line of a caption file that could not be used.
type TokenFileIssue struct {
	Line   int
	Reason string
	Text   string
}

// ParseTokenFile reads Flickr8k's `IMAGE#N<TAB>caption` lines into captions per image (in
// caption-number order). Lines that do not parse, and keys that name no image file (the known
// bogus key 2258277193_586949ec62.jpg.1), are returned as issues instead of data.
func ParseTokenFile(r io.Reader) (captions map[string][]string, issues []TokenFileIssue, err error) {
	type numbered struct {
		n       int
		caption string
	}
	byImage := map[string][]numbered{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimRight(sc.Text(), "\r")
		if lineNo == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		bad := func(reason string) {
			issues = append(issues, TokenFileIssue{Line: lineNo, Reason: reason, Text: line})
		}
		key, caption, ok := strings.Cut(line, "\t")
		if !ok {
			bad("no tab between key and caption")
			continue
		}
		image, numStr, ok := strings.Cut(strings.TrimSpace(key), "#")
		if !ok {
			bad("key has no #N caption number")
			continue
		}
		n, err := strconv.Atoi(numStr)
		if err != nil || n < 0 {
			bad(fmt.Sprintf("caption number %q is not a non-negative integer", numStr))
			continue
		}
		if !isImageName(image) {
			bad(fmt.Sprintf("key %q names no image file", image))
			continue
		}
		caption = strings.TrimSpace(caption)
		if caption == "" {
			bad("empty caption")
			continue
		}
		byImage[image] = append(byImage[image], numbered{n, caption})
	}
	if err := sc.Err(); err != nil {
		return nil, issues, err
	}
	captions = make(map[string][]string, len(byImage))
	for image, list := range byImage {
		sort.SliceStable(list, func(i, j int) bool { return list[i].n < list[j].n })
		for _, c := range list {
			captions[image] = append(captions[image], c.caption)
		}
	}
	return captions, issues, nil
}

// isImageName reports whether name ends in an image file extension.
func isImageName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpg", ".jpeg", ".png":
		return true
	}
	return false
}

// readImageList reads a split file: one image name per line, blank lines ignored.
func readImageList(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(string(data), "\n") {
		if name := strings.TrimSpace(strings.TrimPrefix(line, "\ufeff")); name != "" {
			names = append(names, name)
		}
	}
	return names, nil
}

// LoadFlickr8k reads a folder in the official Flickr8k layout: Flickr8k.token.txt and the three
// Flickr_8k.*Images.txt split lists (at the top or under Flickr8k_text/) and the images under
// one of Flickr8kImageDirs (or opts.Images). Images in no split list are left out; images of a
// split list with no caption are dropped with a warning.
func LoadFlickr8k(dir string, opts LoadOptions) (*Dataset, error) {
	tokenFile := findFlickr8kTokenFile(dir)
	if tokenFile == "" {
		return nil, fmt.Errorf("flickr8k %s: %s not found (looked in the folder and in Flickr8k_text/)", dir, flickr8kTokenFile)
	}
	textDir := filepath.Dir(tokenFile)
	src, err := flickr8kImages(dir, opts.Images)
	if err != nil {
		return nil, err
	}
	imageDir := src.Dir
	d := &Dataset{Name: "flickr8k " + dir}
	if fileExists(filepath.Join(dir, ShapesInfoFile)) {
		d.Name = "shapes (synthetic, Flickr8k layout) " + dir
	}

	f, err := os.Open(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("flickr8k: %w", err)
	}
	captions, issues, err := ParseTokenFile(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("flickr8k %s: %w", tokenFile, err)
	}
	d.reportIssues(tokenFile, issues)

	seen := map[string]Split{}
	for _, list := range []struct {
		file  string
		split Split
	}{{flickr8kTrainList, Train}, {flickr8kDevList, Val}, {flickr8kTestList, Test}} {
		path := filepath.Join(textDir, list.file)
		names, err := readImageList(path)
		if err != nil {
			return nil, fmt.Errorf("flickr8k %s: split list: %w", dir, err)
		}
		var noCaption []string
		for _, name := range names {
			if prev, dup := seen[name]; dup {
				d.warnf("%s: %s already listed in the %s split; kept there", path, name, prev)
				continue
			}
			seen[name] = list.split
			caps := captions[name]
			if len(caps) == 0 {
				noCaption = append(noCaption, name)
				continue
			}
			d.Examples = append(d.Examples, Example{Image: filepath.Join(imageDir, name), Captions: caps, Split: list.split})
		}
		if len(noCaption) > 0 {
			d.warnf("%s: %d images have no caption in %s and were dropped (first: %s)",
				path, len(noCaption), flickr8kTokenFile, strings.Join(firstN(noCaption, 5), ", "))
		}
	}
	d.sortExamples()
	if err := d.resolveImages(src, opts.AllowMissing); err != nil {
		return nil, err
	}
	return d, nil
}

// reportIssues turns parse issues into one warning naming how many lines were skipped and the
// first few.
func (d *Dataset) reportIssues(file string, issues []TokenFileIssue) {
	if len(issues) == 0 {
		return
	}
	var parts []string
	for _, is := range issues[:min(len(issues), 5)] {
		parts = append(parts, fmt.Sprintf("line %d: %s", is.Line, is.Reason))
	}
	d.warnf("%s: skipped %d malformed lines (%s)", file, len(issues), strings.Join(parts, "; "))
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
