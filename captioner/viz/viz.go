// Package viz draws the pictures the notebooks show: image grids with labels, histograms and
// line plots (through gonum/plot), all as image.Image so that they can be displayed inline
// (gonbui.DisplayImage) or saved as PNG.
package viz

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	vgdraw "gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// letterbox is the neutral grey around a non-square image in its Grid cell.
var letterbox = color.RGBA{224, 224, 224, 255}

// Grid lays images out in rows of cols square cells of side cell pixels, with an optional label
// (one line, clipped to the cell) in a 16-pixel strip above each. Each image is scaled to fit
// its cell keeping its aspect ratio and centred, the rest of the cell neutral grey (#e0e0e0); a
// 200×100 image in a 100-pixel cell is drawn 100×50. The result is cols·cell pixels wide (cols
// capped at len(images)) and rows·(cell+16) high, on white.
func Grid(images []image.Image, labels []string, cols, cell int) *image.RGBA {
	cols = max(1, min(cols, len(images)))
	rows := (len(images) + cols - 1) / cols
	const labelH = 16
	out := image.NewRGBA(image.Rect(0, 0, cols*cell, rows*(cell+labelH)))
	draw.Draw(out, out.Bounds(), image.White, image.Point{}, draw.Src)
	for i, img := range images {
		x, y := (i%cols)*cell, (i/cols)*(cell+labelH)
		box := image.Rect(x, y+labelH, x+cell, y+labelH+cell)
		draw.Draw(out, box, image.NewUniform(letterbox), image.Point{}, draw.Src)
		xdraw.CatmullRom.Scale(out, fit(img.Bounds(), box), img, img.Bounds(), xdraw.Src, nil)
		if i < len(labels) {
			d := font.Drawer{Dst: out, Src: image.Black, Face: basicfont.Face7x13, Dot: fixed.P(x+3, y+12)}
			d.DrawString(clip(labels[i], cell/7))
		}
	}
	return out
}

// fit is the largest rectangle with src's aspect ratio that fits in box, centred in it (sizes
// rounded to whole pixels, at least 1×1).
func fit(src, box image.Rectangle) image.Rectangle {
	sw, sh := src.Dx(), src.Dy()
	bw, bh := box.Dx(), box.Dy()
	if sw <= 0 || sh <= 0 || bw <= 0 || bh <= 0 {
		return image.Rectangle{Min: box.Min, Max: box.Min}
	}
	w, h := bw, bh
	if sw*bh > sh*bw { // wider than the box: full width
		h = max(1, int(math.Round(float64(bw)*float64(sh)/float64(sw))))
	} else {
		w = max(1, int(math.Round(float64(bh)*float64(sw)/float64(sh))))
	}
	x, y := box.Min.X+(bw-w)/2, box.Min.Y+(bh-h)/2
	return image.Rect(x, y, x+w, y+h)
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:max(0, n-1)]) + "…"
	}
	return s
}

// render draws a plot into an image of w×h points.
func render(p *plot.Plot, w, h vg.Length) image.Image {
	c := vgimg.New(w, h)
	p.Draw(vgdraw.New(c))
	return c.Image()
}

// Histogram plots the distribution of values over bins.
func Histogram(values []float64, bins int, title, xLabel string) (image.Image, error) {
	if len(values) == 0 {
		return nil, fmt.Errorf("histogram %q: no values", title)
	}
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, xLabel, "count"
	h, err := plotter.NewHist(plotter.Values(values), bins)
	if err != nil {
		return nil, fmt.Errorf("histogram: %w", err)
	}
	h.FillColor = color.RGBA{70, 130, 180, 255}
	p.Add(h)
	return render(p, 6*vg.Inch, 3*vg.Inch), nil
}

// Series is one line of a line plot.
type Series struct {
	Name string
	X, Y []float64
}

// Lines plots series against a shared x axis.
func Lines(title, xLabel, yLabel string, series ...Series) (image.Image, error) {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, xLabel, yLabel
	p.Add(plotter.NewGrid())
	palette := []color.Color{color.RGBA{31, 119, 180, 255}, color.RGBA{255, 127, 14, 255}, color.RGBA{44, 160, 44, 255}, color.RGBA{214, 39, 40, 255}}
	for i, s := range series {
		pts := make(plotter.XYs, len(s.X))
		for j := range s.X {
			pts[j].X, pts[j].Y = s.X[j], s.Y[j]
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, fmt.Errorf("line plot %q: %w", s.Name, err)
		}
		l.Color = palette[i%len(palette)]
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(s.Name, l)
	}
	p.Legend.Top = true
	legendHeadroom(p, series)
	return render(p, 6*vg.Inch, 3*vg.Inch), nil
}

// legendHeadroom extends the y axis above the data by a band for the legend (which sits at the
// top right), so that the legend never covers a line.
func legendHeadroom(p *plot.Plot, series []Series) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, y := range s.Y {
			lo, hi = math.Min(lo, y), math.Max(hi, y)
		}
	}
	if math.IsInf(lo, 0) || len(series) == 0 {
		return
	}
	r := hi - lo
	if r == 0 {
		r = math.Max(math.Abs(hi), 1)
	}
	p.Y.Min, p.Y.Max = lo-0.05*r, hi+r*(0.05+0.14*float64(len(series)))
}
