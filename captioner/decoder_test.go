package captioner

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// TestStepsEqualTeacherForcing checks, for both decoders with random weights, that decoding
// step by step from Prepare's state (the Transformer reading its key/value cache, the LSTM
// carrying h and c) gives the same logits and attention as TeacherForced recomputing every
// position of the whole captions at once.
func TestStepsEqualTeacherForcing(t *testing.T) {
	backend := testBackend(t)
	for _, decoder := range append(decoders, "lstm+coords") {
		t.Run(decoder, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(21, 22))
			cfg := tinyDecoderConfig(strings.TrimSuffix(decoder, "+coords"), 11)
			cfg.RegionCoords = strings.HasSuffix(decoder, "+coords")
			const images, numRegions = 3, 4 // a 2×2 grid
			regions, _ := randomTensor[float64](rng, images, numRegions, 256)
			captions := tensors.FromValue([][]int32{{1, 4, 6, 9, 2, 0, 0, 0}, {1, 5, 2, 0, 0, 0, 0, 0}, {1, 10, 10, 7, 8, 6, 5, 2}})
			steps := cfg.MaxLen - 1
			out, err := model.CallOnceN(backend, model.NewStore(), func(scope *model.Scope, regions, captions *graph.Node) []*graph.Node {
				dec := NewDecoder(cfg)
				logits, alphas := dec.TeacherForced(scope, regions, captions)
				memory, state := dec.Prepare(scope, regions, steps)
				var stepLogits, stepAlphas []*graph.Node
				for p := 0; p < steps; p++ {
					prev := graph.Reshape(graph.Slice(captions, graph.AxisRange(), graph.AxisElem(p)), -1)
					l, next, a := dec.Step(scope, regions, memory, state, prev, graph.Scalar(regions.Graph(), dtypes.Int32, p))
					stepLogits, stepAlphas, state = append(stepLogits, l), append(stepAlphas, a), next
				}
				return []*graph.Node{logits, alphas, graph.Stack(stepLogits, 1), graph.Stack(stepAlphas, 1)}
			}, regions, captions)
			if err != nil {
				t.Fatal(err)
			}
			for i, what := range []string{"logits", "attention"} {
				full, stepped := tensors.MustCopyFlatData[float64](out[i]), tensors.MustCopyFlatData[float64](out[i+2])
				if len(full) != len(stepped) {
					t.Fatalf("%s: %v teacher-forced, %v stepped", what, out[i].Shape(), out[i+2].Shape())
				}
				for j := range full {
					if math.Abs(full[j]-stepped[j]) > 1e-12*(1+math.Abs(full[j])) {
						t.Fatalf("%s[%d]: teacher-forced %.15g, stepped %.15g", what, j, full[j], stepped[j])
					}
				}
			}
		})
	}
}

// TestDecodedLogProbIsTheCaptionsProbability checks decoding end to end against teacher
// forcing: a greedy or beam caption's LogProb must equal the sum of log softmax(logits) of its
// words and <end>, computed by TeacherForced on the caption itself.
func TestDecodedLogProbIsTheCaptionsProbability(t *testing.T) {
	for _, decoder := range decoders {
		t.Run(decoder, func(t *testing.T) {
			m, _, _ := trainedTinyDecoder(t, decoder)
			rng := rand.New(rand.NewPCG(23, 24))
			noisy, _ := randomTensor[float32](rng, 8, 4, 256)
			for _, k := range []int{1, 3} {
				caps, err := m.BeamSearch(noisy, DecodeOptions{Beam: k})
				if err != nil {
					t.Fatal(err)
				}
				for i, c := range caps {
					if !c.Finished {
						continue
					}
					want := teacherForcedLogProb(t, m, noisy, i, c.Tokens)
					if math.Abs(want-c.LogProb) > 1e-4 {
						t.Errorf("beam %d image %d %q: decoded log-prob %.6f, teacher forcing %.6f", k, i, c.Words, c.LogProb, want)
					}
				}
			}
		})
	}
}

// teacherForcedLogProb is log p(tokens, <end> | image i) by TeacherForced.
func teacherForcedLogProb(t *testing.T, m *Model, regions *tensors.Tensor, i int, tokens []int32) float64 {
	t.Helper()
	one, err := m.gather(regions, []int32{int32(i)})
	if err != nil {
		t.Fatal(err)
	}
	ids := append(append([]int32{text.StartID}, tokens...), text.EndID)
	caption := tensors.FromFlatDataAndDimensions(ids, 1, len(ids))
	out, err := model.CallOnce(m.Backend, m.Store, func(scope *model.Scope, regions, captions *graph.Node) *graph.Node {
		logits, _ := NewDecoder(m.Config).TeacherForced(scope, regions, captions)
		return graph.LogSoftmax(logits, -1)
	}, one, caption)
	if err != nil {
		t.Fatal(err)
	}
	lp := tensors.MustCopyFlatData[float32](out)
	v := m.Config.VocabSize
	var sum float64
	for p, w := range ids[1:] {
		sum += float64(lp[p*v+int(w)])
	}
	return sum
}

// TestCheckpointsWithoutADecoderAreLSTMs checks that a config.json written before the
// Transformer existed (no "decoder" field) still loads, as the LSTM it is.
func TestCheckpointsWithoutADecoderAreLSTMs(t *testing.T) {
	dir := t.TempDir()
	old := `{"encoder": "tiny", "image_size": 64, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
	"vocab_size": 41, "max_len": 16, "embed_dim": 128, "hidden_dim": 256, "attention_dim": 128, "dropout": 0.2, "attention_reg": 1}`
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DecoderName() != DecoderLSTM {
		t.Fatalf("decoder %q, want lstm", cfg.DecoderName())
	}
	if _, ok := NewDecoder(cfg).(lstmDecoder); !ok {
		t.Fatalf("NewDecoder gave %T", NewDecoder(cfg))
	}
}

// TestRegionCoordsAreTheCellCentres: a 2×2 grid's cells, row-major, have centres
// (−½, −½), (½, −½), (−½, ½), (½, ½); the features pass unchanged in front of them.
func TestRegionCoordsAreTheCellCentres(t *testing.T) {
	regions := tensors.FromValue([][][]float32{{{1}, {2}, {3}, {4}}, {{5}, {6}, {7}, {8}}})
	out, err := graph.ExecOnce(testBackend(t), WithRegionCoords, regions)
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

func TestTransformerConfigErrorsNameTheSetting(t *testing.T) {
	for _, c := range []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.Heads = 3 }, "multiple of -heads 3"},
		{func(c *Config) { c.Layers = 0 }, "layers 0"},
		{func(c *Config) { c.Positions = "rotary" }, `positions "rotary"`},
		{func(c *Config) { c.AttentionReg = 1 }, "attention regulariser"},
		{func(c *Config) { c.RegionCoords = true }, "region coordinates (-region-coords) are for the LSTM decoder only"},
		{func(c *Config) { c.Decoder = "gru" }, `unknown decoder "gru"`},
	} {
		cfg := tinyDecoderConfig(DecoderTransformer, 20)
		c.change(cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v, want it to say %q", err, c.want)
		}
	}
	if err := tinyDecoderConfig(DecoderTransformer, 20).Validate(); err != nil {
		t.Errorf("the default tiny transformer: %v", err)
	}
	lstm := tinyDecoderConfig(DecoderLSTM, 20)
	lstm.AttentionReg = -1
	if err := lstm.Validate(); err == nil || !strings.Contains(err.Error(), "λ = -1") {
		t.Errorf("LSTM with λ = -1: err = %v, want it to name λ", err)
	}
	lstm.AttentionReg = 0
	if err := lstm.Validate(); err != nil {
		t.Errorf("LSTM with λ = 0 (off): %v", err)
	}
}
