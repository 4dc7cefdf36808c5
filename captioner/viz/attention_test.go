package viz

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"testing"
)

// The test names contain "Attention" or "Figure": go test ./captioner -run 'Attention|Figure'.

func TestAttentionViridisPublishedValues(t *testing.T) {
	// matplotlib: to_hex(cm.viridis(0)), (0.5), (1).
	for _, c := range []struct {
		t    float64
		want color.RGBA
	}{
		{0, color.RGBA{0x44, 0x01, 0x54, 255}},
		{0.5, color.RGBA{0x21, 0x91, 0x8c, 255}},
		{1, color.RGBA{0xfd, 0xe7, 0x25, 255}},
		{-3, color.RGBA{0x44, 0x01, 0x54, 255}},
		{7, color.RGBA{0xfd, 0xe7, 0x25, 255}},
		{math.NaN(), color.RGBA{0x44, 0x01, 0x54, 255}},
	} {
		if got := Viridis(c.t); got != c.want {
			t.Errorf("Viridis(%v) = %v, want %v", c.t, got, c.want)
		}
	}
	tab := ViridisTable()
	for _, c := range []struct {
		i    int
		want [3]float64
	}{{0, [3]float64{0.267004, 0.004874, 0.329415}}, {128, [3]float64{0.127568, 0.566949, 0.550556}}, {255, [3]float64{0.993248, 0.906157, 0.143936}}} {
		if tab[c.i] != c.want {
			t.Errorf("ViridisTable()[%d] = %v, want matplotlib's %v", c.i, tab[c.i], c.want)
		}
	}
	// Perceptually ordered: luminance grows along the map.
	prev := -1.0
	for i, c := range tab {
		y := 0.2126*linear(c[0]) + 0.7152*linear(c[1]) + 0.0722*linear(c[2])
		if y <= prev {
			t.Errorf("luminance falls at entry %d: %.4f after %.4f", i, y, prev)
		}
		prev = y
	}
}

func linear(v float64) float64 {
	if v <= 0.04045 {
		return v / 12.92
	}
	return math.Pow((v+0.055)/1.055, 2.4)
}

func uniform(w, h int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(c), image.Point{}, draw.Src)
	return img
}

func TestAttentionFigureSize(t *testing.T) {
	img := uniform(200, 100, color.RGBA{200, 30, 30, 255})
	maps := make([][]float32, 3)
	for i := range maps {
		maps[i] = make([]float32, 16)
		maps[i][i] = 1
	}
	words := []string{"a", "red", "thing"}
	// Panel 100 → the image 96×48 (2:1 kept), rows of 2 + 48 + 20, then the 62-pixel colour bar.
	for _, c := range []struct{ perRow, w, h int }{{4, 400, 70 + 62}, {9, 400, 70 + 62}, {2, 200, 2*70 + 62}} {
		fig := AttentionFigure(img, words, maps, 4, 4, 100, c.perRow)
		if fig.Bounds() != image.Rect(0, 0, c.w, c.h) {
			t.Errorf("perRow %d: figure %v, want %d×%d", c.perRow, fig.Bounds(), c.w, c.h)
		}
	}
	fig := AttentionFigure(img, words, maps, 4, 4, 100, 4)
	// The first panel is the image, not stretched: 96×48 from (2, 2), white around it.
	red := color.RGBA{200, 30, 30, 255}
	for _, p := range []image.Point{{2, 2}, {97, 2}, {2, 49}, {97, 49}, {50, 25}} {
		if c := fig.RGBAAt(p.X, p.Y); c != red {
			t.Errorf("image pixel %v = %v, want %v", p, c, red)
		}
	}
	for _, p := range []image.Point{{1, 25}, {98, 25}, {50, 1}, {50, 51}} {
		if c := fig.RGBAAt(p.X, p.Y); c != (color.RGBA{255, 255, 255, 255}) {
			t.Errorf("pixel %v next to the image = %v, want white", p, c)
		}
	}
	// Fewer maps than words: panels only for the words with a map.
	if f := AttentionFigure(img, words, maps[:1], 4, 4, 100, 4); f.Bounds().Dx() != 200 {
		t.Errorf("2 panels: figure %v, want 200 wide", f.Bounds())
	}
}

// TestAttentionFigureOneHot: all the attention on one grid cell puts the hottest colour there,
// and the colour bar runs from Viridis(0) to Viridis(1).
func TestAttentionFigureOneHot(t *testing.T) {
	grey := color.RGBA{128, 128, 128, 255}
	const gh, gw, row, col = 2, 4, 1, 2
	m := make([]float32, gh*gw)
	m[row*gw+col] = 0.5 // the scale's top is the largest weight, whatever it is
	fig := AttentionFigure(uniform(200, 100, grey), []string{"thing"}, [][]float32{m}, gh, gw, 104, 2)
	// Panel 1's image is 100×50 at (106, 2): a grid cell is 25×25 pixels.
	ox, oy := 104+figMargin, figTop
	best, bx, by := -1, 0, 0
	for y := 0; y < 50; y++ {
		for x := 0; x < 100; x++ {
			c := fig.RGBAAt(ox+x, oy+y)
			if v := int(c.R) + int(c.G) - int(c.B); v > best { // towards yellow
				best, bx, by = v, x, y
			}
		}
	}
	if bx/25 != col || by/25 != row {
		t.Errorf("hottest pixel at (%d,%d), in grid cell (%d,%d); want cell (%d,%d)", bx, by, by/25, bx/25, row, col)
	}
	mix := func(c color.RGBA) color.RGBA {
		return color.RGBA{blend(grey.R, c.R), blend(grey.G, c.G), blend(grey.B, c.B), 255}
	}
	// Pixel (62, 37) samples the grid exactly at the attended cell's centre.
	if c, hot := fig.RGBAAt(ox+col*25+12, oy+row*25+12), mix(Viridis(1)); c != hot {
		t.Errorf("centre of the attended cell %v, want %v (Viridis(1) over grey)", c, hot)
	}
	if c, cold := fig.RGBAAt(ox+1, oy+1), mix(Viridis(0)); c != cold {
		t.Errorf("far corner %v, want %v (Viridis(0) over grey)", c, cold)
	}
	// The colour bar: 0 at its left end, the largest weight at its right end.
	barY := fig.Bounds().Dy() - figLegend + 24 + 6
	x0, x1 := -1, -1
	for x := 0; x < fig.Bounds().Dx(); x++ {
		if c := fig.RGBAAt(x, barY); c != (color.RGBA{255, 255, 255, 255}) {
			if x0 < 0 {
				x0 = x
			}
			x1 = x
		}
	}
	if x0 < 0 || fig.RGBAAt(x0, barY) != Viridis(0) || fig.RGBAAt(x1, barY) != Viridis(1) {
		t.Errorf("colour bar from x %d to %d: %v … %v", x0, x1, fig.RGBAAt(max(x0, 0), barY), fig.RGBAAt(max(x1, 0), barY))
	}
}

// TestAttentionFigureShapes draws a shapes-like example (a red square and a blue circle on grey)
// and, with ATTNCAP_FIGURE_PNG=path, saves it to look at.
func TestAttentionFigureShapes(t *testing.T) {
	const w, h, gh, gw = 240, 160, 8, 8
	img := uniform(w, h, color.RGBA{150, 150, 150, 255})
	draw.Draw(img, image.Rect(30, 40, 100, 110), image.NewUniform(color.RGBA{220, 30, 30, 255}), image.Point{}, draw.Src)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if dx, dy := float64(x-170), float64(y-80); dx*dx+dy*dy <= 40*40 {
				img.SetRGBA(x, y, color.RGBA{40, 70, 220, 255})
			}
		}
	}
	// Attention blobs (softmax-like, summing to 1) on the square, the circle, both, neither.
	blob := func(cx, cy, s float64) []float32 {
		m, sum := make([]float32, gh*gw), float32(0)
		for r := 0; r < gh; r++ {
			for c := 0; c < gw; c++ {
				x, y := (float64(c)+0.5)/gw*w, (float64(r)+0.5)/gh*h
				v := float32(math.Exp(-((x-cx)*(x-cx) + (y-cy)*(y-cy)) / (2 * s * s)))
				m[r*gw+c], sum = v+0.01, sum+v+0.01
			}
		}
		for i := range m {
			m[i] /= sum
		}
		return m
	}
	both := blob(65, 75, 30)
	for i, v := range blob(170, 80, 30) {
		both[i] = (both[i] + v) / 2
	}
	words := []string{"a", "red", "square", "and", "a", "blue", "circle"}
	maps := [][]float32{blob(120, 80, 200), blob(65, 75, 25), blob(65, 75, 35), both, blob(120, 80, 200), blob(170, 80, 25), blob(170, 80, 35)}
	fig := AttentionFigure(img, words, maps, gh, gw, 160, 4)
	iw, ih := attentionPanelSize(img.Bounds(), 160)
	if fig.Bounds().Dx() != 4*160 || fig.Bounds().Dy() != 2*(figTop+ih+figCaption)+figLegend || iw != 156 || ih != 104 {
		t.Errorf("figure %v, panel image %d×%d", fig.Bounds(), iw, ih)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, fig); err != nil {
		t.Fatal(err)
	}
	if out := os.Getenv("ATTNCAP_FIGURE_PNG"); out != "" {
		if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", out)
	}
}
