package lstm

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/attncap/attncap/captioner/internal/captest"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// TestRegionCoordsAreTheCellCentres: a 2×2 grid's cells, row-major, have centres
// (−½, −½), (½, −½), (−½, ½), (½, ½); the features pass unchanged in front of them.
func TestRegionCoordsAreTheCellCentres(t *testing.T) {
	regions := tensors.FromValue([][][]float32{{{1}, {2}, {3}, {4}}, {{5}, {6}, {7}, {8}}})
	out, err := ExecOnce(captest.Backend(t), WithRegionCoords, regions)
	if err != nil {
		t.Fatal(err)
	}
	want := [][][]float32{
		{{1, -0.5, -0.5}, {2, 0.5, -0.5}, {3, -0.5, 0.5}, {4, 0.5, 0.5}},
		{{5, -0.5, -0.5}, {6, 0.5, -0.5}, {7, -0.5, 0.5}, {8, 0.5, 0.5}},
	}
	if got := out.Value().([][][]float32); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestAttentionWeightsSumToOne(t *testing.T) {
	backend := captest.Backend(t)
	rng := rand.New(rand.NewPCG(5, 6))
	opts := Options{VocabSize: 10, EmbedDim: 16, HiddenDim: 32, AttentionDim: 16} // the tiny test model's sizes
	regions, _ := captest.RandomTensor[float32](rng, 3, 6, 256)
	h, _ := captest.RandomTensor[float32](rng, 3, opts.HiddenDim)
	store := model.NewStore()
	out, err := model.CallOnce(backend, store, func(scope *model.Scope, regions, h *Node) *Node {
		_, alpha := Attend(scope, opts, regions, ProjectRegions(scope, opts, regions), h)
		return alpha
	}, regions, h)
	if err != nil {
		t.Fatal(err)
	}
	alpha := tensors.MustCopyFlatData[float32](out)
	for b := 0; b < 3; b++ {
		var sum float64
		for r := 0; r < 6; r++ {
			v := alpha[b*6+r]
			if v < 0 || v > 1 {
				t.Fatalf("alpha[%d,%d] = %v outside [0,1]", b, r, v)
			}
			sum += float64(v)
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Fatalf("image %d: attention sums to %v", b, sum)
		}
	}
}
