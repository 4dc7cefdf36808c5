package decode

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/internal/captest"
	"github.com/attncap/attncap/captioner/internal/testmodel"
	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	gomlxtrain "github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

func TestTinyModelOverfitsEightCaptions(t *testing.T) {
	for _, decoder := range testmodel.Decoders {
		t.Run(decoder, func(t *testing.T) {
			m, regions, captions := testmodel.TrainedTinyDecoder(t, decoder)
			got, err := Greedy(m, regions, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range captions {
				if strings.Join(got[i].Words, " ") != strings.Join(c, " ") || !got[i].Finished {
					t.Errorf("image %d: decoded %q (finished %v), want %q", i, got[i].Words, got[i].Finished, c)
				}
				if len(got[i].Attention) != len(got[i].Words) || len(got[i].Attention[0]) != 4 {
					t.Errorf("image %d: %d attention maps for %d words", i, len(got[i].Attention), len(got[i].Words))
				}
			}
		})
	}
}

func TestBeamSizeOneEqualsGreedy(t *testing.T) {
	for _, decoder := range testmodel.Decoders {
		t.Run(decoder, func(t *testing.T) {
			m, regions, _ := testmodel.TrainedTinyDecoder(t, decoder)
			// A model mid-training makes the choice less obvious: perturb the regions.
			rng := rand.New(rand.NewPCG(13, 14))
			noisy, _ := captest.RandomTensor[float32](rng, 8, 4, 256)
			for _, r := range []*tensors.Tensor{regions, noisy} {
				greedy, err := Greedy(m, r, Options{})
				if err != nil {
					t.Fatal(err)
				}
				beam, err := Beam(m, r, Options{Beam: 1})
				if err != nil {
					t.Fatal(err)
				}
				for i := range greedy {
					if strings.Join(beam[i].Words, " ") != strings.Join(greedy[i].Words, " ") || math.Abs(beam[i].LogProb-greedy[i].LogProb) > 1e-9 {
						t.Errorf("image %d: beam 1 %q (%v), greedy %q (%v)", i, beam[i].Words, beam[i].LogProb, greedy[i].Words, greedy[i].LogProb)
					}
				}
			}
		})
	}
}

func TestBeamSearchNeverWorseThanGreedy(t *testing.T) {
	for _, decoder := range testmodel.Decoders {
		t.Run(decoder, func(t *testing.T) {
			m, _, _ := testmodel.TrainedTinyDecoder(t, decoder)
			rng := rand.New(rand.NewPCG(15, 16))
			noisy, _ := captest.RandomTensor[float32](rng, 16, 4, 256)
			greedy, err := Greedy(m, noisy, Options{})
			if err != nil {
				t.Fatal(err)
			}
			better := 0
			for _, k := range []int{2, 3, 5} {
				beam, err := Beam(m, noisy, Options{Beam: k})
				if err != nil {
					t.Fatal(err)
				}
				for i := range greedy {
					if greedy[i].Finished && (!beam[i].Finished || beam[i].LogProb < greedy[i].LogProb-1e-9) {
						t.Errorf("k=%d image %d: beam %q (%v) worse than greedy %q (%v)", k, i, beam[i].Words, beam[i].LogProb, greedy[i].Words, greedy[i].LogProb)
					}
					if beam[i].LogProb > greedy[i].LogProb+1e-6 {
						better++
					}
				}
			}
			t.Logf("beam search found a more probable caption than greedy for %d of 48 image/beam pairs", better)
		})
	}
}

func TestBeamSearchReturnsUnfinishedWhenNoBeamEnds(t *testing.T) {
	for _, decoder := range testmodel.Decoders {
		t.Run(decoder, func(t *testing.T) {
			m, regions, _ := testmodel.TrainedTinyDecoder(t, decoder)
			// Make <end> impossible: its output bias becomes hugely negative.
			bias := m.Store.GetVariable("/decoder/output/dense/biases")
			if bias == nil {
				t.Fatal("no output bias variable")
			}
			values := tensors.MustCopyFlatData[float32](bias.MustValue())
			values[text.EndID] = -1e9
			bias.MustSetValue(tensors.FromFlatDataAndDimensions(values, len(values)))
			for _, k := range []int{1, 3} {
				caps, err := Beam(m, regions, Options{Beam: k, MaxLen: 6})
				if err != nil {
					t.Fatal(err)
				}
				for i, c := range caps {
					if c.Finished || len(c.Words) != 5 || math.IsInf(c.LogProb, 0) || math.IsNaN(c.LogProb) {
						t.Errorf("k=%d image %d: %q finished=%v logprob=%v; want 5 unfinished words", k, i, c.Words, c.Finished, c.LogProb)
					}
				}
			}
		})
	}
}

func TestModelFolderAloneReproducesCaptions(t *testing.T) {
	for _, decoder := range testmodel.Decoders {
		t.Run(decoder, func(t *testing.T) {
			m, regions, _ := testmodel.TrainedTinyDecoder(t, decoder)
			before, err := Beam(m, regions, Options{Beam: 3})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := m.Save(dir); err != nil {
				t.Fatal(err)
			}
			loaded, err := captioner.LoadModel(captest.Backend(t), dir)
			if err != nil {
				t.Fatal(err)
			}
			after, err := Beam(loaded, regions, Options{Beam: 3})
			if err != nil {
				t.Fatal(err)
			}
			for i := range before {
				if strings.Join(before[i].Words, " ") != strings.Join(after[i].Words, " ") || before[i].LogProb != after[i].LogProb {
					t.Errorf("image %d: %q (%v) before saving, %q (%v) after loading", i, before[i].Words, before[i].LogProb, after[i].Words, after[i].LogProb)
				}
			}
			if *loaded.Config != *m.Config {
				t.Errorf("config changed: %+v vs %+v", loaded.Config, m.Config)
			}
			// A folder missing a file says which.
			os.Remove(filepath.Join(dir, captioner.VocabFile))
			if _, err := captioner.LoadModel(captest.Backend(t), dir); err == nil || !strings.Contains(err.Error(), captioner.VocabFile) {
				t.Errorf("missing vocab: err = %v", err)
			}
		})
	}
}

func TestDecodingOneImage(t *testing.T) {
	for _, decoder := range testmodel.Decoders {
		t.Run(decoder, func(t *testing.T) {
			m, regions, captions := testmodel.TrainedTinyDecoder(t, decoder)
			one, err := gather(regions, []int32{2})
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []int{1, 3} {
				caps, err := Beam(m, one, Options{Beam: k})
				if err != nil {
					t.Fatal(err)
				}
				if len(caps) != 1 || strings.Join(caps[0].Words, " ") != strings.Join(captions[2], " ") {
					t.Errorf("beam %d on one image: %+v, want %q", k, caps, captions[2])
				}
			}
		})
	}
}

func TestTopAllowedWordsMatchesFullSort(t *testing.T) {
	backend := captest.Backend(t)
	rng := rand.New(rand.NewPCG(41, 42))
	const rows, vocab = 30, 40
	lp := make([]float32, rows*vocab)
	for i := range lp {
		lp[i] = float32(rng.IntN(10)) - 12 // many ties
	}
	for _, n := range []int{1, 2, 6, vocab} {
		out, err := ExecOnceN(backend, func(x *Node) []*Node {
			v, ids := TopAllowedWords(x, n)
			return []*Node{v, ids}
		}, tensors.FromFlatDataAndDimensions(lp, rows, vocab))
		if err != nil {
			t.Fatal(err)
		}
		values, ids := tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[int32](out[1])
		for r := 0; r < rows; r++ {
			row := lp[r*vocab : (r+1)*vocab]
			// Reference: the allowed words stably sorted by value, best first (ties: lower id).
			var all []int
			for w := range row {
				if allowed(w) {
					all = append(all, w)
				}
			}
			sort.SliceStable(all, func(a, b int) bool { return row[all[a]] > row[all[b]] })
			for i := 0; i < n; i++ {
				v, id := values[r*n+i], int(ids[r*n+i])
				if i >= len(all) {
					if !math.IsInf(float64(v), -1) {
						t.Fatalf("n=%d row %d: entry %d past the %d allowed words is %v (id %d), want -inf", n, r, i, len(all), v, id)
					}
					continue
				}
				if id != all[i] || v != row[all[i]] {
					t.Fatalf("n=%d row %d entry %d: word %d (%v), full sort says %d (%v)", n, r, i, id, v, all[i], row[all[i]])
				}
			}
		}
	}
}

func TestSkippingAttentionLeavesCaptionsUnchanged(t *testing.T) {
	for _, decoder := range testmodel.Decoders {
		t.Run(decoder, func(t *testing.T) {
			m, regions, _ := testmodel.TrainedTinyDecoder(t, decoder)
			for _, k := range []int{1, 3} {
				with, err := Beam(m, regions, Options{Beam: k})
				if err != nil {
					t.Fatal(err)
				}
				without, err := Beam(m, regions, Options{Beam: k, SkipAttention: true})
				if err != nil {
					t.Fatal(err)
				}
				for i := range with {
					if strings.Join(with[i].Words, " ") != strings.Join(without[i].Words, " ") || with[i].LogProb != without[i].LogProb {
						t.Errorf("k=%d image %d: %q (%v) with attention, %q (%v) without", k, i, with[i].Words, with[i].LogProb, without[i].Words, without[i].LogProb)
					}
					if len(with[i].Attention) != len(with[i].Words) || without[i].Attention != nil {
						t.Errorf("k=%d image %d: %d attention maps kept for %d words; %d when skipped", k, i, len(with[i].Attention), len(with[i].Words), len(without[i].Attention))
					}
				}
			}
		})
	}
}

// TestStepsEqualTeacherForcing checks, for both decoders with random weights, that decoding
// step by step from Prepare's state (the Transformer reading its key/value cache, the LSTM
// carrying h and c) gives the same logits and attention as TeacherForced recomputing every
// position of the whole captions at once.
func TestStepsEqualTeacherForcing(t *testing.T) {
	backend := captest.Backend(t)
	for _, decoder := range append(testmodel.Decoders, "lstm+coords") {
		t.Run(decoder, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(21, 22))
			cfg := testmodel.TinyDecoderConfig(strings.TrimSuffix(decoder, "+coords"), 11)
			cfg.RegionCoords = strings.HasSuffix(decoder, "+coords")
			const images, numRegions = 3, 4 // a 2×2 grid
			regions, _ := captest.RandomTensor[float64](rng, images, numRegions, 256)
			captions := tensors.FromValue([][]int32{{1, 4, 6, 9, 2, 0, 0, 0}, {1, 5, 2, 0, 0, 0, 0, 0}, {1, 10, 10, 7, 8, 6, 5, 2}})
			steps := cfg.MaxLen - 1
			out, err := model.CallOnceN(backend, model.NewStore(), func(scope *model.Scope, regions, captions *Node) []*Node {
				dec := captioner.NewDecoder(cfg)
				logits, alphas := dec.TeacherForced(scope, regions, captions)
				memory, state := dec.Prepare(scope, regions, steps)
				var stepLogits, stepAlphas []*Node
				for p := 0; p < steps; p++ {
					prev := Reshape(Slice(captions, AxisRange(), AxisElem(p)), -1)
					l, next, a := dec.Step(scope, regions, memory, state, prev, Scalar(regions.Graph(), dtypes.Int32, p))
					stepLogits, stepAlphas, state = append(stepLogits, l), append(stepAlphas, a), next
				}
				return []*Node{logits, alphas, Stack(stepLogits, 1), Stack(stepAlphas, 1)}
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
	for _, decoder := range testmodel.Decoders {
		t.Run(decoder, func(t *testing.T) {
			m, _, _ := testmodel.TrainedTinyDecoder(t, decoder)
			rng := rand.New(rand.NewPCG(23, 24))
			noisy, _ := captest.RandomTensor[float32](rng, 8, 4, 256)
			for _, k := range []int{1, 3} {
				caps, err := Beam(m, noisy, Options{Beam: k})
				if err != nil {
					t.Fatal(err)
				}
				for i, c := range caps {
					if !c.Finished {
						continue
					}
					want := testmodel.TeacherForcedLogProb(t, m, noisy, i, c.Tokens)
					if math.Abs(want-c.LogProb) > 1e-4 {
						t.Errorf("beam %d image %d %q: decoded log-prob %.6f, teacher forcing %.6f", k, i, c.Words, c.LogProb, want)
					}
				}
			}
		})
	}
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
	cfg, err := captioner.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DecoderName() != captioner.DecoderLSTM {
		t.Fatalf("decoder %q, want lstm", cfg.DecoderName())
	}
	if memory, state := captioner.NewDecoder(cfg).Slots(); memory != 1 || state != 2 {
		t.Fatalf("NewDecoder gave a decoder with %d memory and %d state tensors, want the LSTM's 1 and 2 (h, c)", memory, state)
	}
}

// TestDecodingSeesUpdatedVariables guards against decoding with stale weights: the Go backend
// compiles variables into inference graphs as constants, so ResetCompiled must make decoding
// see the values training wrote since.
func TestDecodingSeesUpdatedVariables(t *testing.T) {
	backend := captest.Backend(t)
	rng := rand.New(rand.NewPCG(11, 12))
	captions := [][]string{{"a", "red", "circle"}, {"a", "blue", "square"}}
	vocab := text.BuildVocab(captions, 1)
	cfg := *testmodel.TinyConfig(0)
	m, _ := captioner.NewModel(backend, cfg, vocab)
	regions, _ := captest.RandomTensor[float32](rng, 2, 4, 256)
	var ids []int32
	for _, c := range captions {
		enc, _ := vocab.Encode(c, cfg.MaxLen)
		ids = append(ids, enc...)
	}
	caps := tensors.FromFlatDataAndDimensions(ids, 2, cfg.MaxLen)
	trainer := gomlxtrain.NewTrainer(backend, m.Store, m.ModelFn(), m.LossFn(), optimizer.Adam().LearningRate(0.01).Done(), nil, nil)
	var last float64
	for round := 0; round < 3; round++ {
		for step := 0; step < 5; step++ {
			r2, _ := regions.LocalClone()
			c2, _ := caps.LocalClone()
			_, err := trainer.TrainStep(gomlxtrain.Batch{Inputs: []*tensors.Tensor{r2, c2}, Labels: []*tensors.Tensor{c2}})
			if err != nil {
				t.Fatal(err)
			}
		}
		m.ResetCompiled()
		g, err := Greedy(m, regions, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if round > 0 && g[0].LogProb == last {
			t.Fatalf("round %d: log-probability %v unchanged after 5 more training steps", round, last)
		}
		last = g[0].LogProb
	}
}
