// Package captest holds what attncap's tests share below the captioner package: the backend
// they run on and random tensors.
package captest

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
	"github.com/gomlx/gomlx/core/tensors"
)

var shared = sync.OnceValues(func() (compute.Backend, error) { return gobackend.New("") })

// Backend is the pure-Go backend every test shares (created once).
func Backend(t testing.TB) compute.Backend {
	t.Helper()
	b, err := shared()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RandomTensor is a tensor of standard normal values from rng, and its values.
func RandomTensor[T float32 | float64](rng *rand.Rand, dims ...int) (*tensors.Tensor, []T) {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]T, n)
	for i := range data {
		data[i] = T(rng.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(data, dims...), data
}

// MaxAbsDiff is the largest |a_i − b_i| and the largest |b_i|.
func MaxAbsDiff(a, b []float32) (diff, scale float64) {
	for i := range a {
		diff = math.Max(diff, math.Abs(float64(a[i]-b[i])))
		scale = math.Max(scale, math.Abs(float64(b[i])))
	}
	return
}
