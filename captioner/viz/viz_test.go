package viz

import (
	"image"
	"image/color"
	"math"
	"testing"

	"gonum.org/v1/plot"
)

func TestGridPlacesLabelledCells(t *testing.T) {
	red := image.NewRGBA(image.Rect(0, 0, 10, 20))
	for i := 0; i < len(red.Pix); i += 4 {
		red.Pix[i], red.Pix[i+3] = 255, 255
	}
	g := Grid([]image.Image{red, red, red}, []string{"a", "b", "c"}, 2, 50)
	if g.Bounds().Dx() != 100 || g.Bounds().Dy() != 2*(50+16) {
		t.Fatalf("grid %v", g.Bounds())
	}
	if c := g.RGBAAt(25, 16+25); c != (color.RGBA{255, 0, 0, 255}) {
		t.Errorf("cell centre %v, want red", c)
	}
	if c := g.RGBAAt(75, 66+25); c != (color.RGBA{255, 255, 255, 255}) {
		t.Errorf("empty fourth cell %v, want white", c)
	}
}

// TestGridKeepsAspectRatio: a 200×100 image in a 100-pixel cell is drawn 100×50, centred, with
// neutral grey above and below, not stretched square.
func TestGridKeepsAspectRatio(t *testing.T) {
	wide := image.NewRGBA(image.Rect(0, 0, 200, 100))
	for i := 0; i < len(wide.Pix); i += 4 {
		wide.Pix[i], wide.Pix[i+3] = 255, 255
	}
	g := Grid([]image.Image{wide}, []string{"wide"}, 1, 100)
	red := color.RGBA{255, 0, 0, 255}
	var minX, minY, maxX, maxY = 1 << 30, 1 << 30, -1, -1
	for y := 16; y < 116; y++ {
		for x := 0; x < 100; x++ {
			c := g.RGBAAt(x, y)
			if c.R > 200 && c.G < 60 && c.B < 60 { // red: the image
				minX, minY, maxX, maxY = min(minX, x), min(minY, y), max(maxX, x), max(maxY, y)
			} else if c != letterbox {
				t.Fatalf("pixel (%d,%d) = %v: neither the image nor the letterbox", x, y, c)
			}
		}
	}
	w, h := maxX-minX+1, maxY-minY+1
	if w != 100 || h != 50 || minY-16 != 25 {
		t.Errorf("drawn content %d×%d at y %d in the cell, want 100×50 (2:1) at y 25", w, h, minY-16)
	}
	if c := g.RGBAAt(50, 16+50); c != red {
		t.Errorf("cell centre %v, want red", c)
	}
	if c := g.RGBAAt(50, 16+5); c != letterbox {
		t.Errorf("above the image %v, want the letterbox grey", c)
	}
	if got := fit(image.Rect(0, 0, 100, 300), image.Rect(10, 10, 70, 70)); got != image.Rect(30, 10, 50, 70) {
		t.Errorf("fit of a tall image: %v, want (30,10)-(50,70)", got)
	}
}

func TestPlotsRender(t *testing.T) {
	h, err := Histogram([]float64{1, 2, 2, 3, 3, 3}, 3, "t", "x")
	if err != nil || h.Bounds().Dx() == 0 {
		t.Fatalf("histogram: %v %v", h, err)
	}
	l, err := Lines("t", "x", "y", Series{Name: "a", X: []float64{0, 1}, Y: []float64{1, 2}})
	if err != nil || l.Bounds().Dy() == 0 {
		t.Fatalf("lines: %v %v", l, err)
	}
	if _, err := Histogram(nil, 3, "t", "x"); err == nil {
		t.Error("histogram of nothing should fail")
	}
}

// The legend's band lies above every line: the y axis reaches past the highest point by the
// band's height.
func TestLinesLeaveRoomForTheLegend(t *testing.T) {
	p := plot.New()
	legendHeadroom(p, []Series{{Name: "a", X: []float64{1, 2}, Y: []float64{0.2, 0.9}}, {Name: "b", X: []float64{1, 2}, Y: []float64{0.1, 0.4}}})
	if want := 0.9 + 0.8*(0.05+0.28); math.Abs(p.Y.Max-want) > 1e-12 || math.Abs(p.Y.Min-(0.1-0.04)) > 1e-12 {
		t.Errorf("y axis [%v, %v], want [0.06, %v]", p.Y.Min, p.Y.Max, want)
	}
}
