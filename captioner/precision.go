package captioner

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/ml/model"
)

// Mixed precision (Config.DType "bfloat16"). The encoder and the decoders convert their inputs
// to Config.ComputeDType, so activations and matrix products run in bfloat16, and convert
// their outputs (grids, logits, attention) back to the inputs' dtype, so the loss, the
// optimizer and all host code see float32. Every variable is created at fullPrecision of the
// activations it acts on — float32 "master" weights, so Adam's moments and checkpoints are
// those of a float32 model — and converted where it is read. What rounding to bfloat16 would
// hurt stays in float32: softmaxes (the attention's scores, weights and weighted sum),
// layer-norm statistics, the LSTM's gates and cell state, and the loss. GoMLX has no hook that
// converts a variable when it is read (model.Scope creates variables in the dtype asked for),
// hence these helpers.
//
// With the default precision the activations are float32 (or float64 in tests),
// fullPrecision is the identity, every ConvertDType here is a no-op (graph.ConvertDType
// returns its input for the same dtype) and the graphs are those of a model without them.

// fullPrecision is the dtype of the variables that act on activations of dtype dt, and of the
// statistics computed from them: float32 for the 16-bit floats, dt itself otherwise.
func fullPrecision(dt dtypes.DType) dtypes.DType {
	if dt == dtypes.BFloat16 || dt == dtypes.Float16 {
		return dtypes.Float32
	}
	return dt
}

// toFull converts x to fullPrecision of its dtype (float32 for bfloat16; otherwise x itself).
func toFull(x *Node) *Node { return ConvertDType(x, fullPrecision(x.DType())) }

// toCompute converts graph inputs x (images or regions) to cfg's compute dtype.
func toCompute(cfg *Config, x *Node) *Node { return ConvertDType(x, cfg.ComputeDType(x.DType())) }

// newVariable returns scope's variable name, shaped dims, at fullPrecision(dtype) for
// activations of dtype: created with the scope's initializer on first use.
func newVariable(scope *model.Scope, name string, dtype dtypes.DType, dims ...int) *model.Variable {
	return scope.VariableWithShape(name, shapes.Make(fullPrecision(dtype), dims...))
}

// valueAs is v's value in g, converted to dtype.
func valueAs(v *model.Variable, g *Graph, dtype dtypes.DType) *Node {
	return ConvertDType(v.NodeValue(g), dtype)
}

// weight is scope's variable name [dims...] for activations like x (newVariable), read as x's
// dtype.
func weight(scope *model.Scope, name string, x *Node, dims ...int) *Node {
	return valueAs(newVariable(scope, name, x.DType(), dims...), x.Graph(), x.DType())
}

// embedding looks ids [..., 1] (integers) up in scope's table "embeddings" [rows, dim] (a
// variable at fullPrecision(dtype)) and returns the vectors as dtype, [..., dim]: the rows are
// gathered at full precision, then converted, so only they are (and a repeated word's gradient
// is summed at full precision). It is layers.Embedding with the table's dtype decoupled.
func embedding(scope *model.Scope, ids *Node, dtype dtypes.DType, rows, dim int) *Node {
	table := newVariable(scope, "embeddings", dtype, rows, dim).NodeValue(ids.Graph())
	return ConvertDType(Gather(table, ids), dtype)
}
