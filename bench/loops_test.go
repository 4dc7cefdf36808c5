package bench

import (
	"math/rand/v2"
	"testing"

	"github.com/attncap/attncap/captioner"
)

// TestLoopsAgree runs the GPU check's comparison of the two decoding loops on the Go backend,
// where the captioner tests already show they agree: every caption the same.
func TestLoopsAgree(t *testing.T) {
	backend, _, err := captioner.NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	for _, beam := range []int{1, 3} {
		same, diff, err := LoopsAgree(backend, captioner.DecoderTransformer, beam, 4, rand.New(rand.NewPCG(5, 5)))
		if err != nil {
			t.Fatal(err)
		}
		if same != 4 || diff > 1e-4 {
			t.Errorf("beam %d: %d of 4 captions the same, log-probabilities up to %g apart", beam, same, diff)
		}
	}
}
