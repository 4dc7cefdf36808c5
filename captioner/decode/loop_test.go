package decode

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/internal/captest"
	"github.com/attncap/attncap/captioner/internal/testmodel"
	"github.com/gomlx/gomlx/core/tensors"
)

// TestGreedyInOneGraphEqualsTheHostLoop decodes the same regions with the loop on the host and
// in one graph, for both decoders, a trained model (captions that end) and an untrained one
// (captions that run to the limit): the same words, whether they finished, and the same
// log-probabilities and attention (float32 arithmetic of the same ops: 1e-5).
func TestGreedyInOneGraphEqualsTheHostLoop(t *testing.T) {
	for _, decoder := range testmodel.Decoders {
		t.Run(decoder, func(t *testing.T) {
			trained, regions, _ := testmodel.TrainedTinyDecoder(t, decoder)
			untrained, err := captioner.NewModel(trained.Backend, *trained.Config, trained.Vocab)
			if err != nil {
				t.Fatal(err)
			}
			other, _ := captest.RandomTensor[float32](rand.New(rand.NewPCG(3, 4)), 5, 4, 256)
			// "short": a limit of 4 words (MaxLen 5) that the 3-word captions end within and the
			// 6- and 7-word ones do not, so one batch holds rows of both kinds.
			for _, c := range []struct {
				name   string
				m      *captioner.Model
				r      *tensors.Tensor
				maxLen int
			}{{"trained", trained, regions, 0}, {"short", trained, regions, 5}, {"untrained", untrained, other, 0}} {
				name, m, r := c.name, c.m, c.r
				host, err := Greedy(m, r, Options{Loop: LoopHost, MaxLen: c.maxLen})
				if err != nil {
					t.Fatal(err)
				}
				graph, err := Greedy(m, r, Options{Loop: LoopGraph, MaxLen: c.maxLen})
				if err != nil {
					t.Fatal(err)
				}
				ended := 0
				for i := range host {
					h, g := host[i], graph[i]
					if strings.Join(h.Words, " ") != strings.Join(g.Words, " ") || h.Finished != g.Finished {
						t.Fatalf("%s image %d: host %q (finished %v), graph %q (finished %v)", name, i, h.Words, h.Finished, g.Words, g.Finished)
					}
					if h.Finished {
						ended++
					}
					if math.Abs(h.LogProb-g.LogProb) > 1e-5*math.Max(1, math.Abs(h.LogProb)) {
						t.Errorf("%s image %d: log-prob host %v, graph %v", name, i, h.LogProb, g.LogProb)
					}
					if len(h.Attention) != len(g.Attention) {
						t.Fatalf("%s image %d: %d attention rows on the host, %d in the graph", name, i, len(h.Attention), len(g.Attention))
					}
					for w := range h.Attention {
						for j := range h.Attention[w] {
							if d := math.Abs(float64(h.Attention[w][j] - g.Attention[w][j])); d > 1e-5 {
								t.Fatalf("%s image %d word %d region %d: attention host %v, graph %v", name, i, w, j, h.Attention[w][j], g.Attention[w][j])
							}
						}
					}
				}
				t.Logf("%s: %d of %d captions ended", name, ended, len(host))
				if name == "trained" && ended == 0 || name == "untrained" && ended == len(host) || name == "short" && (ended == 0 || ended == len(host)) {
					t.Errorf("%s: %d of %d captions ended; the case is not exercised", name, ended, len(host))
				}
			}
		})
	}
}

func TestGreedyRefusesAnUnknownLoop(t *testing.T) {
	m, regions, _ := testmodel.TrainedTinyDecoder(t, captioner.DecoderLSTM)
	if _, err := Greedy(m, regions, Options{Loop: "gpu"}); err == nil || !strings.Contains(err.Error(), `loop "gpu"`) {
		t.Errorf("unknown loop: err = %v", err)
	}
}

// TestDecodingWithoutAttentionGivesTheSameCaptions: skipping the attention lets the
// Transformer's last cross-attention take the fused attention op; captions and
// log-probabilities must not change (float32: 1e-5), with either loop and in beam search.
func TestDecodingWithoutAttentionGivesTheSameCaptions(t *testing.T) {
	for _, decoder := range testmodel.Decoders {
		t.Run(decoder, func(t *testing.T) {
			m, regions, _ := testmodel.TrainedTinyDecoder(t, decoder)
			for _, opts := range []Options{{Loop: LoopHost}, {Loop: LoopGraph}, {Beam: 3}} {
				run := Greedy
				if opts.Beam > 1 {
					run = Beam
				}
				with, err := run(m, regions, opts)
				if err != nil {
					t.Fatal(err)
				}
				opts.SkipAttention = true
				without, err := run(m, regions, opts)
				if err != nil {
					t.Fatal(err)
				}
				for i := range with {
					a, b := with[i], without[i]
					if strings.Join(a.Words, " ") != strings.Join(b.Words, " ") || a.Finished != b.Finished ||
						math.Abs(a.LogProb-b.LogProb) > 1e-5*math.Max(1, math.Abs(a.LogProb)) {
						t.Errorf("%+v image %d: with attention %q %v, without %q %v", opts, i, a.Words, a.LogProb, b.Words, b.LogProb)
					}
					if len(b.Attention) != 0 {
						t.Errorf("%+v image %d: attention returned although skipped", opts, i)
					}
				}
			}
		})
	}
}

// TestBeamSearchInOneGraphEqualsTheHostLoop runs beam search with the loop on the host and in
// one graph, for both decoders, beam widths 1, 2, 3 and 5, a trained model, a length limit
// that cuts some captions, an untrained model (captions that run to the limit) and noisy
// regions (beams that differ from greedy), with and without length normalisation and
// attention: the same words, whether they finished, log-probabilities and attention (float32
// arithmetic of the same ops: 1e-5).
func TestBeamSearchInOneGraphEqualsTheHostLoop(t *testing.T) {
	for _, decoder := range testmodel.Decoders {
		t.Run(decoder, func(t *testing.T) {
			trained, regions, _ := testmodel.TrainedTinyDecoder(t, decoder)
			untrained, err := captioner.NewModel(trained.Backend, *trained.Config, trained.Vocab)
			if err != nil {
				t.Fatal(err)
			}
			other, _ := captest.RandomTensor[float32](rand.New(rand.NewPCG(3, 4)), 5, 4, 256)
			noisy, _ := captest.RandomTensor[float32](rand.New(rand.NewPCG(15, 16)), 16, 4, 256)
			differ := 0
			for _, c := range []struct {
				name string
				m    *captioner.Model
				r    *tensors.Tensor
				opts Options
			}{
				{"trained", trained, regions, Options{}},
				{"short", trained, regions, Options{MaxLen: 5}},
				{"untrained", untrained, other, Options{}},
				{"noisy", trained, noisy, Options{}},
				{"noisy-norm", trained, noisy, Options{LengthNorm: true}},
				{"noisy-skip", trained, noisy, Options{SkipAttention: true}},
			} {
				for _, k := range []int{1, 2, 3, 5} {
					opts := c.opts
					opts.Beam, opts.Loop = k, LoopHost
					host, err := Beam(c.m, c.r, opts)
					if err != nil {
						t.Fatal(err)
					}
					opts.Loop = LoopGraph
					graph, err := Beam(c.m, c.r, opts)
					if err != nil {
						t.Fatal(err)
					}
					greedy, err := Greedy(c.m, c.r, Options{Loop: LoopHost, MaxLen: opts.MaxLen})
					if err != nil {
						t.Fatal(err)
					}
					for i := range host {
						sameCaption(t, fmt.Sprintf("%s k=%d image %d", c.name, k, i), host[i], graph[i])
						if strings.Join(host[i].Words, " ") != strings.Join(greedy[i].Words, " ") {
							differ++
						}
					}
				}
			}
			t.Logf("%d of the beam captions differ from greedy", differ)
			if differ == 0 {
				t.Error("no beam caption differs from greedy: beam search's selection is not exercised")
			}
		})
	}
}

// sameCaption fails unless a and b have the same words, end and attention, and
// log-probabilities within 1e-5.
func sameCaption(t *testing.T, what string, a, b Caption) {
	t.Helper()
	if strings.Join(a.Words, " ") != strings.Join(b.Words, " ") || a.Finished != b.Finished {
		t.Fatalf("%s: host %q (finished %v), graph %q (finished %v)", what, a.Words, a.Finished, b.Words, b.Finished)
	}
	if math.Abs(a.LogProb-b.LogProb) > 1e-5*math.Max(1, math.Abs(a.LogProb)) {
		t.Errorf("%s: log-prob host %v, graph %v", what, a.LogProb, b.LogProb)
	}
	if len(a.Attention) != len(b.Attention) {
		t.Fatalf("%s: %d attention rows on the host, %d in the graph", what, len(a.Attention), len(b.Attention))
	}
	for w := range a.Attention {
		for j := range a.Attention[w] {
			if d := math.Abs(float64(a.Attention[w][j] - b.Attention[w][j])); d > 1e-5 {
				t.Fatalf("%s word %d region %d: attention host %v, graph %v", what, w, j, a.Attention[w][j], b.Attention[w][j])
			}
		}
	}
}

func TestParseLoop(t *testing.T) {
	for in, want := range map[string]Loop{"": LoopAuto, "auto": LoopAuto, "host": LoopHost, "Graph": LoopGraph} {
		if got, err := ParseLoop(in); err != nil || got != want {
			t.Errorf("ParseLoop(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseLoop("gpu"); err == nil || !strings.Contains(err.Error(), "want auto, host or graph") {
		t.Errorf(`ParseLoop("gpu"): err = %v`, err)
	}
}
