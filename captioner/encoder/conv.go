package encoder

import (
	"fmt"

	"github.com/attncap/attncap/captioner/layers"
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/nn"
)

// ConvImpl selects how a 2D convolution is computed.
type ConvImpl string

const (
	// ConvAuto picks ConvIm2col on the pure-Go backend and ConvNative elsewhere.
	ConvAuto ConvImpl = "auto"
	// ConvNative uses the backend's own convolution (cuDNN on XLA/CUDA).
	ConvNative ConvImpl = "native"
	// ConvIm2col gathers the kh×kw patches and does one matrix product: ~30× faster than the
	// Go backend's native convolution.
	ConvIm2col ConvImpl = "im2col"
)

// ParamConvImpl is the scope hyperparameter (a string, see ConvImpl) that picks the
// convolution; unset means ConvAuto.
const ParamConvImpl = "conv_impl"

// resolveConvImpl turns ConvAuto into the right choice for the graph's backend.
func resolveConvImpl(impl ConvImpl, backend compute.Backend) ConvImpl {
	if impl == ConvNative || impl == ConvIm2col {
		return impl
	}
	if layers.IsGoBackend(backend) {
		return ConvIm2col
	}
	return ConvNative
}

// Conv2D convolves channels-last x [N, H, W, Cin] with kernel [kh, kw, Cin, Cout] at the given
// stride, zero-padding every spatial side by pad, with the chosen implementation:
//
//	y[n, i, j, o] = Σ_{a<kh, b<kw, c} x[n, s·i+a−p, s·j+b−p, c] · kernel[a, b, c, o]
func Conv2D(x, kernel *Node, stride, pad int, impl ConvImpl) *Node {
	return Conv2DBiasAct(x, kernel, nil, stride, pad, impl, activation.TypeNone)
}

// Conv2DBiasAct is act(Conv2D(x, kernel) + bias), bias [Cout] optional (nil). On the im2col
// path the bias and activation are fused into the matrix product.
func Conv2DBiasAct(x, kernel, bias *Node, stride, pad int, impl ConvImpl, act activation.Type) *Node {
	if resolveConvImpl(impl, x.Graph().Backend()) == ConvIm2col {
		return im2colConv(x, kernel, bias, stride, pad, act)
	}
	y := Convolve(x, kernel).StridePerAxis(stride, stride).PaddingPerDim([][2]int{{pad, pad}, {pad, pad}}).Done()
	if bias != nil {
		y = Add(y, ExpandLeftToRank(bias, y.Rank()))
	}
	return activation.Apply(act, y)
}

// im2colConv computes Conv2D as patches × kernel: gatherPatches collects each output pixel's
// kh·kw input pixels (order a, b, c — the kernel's row-major order), then one matrix product
// with the kernel reshaped to [kh·kw·Cin, Cout] (bias and activation fused).
func im2colConv(x, kernel, bias *Node, stride, pad int, act activation.Type) *Node {
	c := x.Shape().Dimensions[3]
	kd := kernel.Shape().Dimensions
	kh, kw, cout := kd[0], kd[1], kd[3]
	if kd[2] != c {
		panic(fmt.Sprintf("conv: input has %d channels, kernel expects %d", c, kd[2]))
	}
	cols, n, ho, wo := gatherPatches(x, kh, kw, stride, pad, ScalarZero(x.Graph(), x.DType()), false)
	cols = Reshape(cols, n*ho*wo, kh*kw*c)
	y := nn.Dense(cols, Reshape(kernel, kh*kw*c, cout), bias, compute.DenseLayoutInputOutputs, act)
	return Reshape(y, n, ho, wo, cout)
}

// gatherPatches returns the kh×kw windows of x [N, H, W, C] at the given stride, with pad
// pixels of value fill around the image, as [N·Ho·Wo, kh·kw, C] (im2col's layout), or with
// windowFirst as [kh·kw, N·Ho·Wo, C]. It is one Gather of C-contiguous rows from x flattened
// to [N·H·W+1, C], whose extra last row holds fill (padding positions point at it): on the Go
// backend this copies whole rows, where strided slices copy element by element.
func gatherPatches(x *Node, kh, kw, stride, pad int, fill *Node, windowFirst bool) (patches *Node, n, ho, wo int) {
	d := x.Shape().Dimensions
	n, h, w, c := d[0], d[1], d[2], d[3]
	ho = (h+2*pad-kh)/stride + 1
	wo = (w+2*pad-kw)/stride + 1
	padRow := int32(n * h * w)
	positions, windows := n*ho*wo, kh*kw
	idx := make([]int32, positions*windows)
	for b := 0; b < n; b++ {
		for i := 0; i < ho; i++ {
			for j := 0; j < wo; j++ {
				p := (b*ho+i)*wo + j
				for a := 0; a < kh; a++ {
					for bb := 0; bb < kw; bb++ {
						at := p*windows + a*kw + bb
						if windowFirst {
							at = (a*kw+bb)*positions + p
						}
						r, col := i*stride+a-pad, j*stride+bb-pad
						if r < 0 || r >= h || col < 0 || col >= w {
							idx[at] = padRow
						} else {
							idx[at] = int32((b*h+r)*w + col)
						}
					}
				}
			}
		}
	}
	g := x.Graph()
	rows := Concatenate([]*Node{Reshape(x, n*h*w, c), BroadcastToDims(Reshape(fill, 1, 1), 1, c)}, 0)
	indices := Const(g, tensors.FromFlatDataAndDimensions(idx, len(idx), 1))
	patches = Gather(rows, indices)
	if windowFirst {
		return Reshape(patches, windows, positions, c), n, ho, wo
	}
	return Reshape(patches, positions, windows, c), n, ho, wo
}

// MaxPool2D is max pooling over k×k windows at the given stride with pad pixels of −∞ around
// the image (PyTorch's MaxPool2d). On the Go backend it gathers the windows (gatherPatches),
// much faster there than its reduce-window op; elsewhere it uses the backend's max-pool.
func MaxPool2D(x *Node, k, stride, pad int) *Node {
	if resolveConvImpl(ConvAuto, x.Graph().Backend()) != ConvIm2col {
		return MaxPool(x).Window(k).Strides(stride).PaddingPerDim([][2]int{{pad, pad}, {pad, pad}}).Done()
	}
	// Windows first ([k·k, positions, C]): the max then reduces the leading axis, and its
	// gradient broadcasts [1, positions, C] against [k·k, positions, C], which the Go backend
	// does with a contiguous fast path (a middle-axis broadcast goes through its slow generic
	// iterator: training the tiny encoder spent ~15 % of its time there).
	c := x.Shape().Dimensions[3]
	patches, n, ho, wo := gatherPatches(x, k, k, stride, pad, Infinity(x.Graph(), x.DType(), -1), true)
	return Reshape(ReduceMax(patches, 0), n, ho, wo, c)
}

// convBN is a convolution followed by a frozen batch norm and an optional ReLU, with the batch
// norm folded into the convolution (exact in inference form):
//
//	BN(conv(x, W)) = conv(x, W·s) + (β − μ·s),   s = γ/√(σ²+ε)  (per output channel)
//
// The folded kernel is scope's "weight" [k, k, Cin, Cout] and the folded shift its "bias"
// [Cout] (see LoadResNetWeights), at x's full precision (float32 for a bfloat16 x, read as
// bfloat16: layers.FullPrecision); scope is named after the torchvision conv (conv1, layer1/0/conv2,
// layer2/0/downsample/0).
func convBN(scope *model.Scope, x *Node, cout, k, stride, pad int, relu, trainable bool) *Node {
	cin := x.Shape().Dimensions[3]
	g, dtype := x.Graph(), x.DType()
	w := layers.NewVariable(scope, "weight", dtype, k, k, cin, cout).SetTrainable(trainable)
	b := layers.NewVariable(scope.WithInitializer(initializer.Zero), "bias", dtype, cout).SetTrainable(trainable)
	act := activation.TypeNone
	if relu {
		act = activation.TypeRelu
	}
	impl := ConvImpl(model.GetParamOr(scope, ParamConvImpl, string(ConvAuto)))
	return Conv2DBiasAct(x, layers.ValueAs(w, g, dtype), layers.ValueAs(b, g, dtype), stride, pad, impl, act)
}
