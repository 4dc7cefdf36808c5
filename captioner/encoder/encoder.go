// Package encoder turns images into the grid of region features a decoder attends over: the
// ResNet family as torchvision builds it (batch norm folded into the convolutions), a tiny CNN
// for synthetic data, adaptive average pooling, convolution and pooling chosen per backend, and
// pretrained weights from torchvision/timm safetensors files.
package encoder

import (
	"fmt"
	"math"

	"github.com/attncap/attncap/captioner/layers"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
)

// Options are what the encoder is built from (a model's config holds them).
type Options struct {
	// Name is "tiny" or a ResNet name (resnet18, resnet34, resnet50, resnet101, resnet152).
	Name string
	// ImageSize is the side S of the square input images, in pixels.
	ImageSize int
	// GridSize, when > 0, average-pools the grid to GridSize×GridSize regions.
	GridSize int
	// FineTuneFrom is the first ResNet stage (1..4) whose variables are trainable; 0 freezes
	// the encoder.
	FineTuneFrom int
	// DType is the compute precision: "" or "float32", or "bfloat16" (layers.ComputeDType).
	DType string
}

// Tiny is the name of the small CNN for synthetic data.
const Tiny = "tiny"

// Channels is the channel count C of the regions the named encoder produces.
func Channels(name string) (int, error) {
	if name == Tiny {
		return 256, nil
	}
	spec, ok := ResNetSpecs[name]
	if !ok {
		return 0, fmt.Errorf("unknown encoder %q: want tiny, resnet18, resnet34, resnet50, resnet101 or resnet152", name)
	}
	return spec.Channels(), nil
}

// Validate reports the first setting that cannot work.
func (o Options) Validate() error {
	if _, err := Channels(o.Name); err != nil {
		return err
	}
	if err := layers.ValidatePrecision(o.DType); err != nil {
		return err
	}
	switch {
	case o.ImageSize < 32:
		return fmt.Errorf("image size %d is too small (at least 32)", o.ImageSize)
	case o.FineTuneFrom < 0 || o.FineTuneFrom > 4:
		return fmt.Errorf("fine-tune stage %d must be 0 (frozen) or 1..4", o.FineTuneFrom)
	}
	return nil
}

// GridDims is the grid (h, w) the encoder gives for its image size: S/8 for the tiny
// encoder, S/32 (rounded up) for ResNets, or GridSize×GridSize when pooled.
func (o Options) GridDims() (h, w int) {
	if o.GridSize > 0 {
		return o.GridSize, o.GridSize
	}
	if o.Name == Tiny {
		return o.ImageSize / 8, o.ImageSize / 8
	}
	s := (o.ImageSize + 31) / 32 // stride-2 stages round up, as torchvision's do
	return s, s
}

// ResNetSpec is one member of the ResNet family, as torchvision builds it.
type ResNetSpec struct {
	Blocks     [4]int // residual blocks per stage (layer1..layer4)
	Bottleneck bool   // 1×1 → 3×3 → 1×1 blocks with 4× expansion (ResNet-50 and up)
}

// ResNetSpecs are the encoders by name.
var ResNetSpecs = map[string]ResNetSpec{
	"resnet18":  {[4]int{2, 2, 2, 2}, false},
	"resnet34":  {[4]int{3, 4, 6, 3}, false},
	"resnet50":  {[4]int{3, 4, 6, 3}, true},
	"resnet101": {[4]int{3, 4, 23, 3}, true},
	"resnet152": {[4]int{3, 8, 36, 3}, true},
}

// Channels is the number of channels of the encoder's output grid.
func (s ResNetSpec) Channels() int {
	if s.Bottleneck {
		return 2048
	}
	return 512
}

// BatchNormEps is the epsilon of torchvision's BatchNorm2d.
const BatchNormEps = 1e-5

// ResNet runs a torchvision-architecture ResNet on channels-last images [B, H, W, 3] and returns
// the grid before global pooling, [B, H/32, W/32, C]: 7×7/2 stem, 3×3/2 max-pool, four stages
// of basic or bottleneck blocks (the stride on the 3×3 conv, projection shortcuts when the
// shape changes). Batch norm runs in inference form, folded into the convolutions (convBN).
// Variables are laid out under scope with torchvision's conv names (conv1, layer1/0/conv1,
// layer1/0/downsample/0, …) so pretrained weights map one to one. Stages from trainFrom (1..4)
// on are trainable; 0 or >4 freezes everything.
func ResNet(scope *model.Scope, spec ResNetSpec, images *Node, trainFrom int) *Node {
	x := convBN(scope.At("conv1"), images, 64, 7, 2, 3, true, false)
	x = MaxPool2D(x, 3, 2, 1)
	widths := [4]int{64, 128, 256, 512}
	for stage := 0; stage < 4; stage++ {
		trainable := trainFrom >= 1 && trainFrom <= 4 && stage+1 >= trainFrom
		for i := 0; i < spec.Blocks[stage]; i++ {
			stride := 1
			if i == 0 && stage > 0 {
				stride = 2
			}
			block := scope.At("layer%d", stage+1).At("%d", i)
			if spec.Bottleneck {
				x = bottleneckBlock(block, x, widths[stage], stride, trainable)
			} else {
				x = basicBlock(block, x, widths[stage], stride, trainable)
			}
		}
	}
	return x
}

// basicBlock: relu(bn2(conv3×3(relu(bn1(conv3×3/s(x))))) + shortcut(x)).
func basicBlock(scope *model.Scope, x *Node, width, stride int, trainable bool) *Node {
	y := convBN(scope.At("conv1"), x, width, 3, stride, 1, true, trainable)
	y = convBN(scope.At("conv2"), y, width, 3, 1, 1, false, trainable)
	return activation.Relu(Add(y, shortcut(scope, x, width, stride, trainable)))
}

// bottleneckBlock: relu(bn3(conv1×1(relu(bn2(conv3×3/s(relu(bn1(conv1×1(x)))))))) + shortcut(x)),
// with 4× expansion.
func bottleneckBlock(scope *model.Scope, x *Node, width, stride int, trainable bool) *Node {
	y := convBN(scope.At("conv1"), x, width, 1, 1, 0, true, trainable)
	y = convBN(scope.At("conv2"), y, width, 3, stride, 1, true, trainable)
	y = convBN(scope.At("conv3"), y, 4*width, 1, 1, 0, false, trainable)
	return activation.Relu(Add(y, shortcut(scope, x, 4*width, stride, trainable)))
}

// shortcut is the identity, or a 1×1/stride projection + batch norm ("downsample" in
// torchvision) when the block changes the shape.
func shortcut(scope *model.Scope, x *Node, out, stride int, trainable bool) *Node {
	if stride == 1 && x.Shape().Dimensions[3] == out {
		return x
	}
	return convBN(scope.At("downsample").At("0"), x, out, 1, stride, 0, false, trainable)
}

// TinyEncoder is a small CNN for the synthetic data and fast tests, trained from scratch:
// four 3×3 conv + ReLU layers (32, 64, 128, 256 channels), 2×2 max-pool after the first three,
// so the grid is [B, S/8, S/8, 256].
//
// Its variables are at the images' full precision (layers.FullPrecision), read in their dtype.
func TinyEncoder(scope *model.Scope, images *Node) *Node {
	x := images
	for i, ch := range []int{32, 64, 128, 256} {
		s := scope.At("conv%d", i+1).WithInitializer(initializer.HeFn(scope))
		cin := x.Shape().Dimensions[3]
		w := layers.Weight(s, "weight", x, 3, 3, cin, ch)
		b := layers.Weight(s.WithInitializer(initializer.Zero), "bias", x, ch)
		impl := ConvImpl(model.GetParamOr(scope, ParamConvImpl, string(ConvAuto)))
		x = Conv2DBiasAct(x, w, b, 1, 1, impl, activation.TypeRelu)
		if i < 3 {
			x = MaxPool2D(x, 2, 2, 0)
		}
	}
	return x
}

// AdaptiveAvgPool pools a grid [B, H, W, C] to [B, G, G, C] exactly as PyTorch's
// adaptive_avg_pool2d: output cell i covers input rows ⌊i·H/G⌋ … ⌈(i+1)·H/G⌉−1 (likewise for
// columns), averaged. It is one matrix product with a constant pooling matrix.
func AdaptiveAvgPool(grid *Node, size int) *Node {
	d := grid.Shape().Dimensions
	b, h, w, c := d[0], d[1], d[2], d[3]
	if h == size && w == size {
		return grid
	}
	weights := make([]float32, size*size*h*w)
	for i := 0; i < size; i++ {
		r0, r1 := i*h/size, int(math.Ceil(float64((i+1)*h)/float64(size)))
		for j := 0; j < size; j++ {
			c0, c1 := j*w/size, int(math.Ceil(float64((j+1)*w)/float64(size)))
			inv := 1 / float32((r1-r0)*(c1-c0))
			for r := r0; r < r1; r++ {
				for cc := c0; cc < c1; cc++ {
					weights[(i*size+j)*h*w+r*w+cc] = inv
				}
			}
		}
	}
	g := grid.Graph()
	pool := ConvertDType(Reshape(Const(g, weights), size*size, h*w), grid.DType())
	flat := Reshape(grid, b, h*w, c)
	out := Einsum("gr,brc->bgc", pool, flat)
	return Reshape(out, b, size, size, c)
}

// Grid runs the configured encoder on normalised images [B, S, S, 3] and returns its
// grid [B, h, w, C] (average-pooled to GridSize×GridSize when set). The encoder computes in
// opts.DType (layers.ComputeDType); the grid returns in the images' dtype, before pooling.
func Grid(scope *model.Scope, opts Options, images *Node) *Node {
	x := layers.ToCompute(opts.DType, images)
	var grid *Node
	switch opts.Name {
	case Tiny:
		grid = TinyEncoder(scope.At("encoder"), x)
	default:
		spec, ok := ResNetSpecs[opts.Name]
		if !ok {
			panic(fmt.Sprintf("unknown encoder %q", opts.Name))
		}
		grid = ResNet(scope.At("encoder"), spec, x, opts.FineTuneFrom)
	}
	grid = ConvertDType(grid, images.DType())
	if opts.GridSize > 0 {
		grid = AdaptiveAvgPool(grid, opts.GridSize)
	}
	return grid
}

// GridToRegions flattens a grid [B, h, w, C] into the regions the decoder attends over,
// [B, h·w, C] (row-major: region r is cell (r / w, r % w)).
func GridToRegions(grid *Node) *Node {
	d := grid.Shape().Dimensions
	return Reshape(grid, d[0], d[1]*d[2], d[3])
}

// Regions is Grid flattened to regions [B, R, C].
func Regions(scope *model.Scope, opts Options, images *Node) *Node {
	return GridToRegions(Grid(scope, opts, images))
}
