package datasets

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/gif"  // registers GIF decoding (first frame)
	_ "image/jpeg" // registers JPEG decoding
	_ "image/png"  // registers PNG decoding
	"math/rand/v2"
	"os"
	"runtime"
	"sync"

	"github.com/disintegration/imaging"
	"github.com/gomlx/gomlx/core/tensors"
	_ "golang.org/x/image/bmp" // registers BMP decoding
	xdraw "golang.org/x/image/draw"
	_ "golang.org/x/image/webp" // registers WebP decoding
)

// DefaultMaxPixels is the largest image (width × height) decoded by default: a header declaring
// more is refused before any pixel memory is allocated.
const DefaultMaxPixels = 50_000_000

// ImageNet normalisation, on RGB values scaled to [0, 1].
var (
	ImageNetMean = [3]float32{0.485, 0.456, 0.406}
	ImageNetStd  = [3]float32{0.229, 0.224, 0.225}
)

// ImageOptions say how images become tensors.
type ImageOptions struct {
	// Size is the side of the square output image, S×S.
	Size int
	// MaxPixels refuses larger images before decoding; 0 means DefaultMaxPixels.
	MaxPixels int
	// RandomCrop resizes to about S·8/7 and cuts a random S×S square (training augmentation).
	RandomCrop bool
	// Flip mirrors half the images left-right (training augmentation). Do not use it when the
	// captions say "left" or "right", as the shapes captions do.
	Flip bool
	// Mean and Std normalise each RGB channel of values in [0,1]; zero values mean ImageNet's.
	Mean, Std [3]float32
}

func (o ImageOptions) withDefaults() ImageOptions {
	if o.MaxPixels <= 0 {
		o.MaxPixels = DefaultMaxPixels
	}
	if o.Mean == ([3]float32{}) && o.Std == ([3]float32{}) {
		o.Mean, o.Std = ImageNetMean, ImageNetStd
	}
	return o
}

// ErrTooLarge is wrapped by DecodeImage's error for images over the pixel limit.
var ErrTooLarge = errors.New("image too large")

// DecodeImage reads a JPEG, PNG, WebP, BMP or GIF file and returns it upright (EXIF orientation applied) as
// opaque RGB. Corrupt, truncated and non-image files, and images over maxPixels (checked from
// the header, before decoding), are errors naming the file. maxPixels <= 0 means
// DefaultMaxPixels.
func DecodeImage(path string, maxPixels int) (*image.RGBA, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	return DecodeImageBytes(path, data, maxPixels)
}

// DecodeImageBytes is DecodeImage for data already in memory; name is used in errors.
func DecodeImageBytes(name string, data []byte, maxPixels int) (*image.RGBA, error) {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("image %s: not a readable JPEG, PNG, WebP, BMP or GIF file: %w", name, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("image %s: header declares an empty %dx%d image", name, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(maxPixels) {
		return nil, fmt.Errorf("image %s: %w: header declares %dx%d = %d pixels, limit %d",
			name, ErrTooLarge, cfg.Width, cfg.Height, int64(cfg.Width)*int64(cfg.Height), maxPixels)
	}
	img, err := imaging.Decode(bytes.NewReader(data), imaging.AutoOrientation(true))
	if err != nil {
		return nil, fmt.Errorf("image %s: corrupt or truncated %s: %w", name, format, err)
	}
	return toOpaqueRGBA(img), nil
}

// toOpaqueRGBA converts any decoded image (YCbCr, grey, CMYK, palette, with or without alpha)
// to RGB with alpha 255. Transparency is dropped keeping the colour values, as PIL's
// convert("RGB") does, so that attncap sees what torchvision pipelines see.
func toOpaqueRGBA(img image.Image) *image.RGBA {
	b := img.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	if !isOpaque(img) {
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				i := dst.PixOffset(x, y)
				dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2], dst.Pix[i+3] = c.R, c.G, c.B, 255
			}
		}
		return dst
	}
	draw.Draw(dst, dst.Bounds(), img, b.Min, draw.Src)
	return dst
}

func isOpaque(img image.Image) bool {
	o, ok := img.(interface{ Opaque() bool })
	return !ok || o.Opaque()
}

// Resize scales img to w×h with Catmull-Rom (bicubic) filtering, widened when shrinking so
// that downscaling is antialiased. An image already w×h is returned as is.
func Resize(img *image.RGBA, w, h int) *image.RGBA {
	if img.Bounds().Dx() == w && img.Bounds().Dy() == h {
		return img
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	xdraw.CatmullRom.Scale(dst, dst.Bounds(), img, img.Bounds(), xdraw.Src, nil)
	return dst
}

// augment is one image's random choices, drawn in order from the batch's generator so that a
// seed gives the same batch whatever the scheduling of workers.
type augment struct {
	cropX, cropY float64 // in [0,1): where the crop starts within the slack
	flip         bool
}

// Preprocess turns an upright RGB image into S×S×3 normalised float32 values (HWC), writing them
// to out (length S·S·3).
func Preprocess(img *image.RGBA, opts ImageOptions, aug augment, out []float32) {
	s := opts.Size
	if opts.RandomCrop {
		big := (s*8 + 6) / 7 // 224 → 256
		img = Resize(img, big, big)
		x0 := int(aug.cropX * float64(big-s+1))
		y0 := int(aug.cropY * float64(big-s+1))
		img = img.SubImage(image.Rect(x0, y0, x0+s, y0+s)).(*image.RGBA)
	} else {
		img = Resize(img, s, s)
	}
	b := img.Bounds()
	var scale, shift [3]float32
	for c := 0; c < 3; c++ {
		scale[c] = 1 / (255 * opts.Std[c])
		shift[c] = -opts.Mean[c] / opts.Std[c]
	}
	for y := 0; y < s; y++ {
		for x := 0; x < s; x++ {
			sx := x
			if aug.flip {
				sx = s - 1 - x
			}
			p := img.PixOffset(b.Min.X+sx, b.Min.Y+y)
			o := (y*s + x) * 3
			for c := 0; c < 3; c++ {
				out[o+c] = float32(img.Pix[p+c])*scale[c] + shift[c]
			}
		}
	}
}

// PreprocessImage is Preprocess without augmentation, into a new S×S×3 slice: what a model
// sees of a decoded image at inference time.
func PreprocessImage(img *image.RGBA, opts ImageOptions) []float32 {
	opts = opts.withDefaults()
	out := make([]float32, opts.Size*opts.Size*3)
	Preprocess(img, opts, augment{}, out)
	return out
}

// ImageBatch is a batch of images as float32 NHWC values.
type ImageBatch struct {
	// Data holds N·H·W·C values, image after image, row after row, RGB last.
	Data []float32
	// N, H, W, C are the batch size, height, width and channels (3).
	N, H, W, C int
}

// Tensor returns the batch as a GoMLX tensor of shape [N, H, W, C] (the data is copied).
func (b *ImageBatch) Tensor() *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(b.Data, b.N, b.H, b.W, b.C)
}

// LoadImageBatch decodes and preprocesses images into one NHWC batch on a bounded pool of
// workers (one per CPU). rng draws the augmentations (may be nil when opts asks for none). The
// first failing file's error is returned, naming it.
func LoadImageBatch(paths []string, opts ImageOptions, rng *rand.Rand) (*ImageBatch, error) {
	opts = opts.withDefaults()
	if opts.Size <= 0 {
		return nil, fmt.Errorf("image batch: size must be positive, got %d", opts.Size)
	}
	s := opts.Size
	augs := make([]augment, len(paths))
	if opts.RandomCrop || opts.Flip {
		if rng == nil {
			return nil, fmt.Errorf("image batch: augmentation asked for but no random generator given")
		}
		for i := range augs {
			augs[i] = augment{cropX: rng.Float64(), cropY: rng.Float64(), flip: opts.Flip && rng.IntN(2) == 1}
		}
	}
	batch := &ImageBatch{Data: make([]float32, len(paths)*s*s*3), N: len(paths), H: s, W: s, C: 3}
	err := ParallelFor(len(paths), func(i int) error {
		img, err := DecodeImage(paths[i], opts.MaxPixels)
		if err != nil {
			return err
		}
		Preprocess(img, opts, augs[i], batch.Data[i*s*s*3:(i+1)*s*s*3])
		return nil
	})
	if err != nil {
		return nil, err
	}
	return batch, nil
}

// ParallelFor runs fn(0..n-1) on runtime.NumCPU() workers and returns the error of the lowest
// index that failed (so the error does not depend on scheduling).
func ParallelFor(n int, fn func(i int) error) error {
	workers := min(runtime.NumCPU(), n)
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = fn(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return firstError(errs)
}

func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// ToImage turns normalised HWC values (as Preprocess writes them, size×size×3) back into an
// image, for display.
func ToImage(values []float32, size int, mean, std [3]float32) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	for i := 0; i < size*size; i++ {
		for c := 0; c < 3; c++ {
			v := (values[3*i+c]*std[c] + mean[c]) * 255
			img.Pix[4*i+c] = uint8(max(0, min(255, v+0.5)))
		}
		img.Pix[4*i+3] = 255
	}
	return img
}
