package train

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/internal/captest"
	"github.com/attncap/attncap/captioner/runfolder"
	"github.com/attncap/attncap/internal/safetensors"
)

func TestCosineLRByHand(t *testing.T) {
	// lr·½(1 + cos(π·e/n)): cos 0 = 1, cos(π/3) = ½, cos(π/2) = 0, cos(2π/3) = −½.
	for _, c := range []struct {
		e, n int
		want float64
	}{{0, 3, 4e-3}, {1, 3, 3e-3}, {2, 3, 1e-3}, {2, 4, 2e-3}, {4, 4, 0}} {
		if got := CosineLR(4e-3, c.e, c.n); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("CosineLR(4e-3, %d, %d) = %v, want %v", c.e, c.n, got, c.want)
		}
	}
}

// TestCosineScheduleSetsEachEpochsRate trains three epochs with the cosine schedule and a
// plateau patience of one epoch: each epoch's rate is the schedule's, whatever validation says.
func TestCosineScheduleSetsEachEpochsRate(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	opts := smallTrainOptions(t, smallShapes(t, 40), 3)
	opts.LRSchedule, opts.LRPatience, opts.NoTest = LRCosine, 1, true
	if _, err := Train(context.Background(), captest.Backend(t), opts); err != nil {
		t.Fatal(err)
	}
	recs := readLines(t, filepath.Join(opts.Out, runfolder.Metrics))
	want := []float64{opts.LR, 0.75 * opts.LR, 0.25 * opts.LR}
	if len(recs) != len(want) {
		t.Fatalf("%d epochs recorded, want %d", len(recs), len(want))
	}
	for i, r := range recs {
		if math.Abs(r.LR-want[i]) > 1e-12 {
			t.Errorf("epoch %d: learning rate %v, want %v", r.Epoch, r.LR, want[i])
		}
	}
	// The optimizer's own rate (saved with its state in last/) is the last epoch's.
	last, err := safetensors.Open(filepath.Join(opts.Out, runfolder.Last, captioner.VariablesFile))
	if err != nil {
		t.Fatal(err)
	}
	defer last.Close()
	_, lr, err := last.Float32s(learningRatePath)
	if err != nil || len(lr) != 1 || lr[0] != float32(want[2]) {
		t.Errorf("optimizer learning rate %v (%v), want %v", lr, err, float32(want[2]))
	}
}

func TestTrainRefusesAnUnknownSchedule(t *testing.T) {
	opts := smallTrainOptions(t, smallShapes(t, 12), 1)
	opts.LRSchedule = "linear"
	_, err := Train(context.Background(), captest.Backend(t), opts)
	if err == nil || !strings.Contains(err.Error(), `-lr-schedule "linear": want plateau (the default) or cosine`) {
		t.Errorf("err = %v", err)
	}
}
