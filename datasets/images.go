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
	"sync/atomic"

	"github.com/attncap/attncap/internal/jpegdec"
	"github.com/gomlx/gomlx/core/tensors"
	_ "golang.org/x/image/bmp"  // registers BMP decoding
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
	// Resize is the filter that squashes an image to S×S (no crop, aspect ratio not kept):
	// "" or ResizeCatmullRom, attncap's own, or ResizeBilinear, Pillow's (the PyTorch
	// tutorial's). With ResizeBilinear the values are normalised as torchvision does,
	// (float32(v/255) − mean)/std in float32, so that they equal the tutorial's to the bit.
	Resize string
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
	return decodeUpright(name, data, maxPixels, false)
}

// DecodeImageFor is DecodeImageBytes as a model with these options reads images: with
// ResizeBilinear (Pillow's pipeline) a JPEG is decoded as libjpeg-turbo decodes it for Pillow
// (internal/jpegdec), so that the pixels equal the ones a PyTorch model was run on.
func DecodeImageFor(name string, data []byte, opts ImageOptions) (*image.RGBA, error) {
	return decodeUpright(name, data, opts.MaxPixels, opts.Resize == ResizeBilinear)
}

func decodeUpright(name string, data []byte, maxPixels int, libjpeg bool) (*image.RGBA, error) {
	img, err := decodeImage(name, data, maxPixels, libjpeg)
	if err != nil {
		return nil, err
	}
	return orient(toOpaqueRGBA(img), exifOrientation(data)), nil
}

// decodeImage checks the header against maxPixels and decodes data as it is stored (not turned
// upright, any colour model). With libjpeg, a JPEG that internal/jpegdec reads is decoded by
// it (libjpeg-turbo's pixels); others, and any it cannot read, by image/jpeg.
func decodeImage(name string, data []byte, maxPixels int, libjpeg bool) (image.Image, error) {
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
	if libjpeg && format == "jpeg" {
		if img, err := jpegdec.Decode(data); err == nil {
			return img, nil
		}
	}
	// A bytes.Reader is an io.ByteReader: the JPEG decoder reads it without a bufio copy.
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("image %s: corrupt or truncated %s: %w", name, format, err)
	}
	return img, nil
}

// decodePixels is DecodeImageBytes for the pipeline: an upright JPEG in YCbCr stays so (its
// rows are converted to RGB as they are resampled, with the same arithmetic as
// toOpaqueRGBA's), anything else becomes opaque RGBA.
func decodePixels(name string, data []byte, maxPixels int, libjpeg bool) (pixels, error) {
	img, err := decodeImage(name, data, maxPixels, libjpeg)
	if err != nil {
		return pixels{}, err
	}
	o := exifOrientation(data)
	if _, ycc := img.(*image.YCbCr); ycc && o <= orientNormal {
		if p, ok := newPixels(img); ok {
			return p, nil
		}
	}
	p, _ := newPixels(orient(toOpaqueRGBA(img), o))
	return p, nil
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
// that downscaling is antialiased: x/image/draw's CatmullRom.Scale, bit for bit (resample.go),
// for an opaque image such as DecodeImage returns (alpha is taken as 255). An image already w×h
// is returned as is.
func Resize(img *image.RGBA, w, h int) *image.RGBA {
	if img.Bounds().Dx() == w && img.Bounds().Dy() == h {
		return img
	}
	return resizeWith(resample, img, w, h)
}

// resizeWith runs a resampler (resample, resizeBilinear) over img into a new opaque w×h image.
func resizeWith(resize func(p *pixels, dw, dh int, win image.Rectangle, emit func(y int, rgb []uint8)), img *image.RGBA, w, h int) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	p, _ := newPixels(img)
	resize(&p, w, h, dst.Rect, func(y int, rgb []uint8) {
		d := dst.Pix[y*dst.Stride : y*dst.Stride+4*w]
		for x := 0; x < w; x++ {
			d[4*x], d[4*x+1], d[4*x+2], d[4*x+3] = rgb[3*x], rgb[3*x+1], rgb[3*x+2], 255
		}
	})
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
	p, _ := newPixels(img)
	preprocessPixels(&p, opts, aug, out)
}

// preprocessPixels is Preprocess in one pass: resampling (only the crop's window when cropping),
// flipping and normalising, without an intermediate image.
func preprocessPixels(p *pixels, opts ImageOptions, aug augment, out []float32) {
	s := opts.Size
	size, win := s, image.Rect(0, 0, s, s)
	if opts.RandomCrop {
		size = (s*8 + 6) / 7 // 224 → 256
		x0 := int(aug.cropX * float64(size-s+1))
		y0 := int(aug.cropY * float64(size-s+1))
		win = image.Rect(x0, y0, x0+s, y0+s)
	}
	norm := normTable(opts)
	resize := resample
	if opts.Resize == ResizeBilinear {
		resize = resizeBilinear
	}
	resize(p, size, size, win, func(y int, rgb []uint8) {
		o := out[(y-win.Min.Y)*s*3 : (y-win.Min.Y+1)*s*3]
		for x := 0; x < s; x++ {
			sx := x
			if aug.flip {
				sx = s - 1 - x
			}
			px, d := rgb[3*sx:3*sx+3:3*sx+3], o[3*x:3*x+3:3*x+3]
			d[0], d[1], d[2] = norm[0][px[0]], norm[1][px[1]], norm[2][px[2]]
		}
	})
}

// normTable is the normalised value of each byte, per channel: a table lookup instead of a
// conversion, a multiplication and an addition per value (the same arithmetic, done 3·256
// times). With ResizeBilinear it is torchvision's arithmetic instead: v/255 in float64 (NumPy),
// narrowed to float32, then Normalize's subtraction and division in float32.
func normTable(opts ImageOptions) *[3][256]float32 {
	var norm [3][256]float32
	for c := 0; c < 3; c++ {
		scale := 1 / (255 * opts.Std[c])
		shift := -opts.Mean[c] / opts.Std[c]
		for v := range norm[c] {
			if opts.Resize == ResizeBilinear {
				x := float32(float64(v) / 255)
				norm[c][v] = (x - opts.Mean[c]) / opts.Std[c]
			} else {
				norm[c][v] = float32(v)*scale + shift
			}
		}
	}
	return &norm
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
// workers (runtime.GOMAXPROCS(0)); ImageBatches streams many batches. rng draws the
// augmentations (may be nil when opts asks for none). The first failing file's error is
// returned, naming it.
func LoadImageBatch(paths []string, opts ImageOptions, rng *rand.Rand) (*ImageBatch, error) {
	opts = opts.withDefaults()
	if opts.Size <= 0 {
		return nil, fmt.Errorf("image batch: size must be positive, got %d", opts.Size)
	}
	s := opts.Size
	augs, err := drawAugments(len(paths), opts, rng)
	if err != nil {
		return nil, err
	}
	batch := &ImageBatch{Data: batchData(len(paths) * s * s * 3), N: len(paths), H: s, W: s, C: 3}
	err = ParallelFor(len(paths), func(i int) error {
		return loadInto(paths[i], opts, augs[i], batch.Data[i*s*s*3:(i+1)*s*s*3])
	})
	if err != nil {
		return nil, err
	}
	return batch, nil
}

// ParallelFor runs fn(0..n-1) on runtime.GOMAXPROCS(0) workers, each taking the next index as
// it finishes one, and returns the error of the lowest index that failed (so the error does not
// depend on scheduling).
func ParallelFor(n int, fn func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	errs := make([]error, n)
	var next atomic.Int64
	work := func() {
		for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
			errs[i] = fn(i)
		}
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Go(work)
	}
	work() // the caller is the first worker
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
