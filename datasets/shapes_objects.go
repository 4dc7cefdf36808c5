package datasets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/attncap/attncap/internal/atomicfile"
)

// ShapesObjectsFile, beside a generated shapes set, lists every image's objects (shape, colour,
// size, centre and half-extent in pixels) and the image's size: the ground truth that
// metrics.ObjectAccuracy checks captions against. GenerateShapes writes it; EnsureShapes and
// WriteShapesObjects add it to a set generated before it existed.
const ShapesObjectsFile = "shapes_objects.json"

// ShapesObjects is the content of ShapesObjectsFile: the words of the synthetic world and the
// objects of every image.
type ShapesObjects struct {
	Generator string `json:"generator"`
	// Colors, Shapes and Sizes are the words the generator uses (singular shape names). A file
	// without them gets those of its objects (LoadShapesObjects).
	Colors []string      `json:"colors"`
	Shapes []string      `json:"shapes"`
	Sizes  []string      `json:"sizes"`
	Images []ShapesImage `json:"images"`

	path   string         // where it was read from ("" when built in memory)
	byName map[string]int // file name → index in Images
}

// ShapesImage is one image's size and objects, in the order they were drawn.
type ShapesImage struct {
	FileName string        `json:"file_name"` // base name, as in the dataset's image folder
	Width    int           `json:"width"`
	Height   int           `json:"height"`
	Objects  []ShapeObject `json:"objects"`
}

// ShapeObject is one object of a synthetic image. X and Y are its centre in pixels (x to the
// right, y down, from the top-left corner of the image), Radius its half-extent in pixels.
type ShapeObject struct {
	Shape  string  `json:"shape"`
	Color  string  `json:"color"`
	Size   string  `json:"size"`
	X      float64 `json:"x"`
	Y      float64 `json:"y"`
	Radius float64 `json:"radius"`
}

// Name is the object as a caption names it in full: "small red circle".
func (o ShapeObject) Name() string { return o.Size + " " + o.Color + " " + o.Shape }

// ShapeRelation says where a is relative to b as the shapes captions state it: "to the left
// of", "to the right of", "above" or "below", by the larger of the horizontal and vertical
// offsets between their centres (horizontal on a tie).
func ShapeRelation(a, b ShapeObject) string {
	dx, dy := b.X-a.X, b.Y-a.Y
	if math.Abs(dx) >= math.Abs(dy) {
		if dx > 0 {
			return "to the left of"
		}
		return "to the right of"
	}
	if dy > 0 {
		return "above"
	}
	return "below"
}

// ShapePosition names the ninth of a w×h image that an object's centre falls in, as the shapes
// captions state it: "in the center", "on the left", "at the top", "at the bottom right", ….
func ShapePosition(o ShapeObject, w, h int) string {
	col := []string{"left", "center", "right"}[min(2, int(3*o.X/float64(w)))]
	row := []string{"top", "middle", "bottom"}[min(2, int(3*o.Y/float64(h)))]
	if row == "middle" && col == "center" {
		return "in the center"
	}
	if row == "middle" {
		return "on the " + col
	}
	if col == "center" {
		return "at the " + row
	}
	return "at the " + row + " " + col
}

// Path is the file the ground truth was read from ("" when it was not read from a file).
func (s *ShapesObjects) Path() string { return s.path }

// Image returns the ground truth of the image with this base file name.
func (s *ShapesObjects) Image(fileName string) (ShapesImage, bool) {
	if s.byName == nil {
		s.index()
	}
	i, ok := s.byName[fileName]
	if !ok {
		return ShapesImage{}, false
	}
	return s.Images[i], true
}

func (s *ShapesObjects) index() {
	s.byName = make(map[string]int, len(s.Images))
	for i, im := range s.Images {
		s.byName[im.FileName] = i
	}
}

// FindShapesObjects returns the ShapesObjectsFile beside a dataset (data: a dataset folder, or
// a file in it), or "" when there is none: only generated shapes sets have one.
func FindShapesObjects(data string) string {
	if data == "" {
		return ""
	}
	dir := data
	if st, err := os.Stat(data); err == nil && !st.IsDir() {
		dir = filepath.Dir(data)
	}
	path := filepath.Join(dir, ShapesObjectsFile)
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		return path
	}
	return ""
}

// EnsureShapesObjects is FindShapesObjects that also writes the file for a generated set made
// before it existed (a folder with ShapesInfoFile and no ShapesObjectsFile; WriteShapesObjects):
// it returns the ground truth's path, or "" for a dataset that is not a generated set.
func EnsureShapesObjects(data string) (string, error) {
	if path := FindShapesObjects(data); path != "" || data == "" {
		return path, nil
	}
	dir := data
	if st, err := os.Stat(data); err == nil && !st.IsDir() {
		dir = filepath.Dir(data)
	}
	if !fileExists(filepath.Join(dir, ShapesInfoFile)) {
		return "", nil
	}
	if err := WriteShapesObjects(dir); err != nil {
		return "", err
	}
	return filepath.Join(dir, ShapesObjectsFile), nil
}

// LoadShapesObjects reads a ShapesObjectsFile (path: the file, or the dataset folder holding
// it) and checks it: every image has a file name (once), a positive size and objects with a
// shape and a colour. A missing or malformed file is an error naming it.
func LoadShapesObjects(path string) (*ShapesObjects, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, ShapesObjectsFile)
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("shapes ground truth %s: no such file (GenerateShapes writes it beside a generated set; for an older set run `go run ./scripts/synth -add-objects DIR`)", path)
	} else if err != nil {
		return nil, fmt.Errorf("shapes ground truth: %w", err)
	}
	s, err := ParseShapesObjects(data)
	if err != nil {
		return nil, fmt.Errorf("shapes ground truth %s: %w", path, err)
	}
	s.path = path
	return s, nil
}

// ParseShapesObjects parses and checks the content of a ShapesObjectsFile (see
// LoadShapesObjects).
func ParseShapesObjects(data []byte) (*ShapesObjects, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s ShapesObjects
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("not a shapes ground-truth file (%s): %w", ShapesObjectsFile, err)
	}
	if s.Images == nil {
		return nil, fmt.Errorf(`no "images" list`)
	}
	seen := map[string]bool{}
	words := [3]map[string]bool{{}, {}, {}}
	for i, im := range s.Images {
		switch {
		case im.FileName == "":
			return nil, fmt.Errorf("images[%d] has no file_name", i)
		case filepath.Base(im.FileName) != im.FileName:
			return nil, fmt.Errorf("images[%d]: file_name %q is a path; want the image's base name", i, im.FileName)
		case seen[im.FileName]:
			return nil, fmt.Errorf("images[%d]: %s is listed twice", i, im.FileName)
		case im.Width <= 0 || im.Height <= 0:
			return nil, fmt.Errorf("images[%d] (%s): size %d×%d; want positive width and height", i, im.FileName, im.Width, im.Height)
		}
		seen[im.FileName] = true
		for j, o := range im.Objects {
			if o.Shape == "" || o.Color == "" {
				return nil, fmt.Errorf("images[%d] (%s): objects[%d] has no shape or no color", i, im.FileName, j)
			}
			words[0][o.Color], words[1][o.Shape] = true, true
			if o.Size != "" {
				words[2][o.Size] = true
			}
		}
	}
	for k, list := range []*[]string{&s.Colors, &s.Shapes, &s.Sizes} {
		if len(*list) == 0 {
			*list = sortedKeys(words[k])
		}
	}
	s.index()
	return &s, nil
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ { // insertion sort: a handful of words
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// encodeShapesObjects writes the ground truth of a generated set, one image per line.
func encodeShapesObjects(images []ShapesImage) []byte {
	var colors []string
	for _, c := range shapeColors {
		colors = append(colors, c.name)
	}
	head, _ := json.Marshal(struct {
		Generator string   `json:"generator"`
		Colors    []string `json:"colors"`
		Shapes    []string `json:"shapes"`
		Sizes     []string `json:"sizes"`
	}{shapesGenerator, colors, shapeKinds, shapeSizes})
	var b bytes.Buffer
	b.Write(head[:len(head)-1]) // without the closing brace
	b.WriteString(`,"images":[` + "\n")
	for i, im := range images {
		line, _ := json.Marshal(im)
		b.Write(line)
		if i < len(images)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("]}\n")
	return b.Bytes()
}

// WriteShapesObjects adds ShapesObjectsFile to a shapes set generated before GenerateShapes
// wrote it: the objects are recomputed from the set's options (ShapesInfoFile), and written only
// if the recomputed captions are the set's own, byte for byte (otherwise the set came from a
// different generator and the error says so). The images are not rewritten.
func WriteShapesObjects(dir string) error {
	raw, err := os.ReadFile(filepath.Join(dir, ShapesInfoFile))
	if err != nil {
		return fmt.Errorf("shapes: %s is not a generated shapes set (%w)", dir, err)
	}
	var info shapesInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return fmt.Errorf("shapes: %s: %w", filepath.Join(dir, ShapesInfoFile), err)
	}
	if err := info.Options.fill(); err != nil {
		return fmt.Errorf("%w (options in %s)", err, filepath.Join(dir, ShapesInfoFile))
	}
	captions, objects, err := drawShapesSet(info.Options, "")
	if err != nil {
		return fmt.Errorf("shapes: %w", err)
	}
	tokenPath := filepath.Join(dir, flickr8kTokenFile)
	have, err := os.ReadFile(tokenPath)
	if err != nil {
		return fmt.Errorf("shapes: %w", err)
	}
	if want := shapesTextFiles(captions, info.Options)[flickr8kTokenFile]; !bytes.Equal(have, []byte(want)) {
		return fmt.Errorf("shapes: %s was not written by this generator with the options in %s (its captions differ), so its objects cannot be recomputed; generate the set again (delete the folder, or `go run ./scripts/synth -out NEWDIR`)", tokenPath, ShapesInfoFile)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ShapesObjectsFile), encodeShapesObjects(objects)); err != nil {
		return fmt.Errorf("shapes: %w", err)
	}
	return nil
}
