package encoder

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/attncap/attncap/captioner/internal/captest"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
	"github.com/gomlx/gomlx/core/tensors"
)

func TestConvIm2colMatchesNative(t *testing.T) {
	backend := captest.Backend(t)
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct{ h, w, cin, cout, k, stride, pad int }{
		{9, 11, 5, 4, 3, 1, 1},
		{9, 11, 5, 4, 3, 2, 1},
		{16, 16, 3, 8, 7, 2, 3}, // the ResNet stem
		{8, 6, 6, 5, 1, 2, 0},   // a projection shortcut
		{7, 7, 2, 3, 3, 1, 0},
	}
	for _, c := range cases {
		x, _ := captest.RandomTensor[float32](rng, 2, c.h, c.w, c.cin)
		kernel, _ := captest.RandomTensor[float32](rng, c.k, c.k, c.cin, c.cout)
		run := func(impl ConvImpl) []float32 {
			out, err := ExecOnce(backend, func(x, k *Node) *Node { return Conv2D(x, k, c.stride, c.pad, impl) }, x, kernel)
			if err != nil {
				t.Fatal(err)
			}
			return tensors.MustCopyFlatData[float32](out)
		}
		native, im2col := run(ConvNative), run(ConvIm2col)
		if len(native) != len(im2col) {
			t.Fatalf("%+v: sizes %d vs %d", c, len(native), len(im2col))
		}
		if diff, scale := captest.MaxAbsDiff(im2col, native); diff > 1e-5*math.Max(1, scale) {
			t.Errorf("%+v: im2col differs from native by %g (scale %g)", c, diff, scale)
		}
	}
}

func TestMaxPool2DMatchesBackendMaxPool(t *testing.T) {
	backend := captest.Backend(t)
	rng := rand.New(rand.NewPCG(31, 32))
	for _, c := range []struct{ h, w, k, stride, pad int }{{9, 8, 3, 2, 1}, {8, 8, 2, 2, 0}, {7, 5, 3, 1, 1}} {
		x, _ := captest.RandomTensor[float32](rng, 2, c.h, c.w, 3)
		gathered, err := ExecOnce(backend, func(x *Node) *Node { return MaxPool2D(x, c.k, c.stride, c.pad) }, x)
		if err != nil {
			t.Fatal(err)
		}
		native, err := ExecOnce(backend, func(x *Node) *Node {
			return MaxPool(x).Window(c.k).Strides(c.stride).PaddingPerDim([][2]int{{c.pad, c.pad}, {c.pad, c.pad}}).Done()
		}, x)
		if err != nil {
			t.Fatal(err)
		}
		a, b := tensors.MustCopyFlatData[float32](gathered), tensors.MustCopyFlatData[float32](native)
		if !equalInts(gathered.Shape().Dimensions, native.Shape().Dimensions) {
			t.Fatalf("%+v: shapes %v vs %v", c, gathered.Shape(), native.Shape())
		}
		if diff, _ := captest.MaxAbsDiff(a, b); diff != 0 {
			t.Errorf("%+v: differs by %g", c, diff)
		}
	}
}

func TestMaxPool2DGradientMatchesBackendMaxPool(t *testing.T) {
	backend := captest.Backend(t)
	rng := rand.New(rand.NewPCG(33, 34))
	for _, c := range []struct{ h, w, k, stride, pad int }{{9, 8, 3, 2, 1}, {8, 8, 2, 2, 0}} {
		x, _ := captest.RandomTensor[float32](rng, 2, c.h, c.w, 5)
		grad := func(pool func(x *Node) *Node) []float32 {
			out, err := ExecOnce(backend, func(x *Node) *Node {
				y := pool(x)
				// Weight each output differently so that every routing error shows.
				w := AddScalar(MulScalar(ConvertDType(IotaFull(x.Graph(), y.Shape()), y.DType()), 0.01), 1)
				return Gradient(ReduceAllSum(Mul(y, w)), x)[0]
			}, x)
			if err != nil {
				t.Fatal(err)
			}
			return tensors.MustCopyFlatData[float32](out)
		}
		gathered := grad(func(x *Node) *Node { return MaxPool2D(x, c.k, c.stride, c.pad) })
		native := grad(func(x *Node) *Node {
			return MaxPool(x).Window(c.k).Strides(c.stride).PaddingPerDim([][2]int{{c.pad, c.pad}, {c.pad, c.pad}}).Done()
		})
		if diff, _ := captest.MaxAbsDiff(gathered, native); diff > 1e-6 {
			t.Errorf("%+v: gradients differ by %g", c, diff)
		}
	}
}

func TestAdaptiveAvgPoolMatchesDefinition(t *testing.T) {
	backend := captest.Backend(t)
	rng := rand.New(rand.NewPCG(3, 4))
	const h, w, c, g = 7, 5, 2, 3
	x, data := captest.RandomTensor[float32](rng, 1, h, w, c)
	out, err := ExecOnce(backend, func(x *Node) *Node { return AdaptiveAvgPool(x, g) }, x)
	if err != nil {
		t.Fatal(err)
	}
	got := tensors.MustCopyFlatData[float32](out)
	// PyTorch's rule: cell i spans [floor(i·H/G), ceil((i+1)·H/G)).
	bounds := func(i, n int) (int, int) { return i * n / g, ((i+1)*n + g - 1) / g }
	for i := 0; i < g; i++ {
		r0, r1 := bounds(i, h)
		for j := 0; j < g; j++ {
			c0, c1 := bounds(j, w)
			for ch := 0; ch < c; ch++ {
				var sum float64
				for r := r0; r < r1; r++ {
					for cc := c0; cc < c1; cc++ {
						sum += float64(data[(r*w+cc)*c+ch])
					}
				}
				want := sum / float64((r1-r0)*(c1-c0))
				if v := got[(i*g+j)*c+ch]; math.Abs(float64(v)-want) > 1e-5 {
					t.Fatalf("cell (%d,%d,%d) = %v, want %v", i, j, ch, v, want)
				}
			}
		}
	}
}
