package viz

import (
	"image"
	"image/color"
	"testing"
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
