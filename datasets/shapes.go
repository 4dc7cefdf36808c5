package datasets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/attncap/attncap/internal/atomicfile"
)

// DefaultShapesImages is the size of the synthetic set that `-data shapes` generates.
const DefaultShapesImages = 3000

// ShapesInfoFile, beside the Flickr8k-layout files of a generated shapes set, records how it
// was generated; Load names such a set "shapes" rather than "flickr8k".
const ShapesInfoFile = "shapes.json"

// shapesInfo is the content of ShapesInfoFile.
type shapesInfo struct {
	Generator string        `json:"generator"`
	Options   ShapesOptions `json:"options"`
}

// ShapesOptions configure GenerateShapes.
type ShapesOptions struct {
	// N is the number of images; 80% go to train, 10% to val, 10% to test.
	N int `json:"n"`
	// Seed makes the set reproducible: the same seed and N give byte-identical files.
	Seed uint64 `json:"seed"`
	// MinSize and MaxSize bound the image width and height in pixels (defaults 96 and 160).
	MinSize int `json:"min_size"`
	MaxSize int `json:"max_size"`
}

// fill sets the default image sizes and checks the options.
func (opts *ShapesOptions) fill() error {
	if opts.N < 10 {
		return fmt.Errorf("shapes: need at least 10 images, got %d", opts.N)
	}
	if opts.MinSize == 0 {
		opts.MinSize = 96
	}
	if opts.MaxSize == 0 {
		opts.MaxSize = 160
	}
	if opts.MinSize < 48 || opts.MaxSize < opts.MinSize {
		return fmt.Errorf("shapes: image sizes must satisfy 48 <= min <= max, got %d..%d", opts.MinSize, opts.MaxSize)
	}
	return nil
}

// The vocabulary of the synthetic world.
var (
	shapeKinds  = []string{"circle", "square", "triangle"}
	shapeSizes  = []string{"small", "large"}
	shapeColors = []struct {
		name string
		rgb  color.RGBA
	}{
		{"red", color.RGBA{220, 30, 30, 255}},
		{"green", color.RGBA{30, 170, 40, 255}},
		{"blue", color.RGBA{30, 60, 220, 255}},
		{"yellow", color.RGBA{235, 210, 20, 255}},
		{"purple", color.RGBA{140, 40, 170, 255}},
	}
)

// shape is one object drawn in a synthetic image.
type shape struct {
	kind, size, color string
	cx, cy, r         float64 // centre and half-extent in pixels
}

func (s shape) name() string     { return s.color + " " + s.kind }
func (s shape) fullName() string { return s.size + " " + s.color + " " + s.kind }

// object is the shape as ShapesObjectsFile records it.
func (s shape) object() ShapeObject {
	return ShapeObject{Shape: s.kind, Color: s.color, Size: s.size, X: s.cx, Y: s.cy, Radius: s.r}
}

// GenerateShapes writes a synthetic captioning set into dir in the Flickr8k layout
// (Flicker8k_Dataset/*.jpg, Flickr8k.token.txt, Flickr_8k.{train,dev,test}Images.txt): one to
// three coloured circles, squares and triangles, small or large, on noisy backgrounds of varied
// sizes, each image with five captions from different templates, spatial relations included.
// Beside them go ShapesInfoFile (the options) and ShapesObjectsFile (each image's objects: the
// ground truth of metrics.ObjectAccuracy). dir must be empty or absent.
func GenerateShapes(dir string, opts ShapesOptions) error {
	if err := opts.fill(); err != nil {
		return err
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("shapes: output folder %s is not empty", dir)
	}
	imageDir := filepath.Join(dir, Flickr8kImageDirs[0])
	if err := os.MkdirAll(imageDir, 0o755); err != nil {
		return fmt.Errorf("shapes: %w", err)
	}
	captions, objects, err := drawShapesSet(opts, imageDir)
	if err != nil {
		return fmt.Errorf("shapes: %w", err)
	}
	info, err := json.MarshalIndent(shapesInfo{Generator: shapesGenerator, Options: opts}, "", "  ")
	if err != nil {
		return err
	}
	files := shapesTextFiles(captions, opts)
	files[ShapesInfoFile] = string(info) + "\n"
	files[ShapesObjectsFile] = string(encodeShapesObjects(objects))
	for name, content := range files {
		if err := atomicfile.WriteFile(filepath.Join(dir, name), []byte(content)); err != nil {
			return fmt.Errorf("shapes: %w", err)
		}
	}
	return nil
}

// shapesGenerator names the generator in ShapesInfoFile and ShapesObjectsFile.
const shapesGenerator = "attncap synthetic shapes"

// drawShapesSet draws every image of a set and returns each one's captions and objects; with
// imageDir set it also writes the images there as JPEG files. The same options give the same
// images, captions and objects, so a set's ground truth can be recomputed without its images.
func drawShapesSet(opts ShapesOptions, imageDir string) ([][]string, []ShapesImage, error) {
	captions := make([][]string, opts.N)
	objects := make([]ShapesImage, opts.N)
	err := ParallelFor(opts.N, func(i int) error {
		rng := rand.New(rand.NewPCG(opts.Seed, uint64(i)))
		img, shapes := drawShapesImage(rng, opts.MinSize, opts.MaxSize)
		w, h := img.Bounds().Dx(), img.Bounds().Dy()
		captions[i] = shapeCaptions(shapes, w, h)
		objects[i] = ShapesImage{FileName: shapesImageName(i), Width: w, Height: h, Objects: make([]ShapeObject, len(shapes))}
		for j, s := range shapes {
			objects[i].Objects[j] = s.object()
		}
		if imageDir == "" {
			return nil
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 92}); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(imageDir, shapesImageName(i)), buf.Bytes(), 0o644)
	})
	return captions, objects, err
}

// shapesTextFiles returns the Flickr8k-layout text files of a set: the token file and the
// three split lists (80% train, 10% val, 10% test, in image order).
func shapesTextFiles(captions [][]string, opts ShapesOptions) map[string]string {
	var tokens strings.Builder
	var lists [3]strings.Builder
	nTrain, nVal := opts.N*8/10, opts.N/10
	for i, caps := range captions {
		name := shapesImageName(i)
		for j, c := range caps {
			fmt.Fprintf(&tokens, "%s#%d\t%s\n", name, j, c)
		}
		list := 2
		if i < nTrain {
			list = 0
		} else if i < nTrain+nVal {
			list = 1
		}
		lists[list].WriteString(name + "\n")
	}
	return map[string]string{
		flickr8kTokenFile: tokens.String(),
		flickr8kTrainList: lists[0].String(),
		flickr8kDevList:   lists[1].String(),
		flickr8kTestList:  lists[2].String(),
	}
}

func shapesImageName(i int) string { return fmt.Sprintf("shapes_%06d.jpg", i) }

// drawShapesImage draws one image and returns it with the shapes drawn on it.
func drawShapesImage(rng *rand.Rand, minSize, maxSize int) (*image.RGBA, []shape) {
	w := minSize + rng.IntN(maxSize-minSize+1)
	h := minSize + rng.IntN(maxSize-minSize+1)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	// Background: a pale, low-saturation colour with per-pixel noise.
	grey := 165 + rng.IntN(60)
	base := [3]int{grey + rng.IntN(21) - 10, grey + rng.IntN(21) - 10, grey + rng.IntN(21) - 10}
	for i := 0; i < len(img.Pix); i += 4 {
		for c := 0; c < 3; c++ {
			img.Pix[i+c] = clampByte(base[c] + rng.IntN(41) - 20)
		}
		img.Pix[i+3] = 255
	}
	count := 1 + rng.IntN(3)
	side := float64(min(w, h))
	var shapes []shape
	used := map[string]bool{}
	for tries := 0; len(shapes) < count && tries < 200; tries++ {
		s := shape{kind: shapeKinds[rng.IntN(len(shapeKinds))], size: shapeSizes[rng.IntN(2)]}
		ci := rng.IntN(len(shapeColors))
		s.color = shapeColors[ci].name
		if used[s.name()] {
			continue
		}
		s.r = side * 0.10
		if s.size == "large" {
			s.r = side * 0.19
		}
		s.cx = s.r + 2 + rng.Float64()*(float64(w)-2*s.r-4)
		s.cy = s.r + 2 + rng.Float64()*(float64(h)-2*s.r-4)
		overlaps := false
		for _, o := range shapes {
			if math.Hypot(s.cx-o.cx, s.cy-o.cy) < (s.r+o.r)*1.15 {
				overlaps = true
				break
			}
		}
		if overlaps {
			continue
		}
		used[s.name()] = true
		shapes = append(shapes, s)
		fillShape(img, s, shapeColors[ci].rgb, rng)
	}
	return img, shapes
}

func clampByte(v int) uint8 {
	return uint8(max(0, min(255, v)))
}

// fillShape paints a shape, with slight per-pixel colour noise.
func fillShape(img *image.RGBA, s shape, c color.RGBA, rng *rand.Rand) {
	b := img.Bounds()
	for y := max(0, int(s.cy-s.r)-1); y <= min(b.Dy()-1, int(s.cy+s.r)+1); y++ {
		for x := max(0, int(s.cx-s.r)-1); x <= min(b.Dx()-1, int(s.cx+s.r)+1); x++ {
			px, py := float64(x)+0.5-s.cx, float64(y)+0.5-s.cy
			inside := false
			switch s.kind {
			case "circle":
				inside = px*px+py*py <= s.r*s.r
			case "square":
				inside = math.Abs(px) <= s.r*0.85 && math.Abs(py) <= s.r*0.85
			case "triangle": // apex up: |x| <= r·(y+r)/(2r), y in [-r, r]
				inside = py >= -s.r && py <= s.r && math.Abs(px) <= (py+s.r)/2
			}
			if inside {
				i := img.PixOffset(x, y)
				n := rng.IntN(21) - 10
				img.Pix[i], img.Pix[i+1], img.Pix[i+2] = clampByte(int(c.R)+n), clampByte(int(c.G)+n), clampByte(int(c.B)+n)
			}
		}
	}
}

// relation says where a is relative to b (ShapeRelation).
func relation(a, b shape) string { return ShapeRelation(a.object(), b.object()) }

// position names the ninth of the image a shape's centre falls in (ShapePosition).
func position(s shape, w, h int) string { return ShapePosition(s.object(), w, h) }

// shapeCaptions writes five captions, each from a different template, for the shapes drawn
// (in the order drawn).
func shapeCaptions(s []shape, w, h int) []string {
	switch len(s) {
	case 1:
		a := s[0]
		return []string{
			"a " + a.fullName(),
			"a " + a.fullName() + " on a noisy background",
			"there is a " + a.name() + " in the picture",
			"one " + a.size + " " + a.kind + " that is " + a.color,
			"a " + a.name() + " " + position(a, w, h),
		}
	case 2:
		a, b := s[0], s[1]
		return []string{
			"a " + a.fullName() + " and a " + b.fullName(),
			"a " + a.name() + " " + relation(a, b) + " a " + b.name(),
			"a " + b.fullName() + " " + relation(b, a) + " a " + a.fullName(),
			"there are two shapes , a " + a.name() + " and a " + b.name(),
			"two shapes on a noisy background : a " + b.name() + " and a " + a.name(),
		}
	default:
		a, b, c := s[0], s[1], s[2]
		return []string{
			"a " + a.fullName() + " , a " + b.fullName() + " and a " + c.fullName(),
			"three shapes : a " + a.name() + " , a " + b.name() + " and a " + c.name(),
			"a " + a.name() + " " + relation(a, b) + " a " + b.name() + " and a " + c.name(),
			"a " + c.name() + " " + relation(c, b) + " a " + b.name(),
			"there are three shapes on a noisy background including a " + b.fullName(),
		}
	}
}

// ShapesCacheDir is where `-data shapes` keeps its generated set: the user's cache folder
// (XDG_CACHE_HOME or ~/.cache) under attncap/shapes-N<n>-seed<s>-v2 (v2: with shapes.json).
func ShapesCacheDir(n int, seed uint64) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("shapes: no cache folder (%w); generate with `go run ./scripts/synth -out DIR` and pass -data DIR", err)
	}
	return filepath.Join(cache, "attncap", fmt.Sprintf("shapes-n%d-seed%d-v2", n, seed)), nil
}

// EnsureShapes returns the folder of the cached synthetic set for n and seed, generating it on
// first use (and adding ShapesObjectsFile to a set cached before that file existed). Generation goes to a temporary folder renamed into place when complete, so an
// interrupted run never leaves a half-written set behind.
func EnsureShapes(n int, seed uint64) (string, error) {
	dir, err := ShapesCacheDir(n, seed)
	if err != nil {
		return "", err
	}
	if fileExists(filepath.Join(dir, flickr8kTokenFile)) {
		if !fileExists(filepath.Join(dir, ShapesObjectsFile)) { // a set cached before the file existed
			if err := WriteShapesObjects(dir); err != nil {
				return "", err
			}
		}
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("shapes: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("shapes: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := GenerateShapes(tmp, ShapesOptions{N: n, Seed: seed}); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if fileExists(filepath.Join(dir, flickr8kTokenFile)) { // another process won the race
			return dir, nil
		}
		return "", fmt.Errorf("shapes: %w", err)
	}
	return dir, nil
}

// ResolveData turns a -data argument into a path: the word "shapes" means the cached synthetic
// set (generated on first use, DefaultShapesImages images, seed 1); anything else is returned
// unchanged.
func ResolveData(data string) (string, error) {
	if data == "shapes" {
		return EnsureShapes(DefaultShapesImages, 1)
	}
	return data, nil
}
