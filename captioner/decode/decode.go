// Package decode turns an encoder's regions into captions with a trained captioner.Model:
// greedy decoding and beam search, with the loop over the words on the host or in one compiled
// graph (loop.go, beam_loop.go), sampling for self-critical training (sample.go), and captioning
// image files or cached features in batches (caption.go). Decoding functions take the model;
// they reach its decoder only through the decoder.Decoder interface.
package decode

import (
	"fmt"
	"math"
	"sort"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decoder"
	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Caption is one decoded caption.
type Caption struct {
	// Tokens are the word ids, without <start> and <end>.
	Tokens []int32
	// Words are the tokens as text.
	Words []string
	// LogProb is the sum of the log-probabilities of the words (and of <end>, when reached).
	LogProb float64
	// Score is what ranks the caption: LogProb / L^length_penalty, L its words + 1 (<end>
	// counted; its words alone when unfinished); LogProb itself by default (per token with
	// Options.LengthNorm).
	Score float64
	// Finished says whether the caption ended with <end> (rather than hitting the length limit).
	Finished bool
	// Limit names the length limit an unfinished caption hit: LimitMaxNewTokens (the decoding
	// option) or LimitModel (the model's); "" when it finished.
	Limit string
	// Alternatives are the rest of the n-best list (Controls.NumReturnSequences), best first.
	Alternatives []Caption
	// Attention holds, for each word, its attention weights over the R regions.
	Attention [][]float32
}

// Options tune Greedy and Beam.
type Options struct {
	// Beam is the beam width k (Beam only; Regions decodes greedily for k ≤ 1).
	Beam int
	// MaxLen bounds the caption, <start> and <end> included; 0 means the model's MaxLen.
	MaxLen int
	// LengthNorm ranks finished captions by log-probability per token instead of in total.
	LengthNorm bool
	// SkipAttention leaves Caption.Attention empty: the attention weights then stay on the
	// device instead of being copied to the host at every step (evaluation does not need them).
	SkipAttention bool
	// Loop says where greedy decoding and beam search loop over the words: LoopAuto (per
	// backend), LoopHost or LoopGraph (loop.go, beam_loop.go).
	Loop Loop
	// BeamStyle is BeamKeep ("" too: attncap's beam search) or BeamShrink (the PyTorch
	// tutorial's, whose beam narrows as hypotheses end: beam_shrink.go).
	BeamStyle string
	// Controls are Hugging Face's generate controls (controls.go); their zero value changes
	// nothing.
	Controls
}

// hypothesis is a partial caption during decoding.
type hypothesis struct {
	tokens    []int32
	logProb   float64
	attention [][]float32
	row       int // the row of the step tensors holding its state
	parentRow int // the shrinking beam's: the row whose state it continues (beam_shrink.go)
}

// extend returns h followed by word; alpha (nil when attention is skipped) is its attention.
func (h hypothesis) extend(word int32, lp float64, alpha []float32, row int) hypothesis {
	next := hypothesis{
		tokens:  append(append([]int32{}, h.tokens...), word),
		logProb: h.logProb + lp,
		row:     row,
	}
	if alpha != nil {
		next.attention = append(append([][]float32{}, h.attention...), alpha)
	}
	return next
}

// toCaption is h as a Caption, its words from the model's vocabulary.
func toCaption(m *captioner.Model, h hypothesis, finished bool) Caption {
	words := make([]string, len(h.tokens))
	for i, t := range h.tokens {
		words[i] = m.Vocab.Word(int(t))
	}
	return Caption{Tokens: h.tokens, Words: words, LogProb: h.logProb, Finished: finished, Attention: h.attention}
}

// decoderFor is the model's decoder, WithoutAttention when attention is not wanted.
func decoderFor(m *captioner.Model, attention bool) decoder.Decoder {
	dec := captioner.NewDecoder(m.Config)
	if !attention {
		return dec.WithoutAttention()
	}
	return dec
}

// decodeSession holds the per-batch tensors of a decoding run: regions repeated per hypothesis
// row, the decoder's memory of them and the state of every row.
type decodeSession struct {
	m                *captioner.Model
	exec             *model.Exec
	regions          *tensors.Tensor
	memory, state    []*tensors.Tensor
	position         int32 // the position in the caption of the words the next step reads
	rows, numRegions int
	skipAttention    bool
}

// startSession lays out rows hypotheses per image (image b owns rows b·perImage …) for at
// most steps steps; each step returns the n best next words of every row.
func startSession(m *captioner.Model, regions *tensors.Tensor, perImage, n, steps int, skipAttention bool) (*decodeSession, error) {
	exec, err := stepExec(m, n, !skipAttention)
	if err != nil {
		return nil, err
	}
	return sessionWith(m, exec, regions, perImage, steps, skipAttention)
}

// sessionWith lays out the session for the step graph exec (stepExec or stepLogitsExec).
func sessionWith(m *captioner.Model, exec *model.Exec, regions *tensors.Tensor, perImage, steps int, skipAttention bool) (*decodeSession, error) {
	prepare, err := prepareExec(m, steps)
	if err != nil {
		return nil, err
	}
	if err := m.CheckRegions(regions); err != nil {
		return nil, err
	}
	d := regions.Shape().Dimensions
	b := d[0]
	if perImage > 1 {
		idx := make([]int32, b*perImage)
		for i := range idx {
			idx[i] = int32(i / perImage)
		}
		tiled, err := gather(regions, idx)
		if err != nil {
			return nil, err
		}
		regions = tiled
	}
	out, err := m.Call(prepare, regions)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	numMemory, _ := captioner.NewDecoder(m.Config).Slots()
	return &decodeSession{m: m, exec: exec, regions: regions, memory: out[:numMemory], state: out[numMemory:],
		rows: b * perImage, numRegions: d[1], skipAttention: skipAttention}, nil
}

// gather picks rows of a host tensor (used to repeat each image's regions per beam row),
// copying raw bytes so that any dtype works.
func gather(t *tensors.Tensor, idx []int32) (*tensors.Tensor, error) {
	d := t.Shape().Dimensions
	out := tensors.FromShape(shapes.Make(t.DType(), append([]int{len(idx)}, d[1:]...)...))
	rowBytes := int(t.Shape().ByteSize()) / d[0]
	var err error
	if cerr := t.ConstBytes(func(src []byte) {
		err = out.MutableBytes(func(dst []byte) {
			for i, r := range idx {
				copy(dst[i*rowBytes:(i+1)*rowBytes], src[int(r)*rowBytes:(int(r)+1)*rowBytes])
			}
		})
	}); cerr != nil {
		return nil, fmt.Errorf("decode: %w", cerr)
	}
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return out, nil
}

// rowWords are the best next words of one row, best first, with their log-probabilities.
type rowWords struct {
	ids      []int32
	logProbs []float64
}

// step advances every row: row i continues the state of row parents[i] after emitting
// prev[i]. It returns each row's n best allowed next words and the attention [rows·R] (nil
// when the session skips attention).
func (s *decodeSession) step(parents, prev []int32) (words []rowWords, alpha []float32, err error) {
	out, err := s.call(parents, prev, 3)
	if err != nil {
		return nil, nil, err
	}
	n := out[0].Shape().Dimensions[1] // words kept per row
	values, ids := toFloat64(out[0]), tensors.MustCopyFlatData[int32](out[1])
	out[0].MustFinalizeAll()
	out[1].MustFinalizeAll()
	words = make([]rowWords, s.rows)
	for r := range words {
		for j := r * n; j < (r+1)*n; j++ {
			// Past the allowed words the graph pads with -inf.
			if !math.IsInf(values[j], -1) && allowed(int(ids[j])) {
				words[r].ids = append(words[r].ids, ids[j])
				words[r].logProbs = append(words[r].logProbs, values[j])
			}
		}
	}
	if !s.skipAttention {
		alpha = float32s(out[2])
	}
	out[2].MustFinalizeAll()
	return words, alpha, nil
}

// call runs the session's step graph (stepExec or stepLogitsExec) on the rows' parents and
// previous words, keeps the new state (the outputs from index stateAt on) and returns the
// outputs before it.
func (s *decodeSession) call(parents, prev []int32, stateAt int) ([]*tensors.Tensor, error) {
	in := []any{s.regions, tensors.FromFlatDataAndDimensions(parents, len(parents)),
		tensors.FromFlatDataAndDimensions(prev, len(prev)), tensors.FromScalar(s.position)}
	for _, t := range append(append([]*tensors.Tensor{}, s.memory...), s.state...) {
		in = append(in, t)
	}
	out, err := s.m.Call(s.exec, in...)
	if err != nil {
		return nil, fmt.Errorf("decode step: %w", err)
	}
	s.position++
	for _, t := range s.state {
		t.MustFinalizeAll()
	}
	s.state = out[stateAt:]
	return out[:stateAt], nil
}

// rowAttention is row's attention within a step's alpha (nil when attention is skipped).
func (s *decodeSession) rowAttention(alpha []float32, row int) []float32 {
	if alpha == nil {
		return nil
	}
	return alpha[row*s.numRegions : (row+1)*s.numRegions]
}

// toFloat32 narrows host values (attention weights) to float32.
func toFloat32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

// float32s copies a float32 or float64 tensor's values to the host as float32 (attention
// weights), without a float64 copy when it is float32.
func float32s(t *tensors.Tensor) []float32 {
	if t.DType() == dtypes.Float64 {
		return toFloat32(tensors.MustCopyFlatData[float64](t))
	}
	return tensors.MustCopyFlatData[float32](t)
}

// toFloat64 copies a float32 or float64 tensor's values to the host as float64.
func toFloat64(t *tensors.Tensor) []float64 {
	if t.DType() == dtypes.Float64 {
		return tensors.MustCopyFlatData[float64](t)
	}
	f := tensors.MustCopyFlatData[float32](t)
	out := make([]float64, len(f))
	for i, v := range f {
		out[i] = float64(v)
	}
	return out
}

// maxSteps is how many words (and <end>) a caption may have after <start>: opts.MaxLen, or
// the model's, capped at the longest caption the decoder can write (decoder.Decoder.MaxLen).
func maxSteps(m *captioner.Model, opts Options) int {
	maxLen := opts.MaxLen
	if maxLen <= 0 {
		maxLen = m.Config.MaxLen
	}
	if limit := captioner.NewDecoder(m.Config).MaxLen(); limit > 0 {
		maxLen = min(maxLen, limit)
	}
	return max(1, maxLen-1) // words plus <end>, after <start>
}

// advanceGreedy extends h (whose row is unchanged) with its row's most probable next word;
// <end> finishes it (its log-probability counts, no word is added). It returns the word the row
// emits next (<end> once finished) and whether h is finished.
func (h *hypothesis) advanceGreedy(words rowWords, alpha []float32) (int32, bool) {
	if len(words.ids) == 0 { // every word has probability 0: nothing sensible to add
		h.logProb = math.Inf(-1)
		return text.EndID, true
	}
	best, lp := words.ids[0], words.logProbs[0]
	if best == text.EndID {
		h.logProb += lp
		return text.EndID, true
	}
	*h = h.extend(best, lp, alpha, h.row)
	return best, false
}

// greedy is Greedy without controls: the most probable allowed word at every step.
func greedy(m *captioner.Model, regions *tensors.Tensor, opts Options) ([]Caption, error) {
	if inGraph, err := loopInGraph(m, opts, false); err != nil || inGraph {
		if err != nil {
			return nil, err
		}
		return greedyInGraph(m, regions, opts)
	}
	steps := maxSteps(m, opts)
	s, err := startSession(m, regions, 1, 1, steps, opts.SkipAttention)
	if err != nil {
		return nil, err
	}
	hyps := make([]hypothesis, s.rows)
	done := make([]bool, s.rows)
	parents, prev := make([]int32, s.rows), make([]int32, s.rows)
	for i := range parents {
		parents[i], prev[i], hyps[i].row = int32(i), text.StartID, i
	}
	for t := 0; t < steps; t++ {
		words, alpha, err := s.step(parents, prev)
		if err != nil {
			return nil, err
		}
		allDone := true
		for i := range hyps {
			if done[i] {
				continue
			}
			word, finished := hyps[i].advanceGreedy(words[i], s.rowAttention(alpha, i))
			done[i] = finished
			prev[i] = word
			allDone = allDone && finished
		}
		if allDone {
			break
		}
	}
	caps := make([]Caption, len(hyps))
	for i, h := range hyps {
		caps[i] = toCaption(m, h, done[i])
	}
	return caps, nil
}

// score ranks hypotheses: total log-probability, or per emitted token with LengthNorm.
func score(h hypothesis, finished, lengthNorm bool) float64 {
	if !lengthNorm {
		return h.logProb
	}
	n := len(h.tokens)
	if finished {
		n++ // <end> counts
	}
	return h.logProb / float64(max(1, n))
}

// beam is Beam without controls: attncap's beam search, or the tutorial's shrinking one.
func beam(m *captioner.Model, regions *tensors.Tensor, opts Options) ([]Caption, error) {
	switch opts.BeamStyle {
	case "", BeamKeep:
	case BeamShrink:
		return beamShrink(m, regions, opts)
	default:
		return nil, fmt.Errorf("decode: beam style %q: want %q or %q", opts.BeamStyle, BeamKeep, BeamShrink)
	}
	if inGraph, err := loopInGraph(m, opts, true); (err != nil || inGraph) && opts.NumReturnSequences <= 1 {
		if err != nil {
			return nil, err
		}
		return beamInGraph(m, regions, opts)
	}
	k := max(1, opts.Beam)
	perImage := k
	if k > 1 {
		perImage = k + 1 // the last row of each image decodes greedily, in the same steps
	}
	// Each hypothesis can contribute at most 2k candidates that matter (k continuations plus up
	// to k endings), so the step graph keeps only each row's 2k best words.
	steps := maxSteps(m, opts)
	s, err := startSession(m, regions, perImage, 2*k, steps, opts.SkipAttention)
	if err != nil {
		return nil, err
	}
	b := newBeams(s.rows/perImage, k, perImage)
	for t := 0; t < steps; t++ {
		words, alpha, err := s.step(b.parents, b.prev)
		if err != nil {
			return nil, err
		}
		active := false
		for img := range b.live {
			active = b.advance(img, words, s.rowAttention, alpha) || active
		}
		if !active {
			break
		}
	}
	caps := make([]Caption, len(b.live))
	for img := range caps {
		best, isFinished := pickBeamCaption(b.finished[img], b.live[img], b.greedy[img], b.greedyDone[img], k, opts.LengthNorm)
		caps[img] = toCaption(m, best, isFinished)
		if opts.NumReturnSequences > 1 {
			caps[img].Alternatives = b.alternatives(m, img, best, opts)
		}
	}
	return caps, nil
}

// beams is the host loop's beam search state: per image its live and finished hypotheses and
// its greedy row, and the parent row and word of every step row.
type beams struct {
	k, perImage   int
	live          [][]hypothesis
	finished      [][]hypothesis
	greedy        []hypothesis
	greedyDone    []bool
	parents, prev []int32
}

// newBeams starts every image with one empty live hypothesis in its first row and, for k > 1,
// the greedy row last.
func newBeams(numImages, k, perImage int) *beams {
	b := &beams{k: k, perImage: perImage, live: make([][]hypothesis, numImages), finished: make([][]hypothesis, numImages),
		greedy: make([]hypothesis, numImages), greedyDone: make([]bool, numImages),
		parents: make([]int32, numImages*perImage), prev: make([]int32, numImages*perImage)}
	for img := range b.live {
		b.live[img] = []hypothesis{{row: img * perImage}}
		b.greedy[img].row = img*perImage + k
		b.greedyDone[img] = k == 1
	}
	for i := range b.parents {
		b.parents[i], b.prev[i] = int32(i), text.StartID
	}
	return b
}

// advance takes one step for image img from its rows' best words: the greedy row's word, then
// the live hypotheses' continuations ranked by total log-probability (ties: the earlier
// hypothesis, then the better word); going down that list a continuation takes the next beam
// slot and an <end> finishes its hypothesis, until k continuations are taken or k captions have
// finished. It lays out the image's rows for the next step and says whether the image is still
// decoding.
func (b *beams) advance(img int, words []rowWords, rowAttention func(alpha []float32, row int) []float32, alpha []float32) bool {
	active := false
	if !b.greedyDone[img] {
		g := &b.greedy[img]
		word, done := g.advanceGreedy(words[g.row], rowAttention(alpha, g.row))
		b.greedyDone[img], b.prev[g.row] = done, word
		active = !done
	}
	if len(b.live[img]) == 0 {
		return active
	}
	type candidate struct {
		parent int // index into live[img]
		word   int
		score  float64
	}
	var cands []candidate
	for j, h := range b.live[img] {
		row := words[h.row]
		for i, w := range row.ids {
			cands = append(cands, candidate{j, int(w), h.logProb + row.logProbs[i]})
		}
	}
	sort.SliceStable(cands, func(x, y int) bool { return cands[x].score > cands[y].score })
	var next []hypothesis
	var nextParents []int32 // row whose state each next hypothesis continues
	for _, c := range cands {
		if len(next) == b.k || len(b.finished[img]) >= b.k {
			break
		}
		h := b.live[img][c.parent]
		if c.word == text.EndID {
			f := h
			f.logProb = c.score
			b.finished[img] = append(b.finished[img], f)
			continue
		}
		next = append(next, h.extend(int32(c.word), c.score-h.logProb, rowAttention(alpha, h.row), img*b.perImage+len(next)))
		nextParents = append(nextParents, int32(h.row))
	}
	if len(b.finished[img]) >= b.k {
		next = nil
	}
	// Beam row img·perImage+j continues its parent's state; unused rows idle.
	for j := 0; j < b.k; j++ {
		r := img*b.perImage + j
		if j < len(next) {
			b.parents[r], b.prev[r] = nextParents[j], next[j].tokens[len(next[j].tokens)-1]
		} else {
			b.parents[r], b.prev[r] = int32(img*b.perImage), text.EndID
		}
	}
	b.live[img] = next
	return active || len(next) > 0
}

// alternatives are the rest of an image's n-best list after best: its other finished captions
// and the greedy one, then its unfinished ones, each group by score, distinct.
func (b *beams) alternatives(m *captioner.Model, img int, best hypothesis, opts Options) []Caption {
	type entry struct {
		h        hypothesis
		finished bool
	}
	var pool []entry
	for _, h := range b.finished[img] {
		pool = append(pool, entry{h, true})
	}
	if b.k > 1 {
		pool = append(pool, entry{b.greedy[img], b.greedyDone[img]})
	}
	for _, h := range b.live[img] {
		pool = append(pool, entry{h, false})
	}
	sort.SliceStable(pool, func(i, j int) bool {
		if pool[i].finished != pool[j].finished {
			return pool[i].finished
		}
		return score(pool[i].h, pool[i].finished, opts.LengthNorm) > score(pool[j].h, pool[j].finished, opts.LengthNorm)
	})
	seen := map[string]bool{fmt.Sprint(best.tokens): true}
	var out []Caption
	for _, e := range pool {
		if key := fmt.Sprint(e.h.tokens); !seen[key] && len(out) < opts.NumReturnSequences-1 {
			seen[key] = true
			out = append(out, toCaption(m, e.h, e.finished))
		}
	}
	return out
}

// pickBeamCaption is beam search's answer for one image: the best finished caption, or the
// best live one when none finished (an empty caption scored −inf when there is neither); for
// k > 1 the greedy caption instead when it is better (betterThan). Ties go to the earlier.
func pickBeamCaption(finished, live []hypothesis, greedy hypothesis, greedyDone bool, k int, lengthNorm bool) (hypothesis, bool) {
	pool, isFinished := finished, true
	if len(pool) == 0 {
		pool, isFinished = live, false
	}
	best := hypothesis{logProb: math.Inf(-1)}
	if len(pool) > 0 {
		best = pool[0]
	}
	for _, h := range pool[min(1, len(pool)):] {
		if score(h, isFinished, lengthNorm) > score(best, isFinished, lengthNorm) {
			best = h
		}
	}
	if k > 1 && (len(pool) == 0 || betterThan(greedy, greedyDone, best, isFinished, lengthNorm)) {
		best, isFinished = greedy, greedyDone
	}
	return best, isFinished
}

// betterThan prefers finished captions, then the higher score.
func betterThan(a hypothesis, aFinished bool, b hypothesis, bFinished, lengthNorm bool) bool {
	if aFinished != bFinished {
		return aFinished
	}
	return score(a, aFinished, lengthNorm) > score(b, bFinished, lengthNorm)+1e-9
}
