package datasets

import (
	"encoding/binary"
	"image"
)

// EXIF orientations (the TIFF Orientation tag, 0x0112): how the stored pixels must be turned
// to stand upright.
const (
	orientNormal     = 1
	orientFlipH      = 2
	orientRotate180  = 3
	orientFlipV      = 4
	orientTranspose  = 5
	orientRotate270  = 6 // 90° clockwise
	orientTransverse = 7
	orientRotate90   = 8 // 90° counter-clockwise
)

// exifOrientation reads the EXIF orientation of a JPEG held in memory, the way
// github.com/disintegration/imaging's AutoOrientation does (the first APP1 segment, IFD0's
// Orientation tag), without the goroutine and pipe through which imaging.Decode tees the whole
// file. It returns 0 when the data is not a JPEG or says nothing valid.
func exifOrientation(data []byte) int {
	if len(data) < 2 || binary.BigEndian.Uint16(data) != 0xffd8 {
		return 0
	}
	p := 2
	for { // find the first APP1 segment
		if p+4 > len(data) {
			return 0
		}
		marker, size := binary.BigEndian.Uint16(data[p:]), int(binary.BigEndian.Uint16(data[p+2:]))
		p += 4
		if marker>>8 != 0xff {
			return 0
		}
		if marker == 0xffe1 {
			break
		}
		if size < 2 || p+size-2 > len(data) {
			return 0
		}
		p += size - 2
	}
	// "Exif\0\0", then a TIFF header: byte order, 42, offset of IFD0 from the header's start.
	if p+14 > len(data) || string(data[p:p+4]) != "Exif" {
		return 0
	}
	p += 6
	var order binary.ByteOrder
	switch binary.BigEndian.Uint16(data[p:]) {
	case 0x4d4d:
		order = binary.BigEndian
	case 0x4949:
		order = binary.LittleEndian
	default:
		return 0
	}
	offset := int64(order.Uint32(data[p+4:]))
	if offset < 8 || int64(p)+offset+2 > int64(len(data)) {
		return 0
	}
	p += int(offset)
	n := int(order.Uint16(data[p:]))
	p += 2
	for i := 0; i < n; i++ {
		if p+12 > len(data) {
			return 0
		}
		if order.Uint16(data[p:]) == 0x0112 {
			if v := int(order.Uint16(data[p+8:])); v >= 1 && v <= 8 {
				return v
			}
			return 0
		}
		p += 12
	}
	return 0
}

// orient turns img upright for an EXIF orientation (a new image unless there is nothing to do),
// pixel for pixel as imaging's AutoOrientation does.
func orient(img *image.RGBA, o int) *image.RGBA {
	if o <= orientNormal || o > orientRotate90 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if o >= orientTranspose {
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < dh; y++ {
		for x := 0; x < dw; x++ {
			var sx, sy int // the stored pixel shown at (x, y)
			switch o {
			case orientFlipH:
				sx, sy = w-1-x, y
			case orientRotate180:
				sx, sy = w-1-x, h-1-y
			case orientFlipV:
				sx, sy = x, h-1-y
			case orientTranspose:
				sx, sy = y, x
			case orientRotate270:
				sx, sy = y, h-1-x
			case orientTransverse:
				sx, sy = w-1-y, h-1-x
			case orientRotate90:
				sx, sy = w-1-y, x
			}
			s, d := img.PixOffset(b.Min.X+sx, b.Min.Y+sy), dst.PixOffset(x, y)
			copy(dst.Pix[d:d+4], img.Pix[s:s+4])
		}
	}
	return dst
}
