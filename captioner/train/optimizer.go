package train

import (
	"strings"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// clippedAdam is Adam with gradient clipping by global norm and a separate learning rate for
// the encoder's variables (when it is fine-tuned).
type clippedAdam struct {
	adam         optimizer.Interface
	maxNorm      float64 // 0: no clipping
	encoderRatio float64 // encoder learning rate / learning rate
}

// NewOptimizer returns Adam (learning rate lr) whose gradients are scaled down to global norm
// maxNorm when larger, and whose steps on encoder variables are scaled by encoderLR/lr (Adam's
// step does not depend on the gradient's scale, so the step itself is scaled: exactly Adam
// with learning rate encoderLR for those variables). The learning rate lives in the store's
// variable /optimizers/learning_rate, so it can be decayed between steps (SetLearningRate).
func NewOptimizer(lr, encoderLR, maxNorm float64) optimizer.Interface {
	ratio := 1.0
	if encoderLR > 0 && lr > 0 {
		ratio = encoderLR / lr
	}
	return &clippedAdam{adam: optimizer.Adam().LearningRate(lr).Done(), maxNorm: maxNorm, encoderRatio: ratio}
}

type withGradients interface {
	UpdateGraphWithGradients(scope *model.Scope, grads []*Node, lossDType dtypes.DType)
}

// UpdateGraph implements optimizer.Interface.
func (o *clippedAdam) UpdateGraph(scope *model.Scope, g *Graph, loss *Node) {
	var vars []*model.Variable
	for v := range scope.IterVariables() {
		if v.Trainable && v.InUseByGraph(g) {
			vars = append(vars, v)
		}
	}
	grads := scope.BuildTrainableVariablesGradientsGraph(loss)
	if o.maxNorm > 0 {
		// g ← g · min(1, maxNorm/‖g‖), ‖g‖ the norm of all gradients together.
		var sq *Node
		for _, gr := range grads {
			s := ReduceAllSum(Square(gr))
			if sq == nil {
				sq = s
			} else {
				sq = Add(sq, s)
			}
		}
		norm := Sqrt(sq)
		scale := Min(ScalarOne(g, norm.DType()), Div(Scalar(g, norm.DType(), o.maxNorm), Max(norm, Scalar(g, norm.DType(), 1e-12))))
		for i := range grads {
			grads[i] = Mul(grads[i], ConvertDType(scale, grads[i].DType()))
		}
	}
	var before []*Node
	if o.encoderRatio != 1 {
		for _, v := range vars {
			before = append(before, v.NodeValue(g))
		}
	}
	o.adam.(withGradients).UpdateGraphWithGradients(scope, grads, loss.DType())
	if o.encoderRatio != 1 {
		for i, v := range vars {
			if strings.HasPrefix(v.Path(), "/encoder/") {
				after := v.NodeValue(g)
				v.SetNodeValue(Add(before[i], MulScalar(Sub(after, before[i]), o.encoderRatio)))
			}
		}
	}
}

// Clear implements optimizer.Interface.
func (o *clippedAdam) Clear(scope *model.Scope) error { return o.adam.Clear(scope) }

// learningRatePath is where GoMLX's optimizers keep the learning rate.
var learningRatePath = "/" + optimizer.Scope + "/" + optimizer.ParamLearningRate

// SetLearningRate changes the learning rate of an optimizer made by NewOptimizer; the next
// training step uses it.
func SetLearningRate(store *model.Store, lr float64) error {
	value := tensors.FromScalar(float32(lr))
	if v := store.GetVariable(learningRatePath); v != nil {
		return v.SetValue(value)
	}
	v, err := store.CreateVariable(learningRatePath, value)
	if err != nil {
		return err
	}
	v.SetTrainable(false)
	return nil
}

// LearningRate reads the current learning rate (0 before the first step).
func LearningRate(store *model.Store) float64 {
	v := store.GetVariable(learningRatePath)
	if v == nil || !v.HasValue() {
		return 0
	}
	return float64(tensors.ToScalar[float32](v.MustValue()))
}
