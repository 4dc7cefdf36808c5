// Package layers holds the building blocks that attncap's encoders and decoders share: a dense
// layer with a cheaper bias gradient on the Go backend, and the mixed-precision helpers that
// keep variables at full precision while activations flow in bfloat16.
package layers

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Mixed precision (a model's "dtype" "bfloat16"). The encoder and the decoders convert their
// inputs to ComputeDType, so activations and matrix products run in bfloat16, and convert
// their outputs (grids, logits, attention) back to the inputs' dtype, so the loss, the
// optimizer and all host code see float32. Every variable is created at FullPrecision of the
// activations it acts on — float32 "master" weights, so Adam's moments and checkpoints are
// those of a float32 model — and converted where it is read. What rounding to bfloat16 would
// hurt stays in float32: softmaxes (the attention's scores, weights and weighted sum),
// layer-norm statistics, the LSTM's gates and cell state, and the loss. GoMLX has no hook that
// converts a variable when it is read (model.Scope creates variables in the dtype asked for),
// hence these helpers.
//
// With the default precision the activations are float32 (or float64 in tests),
// FullPrecision is the identity, every ConvertDType here is a no-op (graph.ConvertDType
// returns its input for the same dtype) and the graphs are those of a model without them.

// Compute precisions, as a model's config names them.
const (
	Float32  = "float32"
	BFloat16 = "bfloat16"
)

// ValidatePrecision reports a precision that is neither Float32 (or empty) nor BFloat16.
func ValidatePrecision(precision string) error {
	switch precision {
	case "", Float32, BFloat16:
		return nil
	}
	return fmt.Errorf("dtype %q: want %s (the default) or %s", precision, Float32, BFloat16)
}

// ComputeDType is the dtype activations flow in for graph inputs of dtype in: bfloat16 when
// precision is BFloat16, otherwise in itself (float32; float64 in some tests).
func ComputeDType(precision string, in dtypes.DType) dtypes.DType {
	if precision == BFloat16 {
		return dtypes.BFloat16
	}
	return in
}

// ToCompute converts graph inputs x (images or regions) to ComputeDType(precision).
func ToCompute(precision string, x *Node) *Node {
	return ConvertDType(x, ComputeDType(precision, x.DType()))
}

// FullPrecision is the dtype of the variables that act on activations of dtype dt, and of the
// statistics computed from them: float32 for the 16-bit floats, dt itself otherwise.
func FullPrecision(dt dtypes.DType) dtypes.DType {
	if dt == dtypes.BFloat16 || dt == dtypes.Float16 {
		return dtypes.Float32
	}
	return dt
}

// ToFull converts x to FullPrecision of its dtype (float32 for bfloat16; otherwise x itself).
func ToFull(x *Node) *Node { return ConvertDType(x, FullPrecision(x.DType())) }

// NewVariable returns scope's variable name, shaped dims, at FullPrecision(dtype) for
// activations of dtype: created with the scope's initializer on first use. A variable already
// in the store with another shape (weights loaded for another configuration) panics with a
// *ShapeMismatchError, which graph building returns as an error.
func NewVariable(scope *model.Scope, name string, dtype dtypes.DType, dims ...int) *model.Variable {
	want := shapes.Make(FullPrecision(dtype), dims...)
	path := model.JoinPath(scope.Scope(), name)
	if v := scope.Store().GetVariable(path); v != nil && !v.Shape().Equal(want) {
		panic(&ShapeMismatchError{Path: path, Have: v.Shape(), Want: want})
	}
	return scope.VariableWithShape(name, want)
}

// ShapeMismatchError is a variable whose stored value (loaded weights) has another shape than
// the model being built asks for.
type ShapeMismatchError struct {
	Path       string       // the variable, e.g. "/decoder/lstm/dense/weights"
	Have, Want shapes.Shape // in the store; asked for by the graph
}

func (e *ShapeMismatchError) Error() string {
	return fmt.Sprintf("variable %s is %s in the weights, but the config builds %s", e.Path, e.Have, e.Want)
}

// ValueAs is v's value in g, converted to dtype.
func ValueAs(v *model.Variable, g *Graph, dtype dtypes.DType) *Node {
	return ConvertDType(v.NodeValue(g), dtype)
}

// Weight is scope's variable name [dims...] for activations like x (NewVariable), read as x's
// dtype.
func Weight(scope *model.Scope, name string, x *Node, dims ...int) *Node {
	return ValueAs(NewVariable(scope, name, x.DType(), dims...), x.Graph(), x.DType())
}

// Embedding looks ids [..., 1] (integers) up in scope's table "embeddings" [rows, dim] (a
// variable at FullPrecision(dtype)) and returns the vectors as dtype, [..., dim]: the rows are
// gathered at full precision, then converted, so only they are (and a repeated word's gradient
// is summed at full precision). It is GoMLX's layers.Embedding with the table's dtype
// decoupled.
func Embedding(scope *model.Scope, ids *Node, dtype dtypes.DType, rows, dim int) *Node {
	table := NewVariable(scope, "embeddings", dtype, rows, dim).NodeValue(ids.Graph())
	return ConvertDType(Gather(table, ids), dtype)
}

// SetVariable sets the store's variable at fullPath (e.g. "/encoder/conv1/weight") to value,
// creating it when absent. An existing variable of another shape is an error naming both
// shapes: weights that do not belong to the model's configuration.
func SetVariable(store *model.Store, fullPath string, value *tensors.Tensor) error {
	if v := store.GetVariable(fullPath); v != nil {
		if !v.Shape().Equal(value.Shape()) {
			return fmt.Errorf("variable %s: has shape %s, checkpoint gives %s", fullPath, v.Shape(), value.Shape())
		}
		return v.SetValue(value)
	}
	_, err := store.CreateVariable(fullPath, value)
	return err
}

// goBackendName is what GoMLX's pure-Go backend reports as its Name (gomlx/compute v0.1.14;
// the package exports no type to assert on).
const goBackendName = "Go Backend"

// IsGoBackend reports whether b is GoMLX's pure-Go backend, where a compiled graph's call costs
// no transfer and GoMLX's native convolution is slow: the choices that differ per backend
// (convolution as im2col, decoding loops on the host) ask it.
func IsGoBackend(b compute.Backend) bool { return b != nil && b.Name() == goBackendName }
