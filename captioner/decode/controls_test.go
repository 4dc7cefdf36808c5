package decode

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/internal/testmodel"
	"github.com/gomlx/gomlx/core/tensors"
)

// captionKey is a caption's words and whether it finished, for comparisons.
func captionKey(c Caption) string { return fmt.Sprintf("%q %v", c.Words, c.Finished) }

// nBestOf is an image's whole n-best list.
func nBestOf(c Caption) []Caption { return append([]Caption{c}, c.Alternatives...) }

// oneImage is image i of regions [B, R, C] as a batch of one.
func oneImage(t *testing.T, regions *tensors.Tensor, i int) *tensors.Tensor {
	t.Helper()
	one, err := gather(regions, []int32{int32(i)})
	if err != nil {
		t.Fatal(err)
	}
	return one
}

// Settings the contracts are checked under (beam width, controls).
var controlSettings = []struct {
	name string
	opts Options
}{
	{"length penalty 1, n-best 3", Options{Beam: 3, Controls: Controls{LengthPenalty: 1, NumReturnSequences: 3}}},
	{"length penalty -1", Options{Beam: 3, Controls: Controls{LengthPenalty: -1}}},
	{"no repeat bigram, bad endings, no <unk>", Options{Beam: 3, Controls: Controls{NoRepeatNgramSize: 2, RemoveBadEndings: true, SuppressUnk: true, NumReturnSequences: 2}}},
	{"repetition penalty, min 4 words", Options{Beam: 2, Controls: Controls{RepetitionPenalty: 1.5, MinNewTokens: 4}}},
	{"diverse groups", Options{Beam: 4, Controls: Controls{NumBeamGroups: 2, DiversityPenalty: 1, NumReturnSequences: 4}}},
	{"greedy with bad words", Options{Beam: 1, Controls: Controls{BadWords: []string{"red", "blue circle"}}}},
	{"sampling", Options{Beam: 1, Controls: Controls{DoSample: true, Temperature: 2, TopK: 5, TopP: 0.9, Seed: 7, NumReturnSequences: 3}}},
}

// Results say what happened: an n-best list is best first by score (finished captions before
// unfinished ones), distinct, as long as
// asked (or shorter only when fewer distinct captions exist); every score is the length
// penalty applied to the returned log-probability; an unfinished caption names its limit; no
// returned caption breaks the controls that ban words.
func TestControlsResultsAreConsistent(t *testing.T) {
	for _, decoder := range testmodel.Decoders {
		m, regions, _ := testmodel.TrainedTinyDecoder(t, decoder)
		for _, s := range controlSettings {
			t.Run(decoder+"/"+s.name, func(t *testing.T) {
				caps, err := Regions(m, regions, s.opts)
				if err != nil {
					t.Fatal(err)
				}
				for i, c := range caps {
					list := nBestOf(c)
					if want := max(1, s.opts.NumReturnSequences); len(list) > want || (!s.opts.DoSample && len(list) < want) {
						t.Errorf("image %d: %d captions, want %d", i, len(list), want)
					}
					seen := map[string]bool{}
					for j, x := range list {
						if j > 0 && x.Finished == list[j-1].Finished && x.Score > list[j-1].Score {
							t.Errorf("image %d: caption %d scores %v, more than the one before (%v)", i, j, x.Score, list[j-1].Score)
						}
						if seen[fmt.Sprint(x.Tokens)] {
							t.Errorf("image %d: caption %q twice", i, x.Words)
						}
						seen[fmt.Sprint(x.Tokens)] = true
						checkCaption(t, m, x, s.opts)
					}
				}
			})
		}
	}
}

// checkCaption checks one caption against what the options promise.
func checkCaption(t *testing.T, m *captioner.Model, c Caption, opts Options) {
	t.Helper()
	l := len(c.Tokens)
	if c.Finished {
		l++
	}
	if want := c.LogProb / math.Pow(float64(max(1, l)), opts.LengthPenalty); math.Abs(c.Score-want) > 1e-9*math.Max(1, math.Abs(want)) {
		t.Errorf("%q: score %v, log_prob/L^p = %v", c.Words, c.Score, want)
	}
	if c.Finished != (c.Limit == "") {
		t.Errorf("%q: finished %v with limit %q", c.Words, c.Finished, c.Limit)
	}
	if n := opts.NoRepeatNgramSize; n > 0 {
		grams := map[string]bool{}
		for i := 0; i+n <= len(c.Words); i++ {
			g := strings.Join(c.Words[i:i+n], " ")
			if grams[g] {
				t.Errorf("%q repeats %q under no_repeat_ngram_size %d", c.Words, g, n)
			}
			grams[g] = true
		}
	}
	if opts.RemoveBadEndings && c.Finished && len(c.Words) > 0 && slices.Contains(BadEndings, c.Words[len(c.Words)-1]) {
		t.Errorf("%q ends in a bad ending", c.Words)
	}
	if opts.SuppressUnk && slices.Contains(c.Words, "<unk>") {
		t.Errorf("%q has <unk>", c.Words)
	}
	for _, bad := range opts.BadWords {
		if strings.Contains(" "+strings.Join(c.Words, " ")+" ", " "+bad+" ") {
			t.Errorf("%q contains the bad words %q", c.Words, bad)
		}
	}
	if c.Finished && len(c.Words) < opts.MinNewTokens {
		t.Errorf("%q finished before min_new_tokens %d", c.Words, opts.MinNewTokens)
	}
	_ = m
}

// An image's captions and scores are the same whether it is decoded alone or among the
// others of its batch.
func TestControlsDoNotDependOnTheBatch(t *testing.T) {
	for _, decoder := range testmodel.Decoders {
		m, regions, _ := testmodel.TrainedTinyDecoder(t, decoder)
		for _, s := range controlSettings {
			batch, err := Regions(m, regions, s.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, i := range []int{0, 5} {
				alone, err := Regions(m, oneImage(t, regions, i), s.opts)
				if err != nil {
					t.Fatal(err)
				}
				a, b := nBestOf(alone[0]), nBestOf(batch[i])
				if len(a) != len(b) {
					t.Fatalf("%s/%s image %d: %d captions alone, %d in the batch", decoder, s.name, i, len(a), len(b))
				}
				for j := range a {
					if captionKey(a[j]) != captionKey(b[j]) || math.Abs(a[j].Score-b[j].Score) > 1e-5 {
						t.Errorf("%s/%s image %d: alone %q (%v), in the batch %q (%v)", decoder, s.name, i, a[j].Words, a[j].Score, b[j].Words, b[j].Score)
					}
				}
			}
		}
	}
}

// Sampling is reproducible for a seed and differs across seeds; at temperature → 0, and with
// top-k 1, it is greedy decoding.
func TestSamplingSeedsAndLimits(t *testing.T) {
	for _, decoder := range testmodel.Decoders {
		m, regions, _ := testmodel.TrainedTinyDecoder(t, decoder)
		greedyCaps, err := Greedy(m, regions, Options{})
		if err != nil {
			t.Fatal(err)
		}
		draw := func(c Controls) []string {
			c.DoSample = true
			caps, err := Greedy(m, regions, Options{Controls: c})
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, x := range caps {
				out = append(out, captionKey(x))
			}
			return out
		}
		hot := Controls{Temperature: 3, Seed: 1}
		if a, b := draw(hot), draw(hot); !slices.Equal(a, b) {
			t.Errorf("%s: seed 1 drew %v, then %v", decoder, a, b)
		}
		other := hot
		other.Seed = 2
		if a, b := draw(hot), draw(other); slices.Equal(a, b) {
			t.Errorf("%s: seeds 1 and 2 drew the same 8 captions at temperature 3: %v", decoder, a)
		}
		var want []string
		for _, x := range greedyCaps {
			want = append(want, captionKey(x))
		}
		for _, c := range []Controls{{Temperature: 1e-6, Seed: 3}, {Temperature: 1e-310, Seed: 5}, {TopK: 1, Seed: 4}} {
			if got := draw(c); !slices.Equal(got, want) {
				t.Errorf("%s: sampling with %+v gave %v, greedy %v", decoder, c, got, want)
			}
		}
	}
}

// Diverse beam search with one group and no penalty is plain beam search; a length penalty of
// 0 with the other controls off is attncap's default search; the first of an n-best list is
// the 1-best of the same settings.
func TestControlsReduceToPlainSearch(t *testing.T) {
	for _, decoder := range testmodel.Decoders {
		m, regions, _ := testmodel.TrainedTinyDecoder(t, decoder)
		plain, err := Beam(m, regions, Options{Beam: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []Controls{{NumBeamGroups: 1, DiversityPenalty: 0}, {LengthPenalty: 0}} {
			got, err := Beam(m, regions, Options{Beam: 3, Controls: c})
			if err != nil {
				t.Fatal(err)
			}
			for i := range plain {
				if captionKey(got[i]) != captionKey(plain[i]) || got[i].Score != plain[i].Score {
					t.Errorf("%s %+v image %d: %q, plain beam %q", decoder, c, i, got[i].Words, plain[i].Words)
				}
			}
		}
		one, err := Beam(m, regions, Options{Beam: 4, Controls: Controls{LengthPenalty: 0.7}})
		if err != nil {
			t.Fatal(err)
		}
		four, err := Beam(m, regions, Options{Beam: 4, Controls: Controls{LengthPenalty: 0.7, NumReturnSequences: 4}})
		if err != nil {
			t.Fatal(err)
		}
		for i := range one {
			if captionKey(one[i]) != captionKey(four[i]) || one[i].Score != four[i].Score {
				t.Errorf("%s image %d: 1-best %q, first of 4 %q", decoder, i, one[i].Words, four[i].Words)
			}
		}
	}
}

// Blocking every word never panics nor fails: the caption is what could be made, reported
// unfinished when it could not end.
func TestBlockingEverythingEndsCleanly(t *testing.T) {
	for _, decoder := range testmodel.Decoders {
		m, regions, _ := testmodel.TrainedTinyDecoder(t, decoder)
		words := append([]string{}, m.Vocab.Words[4:]...)
		for _, opts := range []Options{
			{Beam: 3, Controls: Controls{BadWords: words, SuppressUnk: true, MinNewTokens: 3}},
			{Beam: 1, Controls: Controls{BadWords: words, SuppressUnk: true, MinNewTokens: 3, DoSample: true, Seed: 1}},
			{Beam: 2, Controls: Controls{NoRepeatNgramSize: 1, MinNewTokens: 40, MaxNewTokens: 6}},
		} {
			caps, err := Regions(m, regions, opts)
			if err != nil {
				t.Fatalf("%s %+v: %v", decoder, opts.Controls, err)
			}
			for i, c := range caps {
				if c.Finished && len(c.Words) < opts.MinNewTokens {
					t.Errorf("%s image %d: %q finished early", decoder, i, c.Words)
				}
				if len(opts.BadWords) > 0 && (c.Finished || c.Limit != LimitBlocked || len(c.Words) != 0) {
					t.Errorf("%s image %d: every word banned, yet %q (finished %v, limit %q)", decoder, i, c.Words, c.Finished, c.Limit)
				}
				if !c.Finished && c.Limit == "" {
					t.Errorf("%s image %d: unfinished without a limit", decoder, i)
				}
			}
		}
	}
}

// A positive length penalty never shortens the average caption and a negative one never
// lengthens it.
func TestLengthPenaltyDirection(t *testing.T) {
	for _, decoder := range testmodel.Decoders {
		m, regions, _ := testmodel.TrainedTinyDecoder(t, decoder)
		mean := func(p float64) float64 {
			caps, err := Beam(m, regions, Options{Beam: 4, Controls: Controls{LengthPenalty: p, NumReturnSequences: 1}})
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, c := range caps {
				total += len(c.Words)
			}
			return float64(total) / float64(len(caps))
		}
		neg, zero, pos := mean(-2), mean(1e-9), mean(2)
		if neg > zero || pos < zero {
			t.Errorf("%s: mean caption length %.2f at p = −2, %.2f at 0, %.2f at 2", decoder, neg, zero, pos)
		}
	}
}

// Out-of-range controls are errors naming the field.
func TestControlsValidate(t *testing.T) {
	for _, c := range []struct {
		beam int
		c    Controls
		want string
	}{
		{1, Controls{NumReturnSequences: 2}, "num_return_sequences"},
		{3, Controls{DoSample: true}, "do_sample"},
		{4, Controls{NumBeamGroups: 3}, "num_beam_groups"},
		{1, Controls{TopP: 1.5}, "top_p"},
		{1, Controls{Temperature: -1}, "temperature"},
		{1, Controls{LengthPenalty: math.NaN()}, "length_penalty"},
		{1, Controls{RepetitionPenalty: -2}, "repetition_penalty"},
		{1, Controls{BadWords: []string{" "}}, "bad_words"},
		{1, Controls{BadWords: []string{",,"}}, "bad_words"},
		{4, Controls{DiversityPenalty: 1}, "diversity_penalty"},
	} {
		if err := c.c.Validate(c.beam); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v at beam %d: %v, want an error about %s", c.c, c.beam, err, c.want)
		}
	}
}

// attncap's own beam search lists its n best (host loop), the first being its 1-best.
func TestNBestOfPlainBeam(t *testing.T) {
	for _, decoder := range testmodel.Decoders {
		m, regions, _ := testmodel.TrainedTinyDecoder(t, decoder)
		one, err := Beam(m, regions, Options{Beam: 4})
		if err != nil {
			t.Fatal(err)
		}
		four, err := Beam(m, regions, Options{Beam: 4, Controls: Controls{NumReturnSequences: 4}})
		if err != nil {
			t.Fatal(err)
		}
		for i := range one {
			list := nBestOf(four[i])
			if captionKey(list[0]) != captionKey(one[i]) || list[0].Score != one[i].Score {
				t.Errorf("%s image %d: first of 4 %q, 1-best %q", decoder, i, list[0].Words, one[i].Words)
			}
			if len(list) != 4 {
				t.Errorf("%s image %d: %d captions, want 4", decoder, i, len(list))
			}
			seen := map[string]bool{}
			for j, x := range list {
				if seen[fmt.Sprint(x.Tokens)] {
					t.Errorf("%s image %d: %q twice", decoder, i, x.Words)
				}
				seen[fmt.Sprint(x.Tokens)] = true
				if j > 1 && x.Finished == list[j-1].Finished && x.Score > list[j-1].Score {
					t.Errorf("%s image %d: not best first: %v after %v", decoder, i, x.Score, list[j-1].Score)
				}
				checkCaption(t, m, x, Options{})
			}
		}
	}
}
