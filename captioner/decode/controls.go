package decode

import (
	"fmt"
	"math"
	"strings"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/gomlx/core/tensors"
)

// Controls are the decoding controls of Hugging Face's generate, under its names (JSON) and as
// flags of scripts/caption and scripts/evaluate. The zero value changes nothing: decoding is
// then attncap's greedy decoding or beam search (decode.go), in either loop. Any control set
// decodes on the host loop with the full distribution of every step (search.go), where each
// applies as its field says, in this order: repetition penalty on the logits, log-softmax, the
// bans (<pad>, <start>, bad words, <unk>, no-repeat n-grams, <end> before MinNewTokens or after
// a bad ending), the diversity penalty; for sampling, temperature, top-k and top-p then draw.
type Controls struct {
	// MaxNewTokens bounds a caption to this many tokens after <start>, <end> included (0: the
	// model's max_len − 1). A caption cut there is unfinished, Limit "max_new_tokens".
	MaxNewTokens int `json:"max_new_tokens,omitempty" flag:"max-new-tokens" help:"at most this many tokens after <start>, <end> included (0: the model's limit)"`
	// NumReturnSequences is how many captions per image, best first, distinct (beam search: at
	// most the beam width; sampling: that many draws, duplicates dropped).
	NumReturnSequences int `json:"num_return_sequences,omitempty" flag:"num-return-sequences" help:"captions per image, best first and distinct (beam search: at most -beam; sampling: that many draws)"`
	// MinNewTokens forbids <end> before this many words.
	MinNewTokens int `json:"min_new_tokens,omitempty" flag:"min-new-tokens" help:"<end> is not allowed before this many words"`
	// LengthPenalty p ranks a caption by score = log_prob / L^p, L = its words + 1 (<end>
	// counted; words alone when cut at the limit): p > 0 favours longer captions, p < 0 shorter
	// ones, 0 ranks by log-probability (Hugging Face's BeamHypotheses; Wu et al. 2016 §7 use
	// another form).
	LengthPenalty float64 `json:"length_penalty,omitempty" flag:"length-penalty" help:"rank captions by log_prob / L^p, L = words + 1: p > 0 favours longer captions, p < 0 shorter, 0 ranks by log-probability"`
	// NoRepeatNgramSize n: no n-gram of words appears twice in a caption (Paulus et al. 2018;
	// Hugging Face's NoRepeatNGramLogitsProcessor).
	NoRepeatNgramSize int `json:"no_repeat_ngram_size,omitempty" flag:"no-repeat-ngram-size" help:"no n-gram of this many words appears twice in a caption (0: off)"`
	// RepetitionPenalty θ divides the positive logits, and multiplies the negative ones, of the
	// words already in the caption (Keskar et al. 2019, CTRL; Hugging Face's
	// RepetitionPenaltyLogitsProcessor): θ > 1 discourages repeats; 0 or 1 is off.
	RepetitionPenalty float64 `json:"repetition_penalty,omitempty" flag:"repetition-penalty" help:"divide positive logits (multiply negative ones) of words already in the caption by this: > 1 discourages repeats (0 or 1: off)"`
	// BadWords are words or phrases never produced: a phrase's last word is banned after its
	// other words (Hugging Face's bad_words_ids, as text). Words outside the vocabulary cannot
	// be produced anyway and are ignored.
	BadWords []string `json:"bad_words,omitempty"`
	// SuppressUnk never produces <unk>.
	SuppressUnk bool `json:"suppress_unk,omitempty" flag:"suppress-unk" help:"never produce <unk>"`
	// RemoveBadEndings: a caption may not end in one of BadEndings (<end> is banned after
	// them), as ruotianluo/ImageCaptioning.pytorch's remove_bad_endings.
	RemoveBadEndings bool `json:"remove_bad_endings,omitempty" flag:"remove-bad-endings" help:"a caption may not end in a, an, the, in, for, at, of, with, before, after, on, upon, near, to, is, are, am"`
	// DoSample draws each word from the (processed) distribution instead of searching; with
	// beam width 1 only. Temperature T divides the logits (0 means 1; T → 0 is greedy), TopK
	// keeps the k most probable words (0: all), TopP the smallest set whose probability reaches
	// p (nucleus sampling, Holtzman et al. 2020; 0 or 1: all). Seed makes draws reproducible:
	// an image's samples depend on the seed alone, not on its batch.
	DoSample    bool    `json:"do_sample,omitempty" flag:"do-sample" help:"sample words instead of searching (beam 1; with -temperature, -top-k, -top-p, -seed)"`
	Temperature float64 `json:"temperature,omitempty" flag:"temperature" help:"sampling: divide the logits by this (< 1 sharper, > 1 flatter; 0 means 1)"`
	TopK        int     `json:"top_k,omitempty" flag:"top-k" help:"sampling: draw among the k most probable words (0: all)"`
	TopP        float64 `json:"top_p,omitempty" flag:"top-p" help:"sampling: draw among the most probable words whose probabilities reach p (0 or 1: all)"`
	Seed        uint64  `json:"seed,omitempty" flag:"seed" help:"sampling: random seed (the same seed gives the same captions)"`
	// NumBeamGroups g splits the beam into g groups searched in turn at every step; a group's
	// log-probabilities lose DiversityPenalty λ for each earlier group that chose the same word
	// at that step (diverse beam search, Vijayakumar et al. 2018, Hamming diversity; Hugging
	// Face's num_beam_groups, diversity_penalty). g must divide the beam width.
	NumBeamGroups    int     `json:"num_beam_groups,omitempty" flag:"num-beam-groups" help:"diverse beam search: split the beam into this many groups (must divide -beam)"`
	DiversityPenalty float64 `json:"diversity_penalty,omitempty" flag:"diversity-penalty" help:"diverse beam search: subtract this from a word's log-probability for each earlier group that chose it at the same step"`
}

// BadEndings are the words a caption may not end in with Controls.RemoveBadEndings
// (ruotianluo/ImageCaptioning.pytorch, bad_endings).
var BadEndings = strings.Fields("a an the in for at of with before after on upon near to is are am")

// Limits of the controls' values (Validate).
const (
	MaxReturnSequences = 64
	MaxNoRepeatNgram   = 16
)

// active says whether any control changes decoding beyond attncap's own search (MaxNewTokens
// only moves the length limit, which every loop honours; NumReturnSequences alone lists what
// attncap's beam search found besides its answer, on the host loop).
func (c Controls) active() bool {
	return c.MinNewTokens > 0 || c.LengthPenalty != 0 || c.NoRepeatNgramSize > 0 ||
		(c.RepetitionPenalty != 0 && c.RepetitionPenalty != 1) || len(c.BadWords) > 0 || c.SuppressUnk ||
		c.RemoveBadEndings || c.DoSample || (c.NumBeamGroups > 1 && c.DiversityPenalty != 0) || c.NumBeamGroups > 1
}

// Validate reports the first control out of its range for beam width beam (field names as in
// JSON, so that the service can answer 422 with them).
func (c Controls) Validate(beam int) error {
	beam = max(1, beam)
	bad := func(name string, v any, want string) error {
		return fmt.Errorf("%s = %v: %s", name, v, want)
	}
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	switch {
	case c.MaxNewTokens < 0:
		return bad("max_new_tokens", c.MaxNewTokens, "want 0 (the model's limit) or more")
	case c.NumReturnSequences < 0 || c.NumReturnSequences > MaxReturnSequences:
		return bad("num_return_sequences", c.NumReturnSequences, fmt.Sprintf("want 1 … %d", MaxReturnSequences))
	case !c.DoSample && c.NumReturnSequences > beam:
		return bad("num_return_sequences", c.NumReturnSequences, fmt.Sprintf("beam search returns at most num_beams (%d) captions; raise num_beams or sample (do_sample)", beam))
	case c.MinNewTokens < 0:
		return bad("min_new_tokens", c.MinNewTokens, "want 0 or more")
	case !finite(c.LengthPenalty) || math.Abs(c.LengthPenalty) > 10:
		return bad("length_penalty", c.LengthPenalty, "want a number in [-10, 10]")
	case c.NoRepeatNgramSize < 0 || c.NoRepeatNgramSize > MaxNoRepeatNgram:
		return bad("no_repeat_ngram_size", c.NoRepeatNgramSize, fmt.Sprintf("want 0 (off) … %d", MaxNoRepeatNgram))
	case !finite(c.RepetitionPenalty) || c.RepetitionPenalty < 0 || c.RepetitionPenalty > 100:
		return bad("repetition_penalty", c.RepetitionPenalty, "want 0 or 1 (off), or a factor in (0, 100]")
	case !finite(c.Temperature) || c.Temperature < 0 || c.Temperature > 100:
		return bad("temperature", c.Temperature, "want a number in (0, 100] (0: 1)")
	case c.TopK < 0:
		return bad("top_k", c.TopK, "want 0 (all words) or more")
	case !finite(c.TopP) || c.TopP < 0 || c.TopP > 1:
		return bad("top_p", c.TopP, "want a number in [0, 1]")
	case c.DoSample && beam > 1:
		return bad("do_sample", true, fmt.Sprintf("samples one word at a time: set num_beams to 1 (it is %d)", beam))
	case c.NumBeamGroups < 0 || (c.NumBeamGroups > 1 && beam%c.NumBeamGroups != 0):
		return bad("num_beam_groups", c.NumBeamGroups, fmt.Sprintf("must divide num_beams (%d)", beam))
	case c.NumBeamGroups > 1 && c.DoSample:
		return bad("num_beam_groups", c.NumBeamGroups, "diverse beam search does not sample: leave do_sample off")
	case !finite(c.DiversityPenalty) || c.DiversityPenalty < 0 || c.DiversityPenalty > 1000:
		return bad("diversity_penalty", c.DiversityPenalty, "want 0 … 1000")
	case c.DiversityPenalty != 0 && c.NumBeamGroups <= 1:
		return bad("diversity_penalty", c.DiversityPenalty, "acts between beam groups: set num_beam_groups > 1")
	}
	for _, w := range c.BadWords {
		if strings.TrimSpace(w) == "" || strings.Trim(w, " ,") == "" {
			return bad("bad_words", fmt.Sprintf("%q", c.BadWords), "every entry needs a word")
		}
	}
	return nil
}

// ParseBadWords splits a -bad-words flag: phrases separated by commas.
func ParseBadWords(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Greedy decodes each image of regions [B, R, C] by taking the most probable allowed word at
// every step, until <end> or the length limit; with Controls set, the most probable word after
// them (search.go).
func Greedy(m *captioner.Model, regions *tensors.Tensor, opts Options) ([]Caption, error) {
	if err := opts.validate(1); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	opts = opts.withLimit()
	if opts.Controls.active() {
		return controlled(m, regions, opts)
	}
	caps, err := greedy(m, regions, opts)
	return describe(m, caps, opts), err
}

// Beam decodes each image of regions [B, R, C] keeping the opts.Beam most probable
// partial captions, batched over images (B·(k+1) rows per step, one compiled step graph; with
// Options.Loop = LoopGraph the whole search runs in one graph, beam_loop.go). A
// hypothesis that emits <end> is set aside and replaced by the next best candidate; an image
// stops when k captions have finished or at the length limit. The best finished caption wins;
// when none finished, the best unfinished one is returned (never an error). For k > 1 each
// image gets one more row that decodes greedily in the same steps, and the greedy caption is
// returned if it scores higher, so beam search is never worse than greedy on the same model.
// With Options.BeamStyle BeamShrink it is the PyTorch tutorial's search instead
// (beam_shrink.go); with Controls set, Hugging Face's beam search with them (search.go).
func Beam(m *captioner.Model, regions *tensors.Tensor, opts Options) ([]Caption, error) {
	if err := opts.validate(opts.Beam); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	opts = opts.withLimit()
	if opts.Controls.active() || (opts.BeamStyle == BeamShrink && opts.NumReturnSequences > 1) {
		if opts.BeamStyle == BeamShrink {
			return nil, fmt.Errorf("decode: the shrinking beam (-beam-style shrink) takes no decoding controls")
		}
		return controlled(m, regions, opts)
	}
	caps, err := beam(m, regions, opts)
	return describe(m, caps, opts), err
}

// MaxBeam is the widest beam decoding takes.
const MaxBeam = 64

// validate checks the beam width and the controls for it.
func (o Options) validate(beam int) error {
	switch {
	case o.Beam < 0 || o.Beam > MaxBeam:
		return fmt.Errorf("beam width (num_beams) %d: want 1 … %d", o.Beam, MaxBeam)
	case o.LengthNorm && o.LengthPenalty != 0:
		return fmt.Errorf("length_penalty %v and per-word ranking (-length-norm) are two rankings: choose one", o.LengthPenalty)
	}
	return o.Controls.Validate(beam)
}

// withLimit applies MaxNewTokens to MaxLen (which counts <start>).
func (o Options) withLimit() Options {
	if o.MaxNewTokens > 0 {
		o.MaxLen = o.MaxNewTokens + 1
	}
	return o
}

// Length limits a caption can be cut at (Caption.Limit).
const (
	LimitMaxNewTokens = "max_new_tokens" // the decoding option (Controls.MaxNewTokens, Options.MaxLen)
	LimitModel        = "max_len"        // the model's own (Config.MaxLen, or the decoder's)
	LimitBlocked      = "blocked"        // the controls banned every continuation
)

// describe fills in what attncap's own searches leave out: each caption's score (its
// log-probability, or per token with LengthNorm) and, for an unfinished one, the limit it hit.
func describe(m *captioner.Model, caps []Caption, opts Options) []Caption {
	for i := range caps {
		c := &caps[i]
		c.Score = c.LogProb
		if opts.LengthNorm {
			c.Score = c.LogProb / float64(max(1, captionLength(c)))
		}
		c.Limit = limitOf(m, c, opts)
		describe(m, c.Alternatives, opts)
	}
	return caps
}

// captionLength is L of the length penalty: the words, and <end> when the caption finished.
func captionLength(c *Caption) int {
	if c.Finished {
		return len(c.Tokens) + 1
	}
	return len(c.Tokens)
}

// limitOf names the length limit an unfinished caption hit ("" when it finished).
func limitOf(m *captioner.Model, c *Caption, opts Options) string {
	if c.Finished {
		return ""
	}
	if opts.MaxLen > 0 && opts.MaxLen-1 == maxSteps(m, opts) {
		return LimitMaxNewTokens
	}
	return LimitModel
}

// bannedWords are the ids the controls forbid at every step, and the multi-word bad phrases.
type bannedWords struct {
	always     map[int32]bool
	phrases    [][]int32 // ban the last id after the others
	badEndings map[int32]bool
}

// bans resolves the controls' word lists against the model's vocabulary.
func (c Controls) bans(v *text.Vocab) bannedWords {
	b := bannedWords{always: map[int32]bool{text.PadID: true, text.StartID: true}, badEndings: map[int32]bool{}}
	if c.SuppressUnk {
		b.always[text.UnkID] = true
	}
	for _, phrase := range c.BadWords {
		if strings.TrimSpace(phrase) == text.UnkToken {
			b.always[text.UnkID] = true
			continue
		}
		var ids []int32
		known := true
		for _, w := range text.Tokenize(phrase) {
			id := v.ID(w)
			if id == text.UnkID && w != text.UnkToken {
				known = false
			}
			ids = append(ids, int32(id))
		}
		switch {
		case !known || len(ids) == 0: // a word the model cannot produce
		case len(ids) == 1:
			b.always[ids[0]] = true
		default:
			b.phrases = append(b.phrases, ids)
		}
	}
	if c.RemoveBadEndings {
		for _, w := range BadEndings {
			if id := v.ID(w); id != text.UnkID {
				b.badEndings[int32(id)] = true
			}
		}
	}
	return b
}
