// Package jpegdec decodes JPEG files to the same RGB bytes as libjpeg-turbo with its default
// settings — the "islow" integer inverse DCT, fancy (triangular) chroma upsampling and its
// fixed-point YCbCr→RGB conversion — which is what Pillow, and so PyTorch pipelines such as the
// captioning tutorial's, see. Go's image/jpeg uses another inverse DCT and replicates chroma
// samples, which moves most pixels of a 4:2:0 photo by a few levels and a model's
// log-probabilities by about 1e-3.
//
// It reads 8-bit Huffman-coded JPEGs, baseline and progressive, greyscale or 3-component
// (YCbCr, or RGB per an Adobe marker), with any integer sampling factors and restart
// intervals. Anything else (arithmetic coding, 12-bit or lossless JPEG, CMYK) returns
// ErrUnsupported, for the caller to fall back on image/jpeg. The arithmetic follows the
// descriptions in libjpeg's jidctint.c, jdsample.c and jdcolor.c and the JPEG standard
// (ITU T.81, annexes F and G); the code is this project's own.
package jpegdec

import (
	"errors"
	"fmt"
	"image"
)

// MaxPixels bounds the images Decode allocates memory for (callers check their own, lower,
// limit from the header first).
const MaxPixels = 1 << 27

// ErrUnsupported is returned for valid JPEGs this decoder does not handle.
var ErrUnsupported = errors.New("jpegdec: unsupported JPEG")

// zigzag maps the position in a block's coded order to its natural (row-major) index.
var zigzag = [64]int{
	0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
}

type component struct {
	id, h, v, tq int
	// Blocks per line and column as stored: whole MCUs.
	bw, bh int
	// The component's own size in samples (libjpeg's downsampled_width/height) and in blocks.
	dw, dh, cbw, cbh int
	coef             []int32 // bw·bh blocks of 64 coefficients, natural order
	dcPred           int32
	td, ta           int // Huffman tables of the current scan
}

type decoder struct {
	data        []byte
	pos         int
	width       int
	height      int
	progressive bool
	comps       []*component
	hmax, vmax  int
	mcux, mcuy  int
	quant       [4][64]int32 // natural order
	dc, ac      [4]*huffman
	restart     int
	adobe, jfif bool
	transform   int
	seenFrame   bool
	bits        bitReader
	eobrun      int
}

// Decode decodes a JPEG image into opaque RGBA. Corrupt data is an error, never a panic.
func Decode(data []byte) (img *image.RGBA, err error) {
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("jpegdec: corrupt JPEG (%v)", r)
		}
	}()
	d := &decoder{data: data}
	if err := d.parse(); err != nil {
		return nil, err
	}
	planes := d.reconstruct()
	return d.toRGBA(planes)
}

func (d *decoder) u8() (int, error) {
	if d.pos >= len(d.data) {
		return 0, fmt.Errorf("jpegdec: truncated")
	}
	d.pos++
	return int(d.data[d.pos-1]), nil
}

func (d *decoder) u16() (int, error) {
	if d.pos+2 > len(d.data) {
		return 0, fmt.Errorf("jpegdec: truncated")
	}
	d.pos += 2
	return int(d.data[d.pos-2])<<8 | int(d.data[d.pos-1]), nil
}

// segment returns the payload of the marker segment at d.pos (after its length).
func (d *decoder) segment() ([]byte, error) {
	n, err := d.u16()
	if err != nil {
		return nil, err
	}
	if n < 2 || d.pos+n-2 > len(d.data) {
		return nil, fmt.Errorf("jpegdec: bad segment length")
	}
	s := d.data[d.pos : d.pos+n-2]
	d.pos += n - 2
	return s, nil
}

// parse reads the markers and decodes every scan into the coefficient arrays.
func (d *decoder) parse() error {
	if len(d.data) < 4 || d.data[0] != 0xFF || d.data[1] != 0xD8 {
		return fmt.Errorf("jpegdec: not a JPEG")
	}
	d.pos = 2
	for {
		// Find the next marker, skipping fill bytes.
		for d.pos < len(d.data) && d.data[d.pos] != 0xFF {
			d.pos++
		}
		for d.pos < len(d.data) && d.data[d.pos] == 0xFF {
			d.pos++
		}
		if d.pos >= len(d.data) {
			if d.seenFrame {
				return nil // no EOI: what was read is the image, as libjpeg decodes it
			}
			return fmt.Errorf("jpegdec: truncated")
		}
		marker := d.data[d.pos]
		d.pos++
		var err error
		switch {
		case marker == 0xD9: // EOI
			if !d.seenFrame {
				return fmt.Errorf("jpegdec: no frame")
			}
			return nil
		case marker == 0xC0 || marker == 0xC1 || marker == 0xC2:
			err = d.frame(marker == 0xC2)
		case marker >= 0xC3 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC:
			return ErrUnsupported // lossless, hierarchical or arithmetic coding
		case marker == 0xC4:
			err = d.huffmanTables()
		case marker == 0xDB:
			err = d.quantTables()
		case marker == 0xDD:
			var s []byte
			if s, err = d.segment(); err == nil && len(s) >= 2 {
				d.restart = int(s[0])<<8 | int(s[1])
			}
		case marker == 0xDA:
			err = d.scan()
		case marker == 0xEE: // APP14: Adobe's colour transform flag
			var s []byte
			if s, err = d.segment(); err == nil && len(s) >= 12 && string(s[:5]) == "Adobe" {
				d.adobe, d.transform = true, int(s[11])
			}
		case marker == 0xE0: // APP0: JFIF says YCbCr
			var s []byte
			if s, err = d.segment(); err == nil && len(s) >= 5 && string(s[:5]) == "JFIF\x00" {
				d.jfif = true
			}
		case marker == 0xDC: // DNL
			return ErrUnsupported
		case marker >= 0xD0 && marker <= 0xD7, marker == 0x01: // stray RST, TEM
		default:
			_, err = d.segment()
		}
		if err != nil {
			return err
		}
	}
}

func (d *decoder) frame(progressive bool) error {
	s, err := d.segment()
	if err != nil {
		return err
	}
	if d.seenFrame {
		return ErrUnsupported
	}
	if len(s) < 6 || s[0] != 8 {
		return ErrUnsupported // 12-bit or malformed
	}
	d.seenFrame, d.progressive = true, progressive
	d.height, d.width = int(s[1])<<8|int(s[2]), int(s[3])<<8|int(s[4])
	n := int(s[5])
	if d.width == 0 || d.height == 0 || (n != 1 && n != 3) || len(s) < 6+3*n {
		return ErrUnsupported
	}
	if d.width*d.height > MaxPixels {
		return fmt.Errorf("jpegdec: %dx%d image is over the %d-pixel limit", d.width, d.height, MaxPixels)
	}
	for i := 0; i < n; i++ {
		c := &component{id: int(s[6+3*i]), h: int(s[7+3*i] >> 4), v: int(s[7+3*i] & 15), tq: int(s[8+3*i] & 3)}
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 {
			return fmt.Errorf("jpegdec: bad sampling factors")
		}
		d.comps = append(d.comps, c)
		d.hmax, d.vmax = max(d.hmax, c.h), max(d.vmax, c.v)
	}
	d.mcux = ceilDiv(d.width, 8*d.hmax)
	d.mcuy = ceilDiv(d.height, 8*d.vmax)
	for _, c := range d.comps {
		if d.hmax%c.h != 0 || d.vmax%c.v != 0 {
			return ErrUnsupported // non-integral upsampling
		}
		c.bw, c.bh = d.mcux*c.h, d.mcuy*c.v
		c.dw, c.dh = ceilDiv(d.width*c.h, d.hmax), ceilDiv(d.height*c.v, d.vmax)
		c.cbw, c.cbh = ceilDiv(c.dw, 8), ceilDiv(c.dh, 8)
		c.coef = make([]int32, c.bw*c.bh*64)
	}
	return nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func (d *decoder) quantTables() error {
	s, err := d.segment()
	if err != nil {
		return err
	}
	for len(s) > 0 {
		precision, id := s[0]>>4, s[0]&15
		if id > 3 {
			return fmt.Errorf("jpegdec: bad quantization table id")
		}
		s = s[1:]
		for k := 0; k < 64; k++ {
			var q int32
			if precision == 0 {
				if len(s) < 1 {
					return fmt.Errorf("jpegdec: short quantization table")
				}
				q, s = int32(s[0]), s[1:]
			} else {
				if len(s) < 2 {
					return fmt.Errorf("jpegdec: short quantization table")
				}
				q, s = int32(s[0])<<8|int32(s[1]), s[2:]
			}
			d.quant[id][zigzag[k]] = q
		}
	}
	return nil
}

func (d *decoder) huffmanTables() error {
	s, err := d.segment()
	if err != nil {
		return err
	}
	for len(s) >= 17 {
		class, id := s[0]>>4, s[0]&15
		if id > 3 || class > 1 {
			return fmt.Errorf("jpegdec: bad Huffman table id")
		}
		var counts [16]int
		total := 0
		for i := range counts {
			counts[i] = int(s[1+i])
			total += counts[i]
		}
		if len(s) < 17+total || total > 256 {
			return fmt.Errorf("jpegdec: short Huffman table")
		}
		h := newHuffman(counts, s[17:17+total])
		if class == 0 {
			d.dc[id] = h
		} else {
			d.ac[id] = h
		}
		s = s[17+total:]
	}
	return nil
}
