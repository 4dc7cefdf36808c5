package layers

import (
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/nn"
)

// Dense is GoMLX's layers.Dense(scope, x, true, out) — x [..., in] → [..., out], the same variables
// ("dense/weights" [in, out], then "dense/biases" [out], with the scope's initializer) and the
// same values — with the bias added after the fused matrix product instead of inside it. Its
// gradient is then a ReduceSum over the leading axes, which the Go backend runs row by row;
// the fused op's own bias gradient walks dZ one column at a time, which took about a tenth of
// a Transformer training step at batch 64 on this project's 2-core machine (gomlx/compute
// v0.1.14; docs/performance.md). The variables are at FullPrecision of x (float32 for a
// bfloat16 x, read as bfloat16: NewVariable); the output has x's dtype. Unlike GoMLX's layers.Dense it
// applies no scope regulariser (attncap configures none).
func Dense(scope *model.Scope, x *Node, out int) *Node {
	s := scope.In("dense")
	w := Weight(s, "weights", x, x.Shape().Dimensions[x.Rank()-1], out)
	y := nn.Dense(x, w, nil, compute.DenseLayoutInputOutputs)
	bias := Weight(s, "biases", x, out)
	return Add(y, ExpandLeftToRank(bias, y.Rank()))
}
