package captioner

import (
	"image"
	"image/color"
	"image/draw"
	"math"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// GridDims is the encoder grid (h, w) for the model's image size: S/8 for the tiny encoder,
// S/32 for ResNets, or GridSize×GridSize when pooled.
func (c *Config) GridDims() (h, w int) {
	if c.GridSize > 0 {
		return c.GridSize, c.GridSize
	}
	if c.Encoder == "tiny" {
		return c.ImageSize / 8, c.ImageSize / 8
	}
	s := (c.ImageSize + 31) / 32 // stride-2 stages round up, as torchvision's do
	return s, s
}

// AttentionFigure draws the picture people share from this model: the image, then the image
// once per generated word with that word's attention map upsampled (smoothly, Catmull-Rom) and
// laid over it — bright where the model looked — with the word as a label. panel is the side
// of each square panel in pixels; panels wrap after perRow.
func AttentionFigure(img image.Image, words []string, attention [][]float32, gridH, gridW, panel, perRow int) *image.RGBA {
	n := len(words) + 1
	perRow = max(1, min(perRow, n))
	rows := (n + perRow - 1) / perRow
	const label = 16
	fig := image.NewRGBA(image.Rect(0, 0, perRow*panel, rows*(panel+label)))
	draw.Draw(fig, fig.Bounds(), image.White, image.Point{}, draw.Src)
	base := image.NewRGBA(image.Rect(0, 0, panel, panel))
	xdraw.CatmullRom.Scale(base, base.Bounds(), img, img.Bounds(), xdraw.Src, nil)
	place := func(i int, p *image.RGBA, text string) {
		x, y := (i%perRow)*panel, (i/perRow)*(panel+label)
		draw.Draw(fig, image.Rect(x, y+label, x+panel, y+label+panel), p, image.Point{}, draw.Src)
		d := font.Drawer{Dst: fig, Src: image.Black, Face: basicfont.Face7x13, Dot: fixed.P(x+3, y+12)}
		d.DrawString(text)
	}
	place(0, base, "")
	for i, w := range words {
		if i >= len(attention) {
			break
		}
		place(i+1, overlayAttention(base, attention[i], gridH, gridW), w)
	}
	return fig
}

// overlayAttention brightens the image where attention is high and dims it elsewhere, with a
// warm tint proportional to the (max-normalised, upsampled) attention.
func overlayAttention(base *image.RGBA, alpha []float32, gridH, gridW int) *image.RGBA {
	maxA := float32(0)
	for _, a := range alpha {
		maxA = max(maxA, a)
	}
	small := image.NewGray(image.Rect(0, 0, gridW, gridH))
	for i := 0; i < gridH*gridW && i < len(alpha); i++ {
		v := float32(0)
		if maxA > 0 {
			v = alpha[i] / maxA
		}
		small.Pix[i] = uint8(math.Round(float64(v) * 255))
	}
	b := base.Bounds()
	heat := image.NewGray(b)
	xdraw.CatmullRom.Scale(heat, b, small, small.Bounds(), xdraw.Src, nil)
	out := image.NewRGBA(b)
	for i := 0; i < len(heat.Pix); i++ {
		a := float64(heat.Pix[i]) / 255
		p := base.Pix[4*i : 4*i+4]
		shade := 0.25 + 0.75*a
		tint := color.RGBA{255, 200, 40, 255}
		out.Pix[4*i] = uint8(math.Min(255, float64(p[0])*shade+0.35*a*float64(tint.R)))
		out.Pix[4*i+1] = uint8(math.Min(255, float64(p[1])*shade+0.35*a*float64(tint.G)))
		out.Pix[4*i+2] = uint8(math.Min(255, float64(p[2])*shade+0.35*a*float64(tint.B)))
		out.Pix[4*i+3] = 255
	}
	return out
}
