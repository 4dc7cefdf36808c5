package decode

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/gomlx/core/tensors"
)

// Beam styles (Options.BeamStyle).
const (
	// BeamKeep ("" too) is attncap's beam search (Beam): k live hypotheses until the end, an
	// ended one replaced by the next best candidate, plus a greedy row.
	BeamKeep = "keep"
	// BeamShrink is the PyTorch captioning tutorial's (caption.py, caption_image_beam_search):
	// the beam narrows by one each time a hypothesis ends, scores add up in float32, and the
	// best of the ended captions by total log-probability wins.
	BeamShrink = "shrink"
)

// ParseBeamStyle reads a -beam-style flag: "keep" (or empty) or "shrink".
func ParseBeamStyle(s string) (string, error) {
	switch strings.ToLower(s) {
	case "", BeamKeep:
		return BeamKeep, nil
	case BeamShrink:
		return BeamShrink, nil
	}
	return "", fmt.Errorf("-beam-style %q: want keep (attncap's) or shrink (the PyTorch tutorial's)", s)
}

// shrinkingBeam is one image's search in the tutorial's style.
type shrinkingBeam struct {
	live, ended []hypothesis
	width       int // the beam's current width: k less the hypotheses that ended
}

// beamShrink decodes each image of regions [B, R, C] as the tutorial's
// caption_image_beam_search does: from <start>, the width best continuations of the live
// hypotheses by total log-probability (accumulated in float32, as its tensors are) survive; those
// that are <end> leave the beam, which narrows by as many; it stops when the beam is empty or
// at the length limit (the tutorial's 51 steps for an imported model, MaxLen 52). The ended
// caption with the highest total wins (the first of equals); when none ended, the best live one
// is returned unfinished (where the tutorial fails). It loops on the host (one step graph per
// word, k rows per image).
func beamShrink(m *captioner.Model, regions *tensors.Tensor, opts Options) ([]Caption, error) {
	if opts.Loop == LoopGraph {
		return nil, fmt.Errorf("decode: the shrinking beam (-beam-style shrink) loops on the host; use -loop host or auto")
	}
	k := max(1, opts.Beam)
	steps := maxSteps(m, opts)
	s, err := startSession(m, regions, k, k, steps, opts.SkipAttention)
	if err != nil {
		return nil, err
	}
	beams := make([]shrinkingBeam, s.rows/k)
	parents, prev := make([]int32, s.rows), make([]int32, s.rows)
	for i := range parents {
		parents[i], prev[i] = int32(i), text.StartID
	}
	for img := range beams {
		beams[img] = shrinkingBeam{live: []hypothesis{{row: img * k}}, width: k}
	}
	for t := 0; t < steps; t++ {
		words, alpha, err := s.step(parents, prev)
		if err != nil {
			return nil, err
		}
		active := false
		for img := range beams {
			b := &beams[img]
			if b.width > 0 {
				b.advance(words, func(row int) []float32 { return s.rowAttention(alpha, row) }, img*k)
			}
			for j := 0; j < k; j++ { // lay out the image's rows for the next step
				r := img*k + j
				if j < len(b.live) {
					h := b.live[j]
					parents[r], prev[r] = int32(h.parentRow), h.tokens[len(h.tokens)-1]
					b.live[j].row = r
				} else {
					parents[r], prev[r] = int32(img*k), text.EndID
				}
			}
			active = active || b.width > 0
		}
		if !active {
			break
		}
	}
	caps := make([]Caption, len(beams))
	for img, b := range beams {
		best, finished := b.best()
		caps[img] = toCaption(m, best, finished)
	}
	return caps, nil
}

// advance takes one step: the width best (hypothesis, word) pairs by float32 total, best first
// (ties: the earlier hypothesis, then the better word); <end> ends a hypothesis and narrows the
// beam. The hypotheses that go on remember their parent's row (parentRow) for the next step.
func (b *shrinkingBeam) advance(words []rowWords, attention func(row int) []float32, firstRow int) {
	type candidate struct {
		parent, word int
		lp, score    float32
	}
	var cands []candidate
	for j, h := range b.live {
		row := words[h.row]
		for i, w := range row.ids {
			lp := float32(row.logProbs[i])
			cands = append(cands, candidate{j, int(w), lp, float32(h.logProb) + lp})
		}
	}
	sort.SliceStable(cands, func(x, y int) bool { return cands[x].score > cands[y].score })
	cands = cands[:min(b.width, len(cands))]
	var next []hypothesis
	for _, c := range cands {
		h := b.live[c.parent]
		if c.word == text.EndID {
			f := h
			f.logProb = float64(c.score)
			b.ended = append(b.ended, f)
			continue
		}
		n := h.extend(int32(c.word), 0, attention(h.row), firstRow+len(next))
		n.logProb, n.parentRow = float64(c.score), h.row
		next = append(next, n)
	}
	b.width -= len(cands) - len(next)
	if len(cands) == 0 { // no allowed word had a probability: nothing can go on
		b.width = 0
	}
	b.live = next
}

// best is the ended caption with the highest total (the first of equals), or the best live one,
// unfinished, when none ended.
func (b *shrinkingBeam) best() (hypothesis, bool) {
	pool, finished := b.ended, true
	if len(pool) == 0 {
		pool, finished = b.live, false
	}
	if len(pool) == 0 {
		return hypothesis{logProb: math.Inf(-1)}, false
	}
	best := pool[0]
	for _, h := range pool[1:] {
		if h.logProb > best.logProb {
			best = h
		}
	}
	return best, finished
}
