package captioner

import (
	"fmt"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
	"github.com/gomlx/gomlx/ml/model"
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
	if backend != nil && strings.HasPrefix(strings.ToLower(backend.Name()), "go") {
		return ConvIm2col
	}
	return ConvNative
}

// Conv2D convolves channels-last x [N, H, W, Cin] with kernel [kh, kw, Cin, Cout] at the given
// stride, zero-padding every spatial side by pad, with the chosen implementation:
//
//	y[n, i, j, o] = Σ_{a<kh, b<kw, c} x[n, s·i+a−p, s·j+b−p, c] · kernel[a, b, c, o]
func Conv2D(x, kernel *Node, stride, pad int, impl ConvImpl) *Node {
	switch resolveConvImpl(impl, x.Graph().Backend()) {
	case ConvIm2col:
		return im2colConv(x, kernel, stride, pad)
	default:
		return Convolve(x, kernel).StridePerAxis(stride, stride).
			PaddingPerDim([][2]int{{pad, pad}, {pad, pad}}).Done()
	}
}

// im2colConv computes Conv2D as patches × kernel: the kh·kw strided views of the padded input
// are concatenated on the channel axis (order a, b, c — the kernel's row-major order), then
// multiplied by the kernel reshaped to [kh·kw·Cin, Cout].
func im2colConv(x, kernel *Node, stride, pad int) *Node {
	dims := x.Shape().Dimensions
	n, h, w, c := dims[0], dims[1], dims[2], dims[3]
	kd := kernel.Shape().Dimensions
	kh, kw, cout := kd[0], kd[1], kd[3]
	if kd[2] != c {
		panic(fmt.Sprintf("conv: input has %d channels, kernel expects %d", c, kd[2]))
	}
	if pad > 0 {
		x = Pad(x, ScalarZero(x.Graph(), x.DType()),
			compute.PadAxis{}, compute.PadAxis{Start: pad, End: pad}, compute.PadAxis{Start: pad, End: pad}, compute.PadAxis{})
	}
	ho := (h+2*pad-kh)/stride + 1
	wo := (w+2*pad-kw)/stride + 1
	var patches []*Node
	for a := 0; a < kh; a++ {
		for b := 0; b < kw; b++ {
			patches = append(patches, Slice(x, AxisRange(),
				AxisRange(a, a+(ho-1)*stride+1).Stride(stride),
				AxisRange(b, b+(wo-1)*stride+1).Stride(stride),
				AxisRange()))
		}
	}
	cols := patches[0]
	if len(patches) > 1 {
		cols = Concatenate(patches, -1)
	}
	cols = Reshape(cols, n*ho*wo, kh*kw*c)
	y := nn.Dense(cols, Reshape(kernel, kh*kw*c, cout), nil, compute.DenseLayoutInputOutputs)
	return Reshape(y, n, ho, wo, cout)
}

// convLayer is a bias-free convolution whose kernel lives in scope as "weight" [k, k, Cin, Cout]
// (torchvision's conv weights transposed to channels-last).
func convLayer(scope *model.Scope, x *Node, cout, k, stride, pad int, trainable bool) *Node {
	cin := x.Shape().Dimensions[3]
	v := scope.VariableWithShape("weight", shapes.Make(x.DType(), k, k, cin, cout)).SetTrainable(trainable)
	return Conv2D(x, v.NodeValue(x.Graph()), stride, pad, ConvImpl(model.GetParamOr(scope, ParamConvImpl, string(ConvAuto))))
}
