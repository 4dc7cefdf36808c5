package layers

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/attncap/attncap/captioner/internal/captest"
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
)

// dense must be layers.Dense with a bias: the same variables, and the same outputs and
// gradients (bit for bit) for the same values, so checkpoints and results do not change.
func TestDenseEqualsLayersDense(t *testing.T) {
	backend := captest.Backend(t)
	rng := rand.New(rand.NewPCG(41, 42))
	// A small product and one large enough for the Go backend's blocked AVX-512 kernel.
	for _, dims := range [][3]int{{3, 5, 7}, {64, 20, 300}} {
		denseMatchesLayersDense(t, backend, rng, dims, 4+dims[2])
	}
}

func denseMatchesLayersDense(t *testing.T, backend compute.Backend, rng *rand.Rand, dims [3]int, out int) {
	x, _ := captest.RandomTensor[float32](rng, dims[:]...)
	run := func(store *model.Store, f func(*model.Scope, *Node) *Node) [][]float32 {
		outs, err := model.CallOnceN(backend, store, func(scope *model.Scope, x *Node) []*Node {
			y := f(scope.At("layer"), x)
			loss := ReduceAllSum(Mul(y, y))
			var vars []*Node
			for _, p := range []string{"/layer/dense/weights", "/layer/dense/biases"} {
				vars = append(vars, store.GetVariable(p).NodeValue(x.Graph()))
			}
			grads := Gradient(loss, append(vars, x)...)
			for i := range grads { // AddScalar(·, 0): a multi-output gradient node cannot be a graph output (compute v0.1.14)
				grads[i] = AddScalar(grads[i], 0)
			}
			return append([]*Node{y}, grads...)
		}, x)
		if err != nil {
			t.Fatal(err)
		}
		var flat [][]float32
		for _, o := range outs {
			flat = append(flat, tensors.MustCopyFlatData[float32](o))
		}
		return flat
	}
	ref := model.NewStore()
	want := run(ref, func(s *model.Scope, x *Node) *Node { return layers.Dense(s, x, true, out) })
	ours := model.NewStore()
	for v := range ref.IterVariables() { // the same values: dense must find and reuse them
		if _, err := ours.CreateVariable(v.Path(), v.MustValue()); err != nil {
			t.Fatal(err)
		}
	}
	got := run(ours, func(s *model.Scope, x *Node) *Node { return Dense(s, x, out) })
	var refPaths, ourPaths []string
	for v := range ref.IterVariables() {
		refPaths = append(refPaths, v.Path()+" "+v.Shape().String())
	}
	for v := range ours.IterVariables() {
		ourPaths = append(ourPaths, v.Path()+" "+v.Shape().String())
	}
	if !slices.Equal(refPaths, ourPaths) {
		t.Fatalf("dense's variables %v, layers.Dense's %v", ourPaths, refPaths)
	}
	for i, name := range []string{"output", "d/dweights", "d/dbiases", "d/dx"} {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("x %v: %s differs from layers.Dense's: %v vs %v", dims, name, got[i][:4], want[i][:4])
		}
	}
}
