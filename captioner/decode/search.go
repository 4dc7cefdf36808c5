package decode

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/gomlx/core/tensors"
)

// The controlled search: Hugging Face's beam search (with diverse groups) and sampling, over the
// full distribution of every step, on the host loop. attncap's own searches (decode.go) stay
// the path of the zero Controls, in either loop.

// ctlHyp is a partial caption of the controlled search.
type ctlHyp struct {
	tokens    []int32
	attention [][]float32
	raw       float64 // the model's log-probability of tokens (and of <end> once finished)
	search    float64 // the same after the controls' processing: what the search ranks by
	row       int     // the step row holding its state
	parentRow int     // the row whose state it continues at the next step
	finished  bool
	blocked   bool // the controls banned every continuation: it stopped unfinished
}

// length is L of the length penalty: the words, and <end> when finished.
func (h *ctlHyp) length() int {
	if h.finished {
		return len(h.tokens) + 1
	}
	return len(h.tokens)
}

// penalised is sum / L^p (the sum itself for p = 0).
func penalised(sum float64, length int, p float64) float64 {
	if p == 0 {
		return sum
	}
	return sum / math.Pow(float64(max(1, length)), p)
}

// stepLogits advances every row (as step does) and returns every row's logits [rows·V] and the
// attention [rows·R] (nil when skipped).
func (s *decodeSession) stepLogits(parents, prev []int32) (logits, alpha []float32, err error) {
	out, err := s.call(parents, prev, 2)
	if err != nil {
		return nil, nil, err
	}
	logits = tensors.MustCopyFlatData[float32](out[0])
	out[0].MustFinalizeAll()
	if !s.skipAttention {
		alpha = float32s(out[1])
	}
	out[1].MustFinalizeAll()
	return logits, alpha, nil
}

// controlled decodes with Controls set: sampling, or beam search in groups.
func controlled(m *captioner.Model, regions *tensors.Tensor, opts Options) ([]Caption, error) {
	k := max(1, opts.Beam)
	perImage := k
	if opts.DoSample {
		perImage = max(1, opts.NumReturnSequences)
	}
	steps := maxSteps(m, opts)
	exec, err := stepLogitsExec(m, !opts.SkipAttention)
	if err != nil {
		return nil, err
	}
	s, err := sessionWith(m, exec, regions, perImage, steps, opts.SkipAttention)
	if err != nil {
		return nil, err
	}
	c := &controller{m: m, opts: opts, bans: opts.Controls.bans(m.Vocab), vocab: m.Config.VocabSize}
	var pools [][]ctlHyp
	if opts.DoSample {
		pools, err = c.sample(s, perImage, steps)
	} else {
		pools, err = c.beamSearch(s, k, steps)
	}
	if err != nil {
		return nil, err
	}
	caps := make([]Caption, len(pools))
	for img, pool := range pools {
		caps[img] = c.nBest(pool)
	}
	return caps, nil
}

// controller applies the controls to each row's distribution.
type controller struct {
	m     *captioner.Model
	opts  Options
	bans  bannedWords
	vocab int
	// Buffers of process, reused from row to row (its results live until its next call).
	x, raw, proc []float64
}

// logSoftmax of logits in float64, into dst (len(x)).
func logSoftmax(dst, x []float64) []float64 {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = math.Max(mx, v)
	}
	sum := 0.0
	for _, v := range x {
		sum += math.Exp(v - mx)
	}
	lse := mx + math.Log(sum)
	for i, v := range x {
		dst[i] = v - lse
	}
	return dst
}

// process returns a row's raw log-probabilities and the processed ones the search uses: the
// repetition penalty on the logits, log-softmax, the bans (−∞), then the diversity penalty for
// the words earlier groups chose at this step (chosen: word → count). Both stay valid until the
// next call.
func (c *controller) process(logits []float32, h *ctlHyp, chosen map[int32]int) (proc, raw []float64) {
	if len(c.x) != len(logits) {
		c.x, c.raw, c.proc = make([]float64, len(logits)), make([]float64, len(logits)), make([]float64, len(logits))
	}
	x := c.x
	for i, v := range logits {
		x[i] = float64(v)
	}
	raw = logSoftmax(c.raw, x)
	if rp := c.opts.RepetitionPenalty; rp != 0 && rp != 1 {
		seen := map[int32]bool{}
		for _, t := range h.tokens {
			if !seen[t] {
				seen[t] = true
				if x[t] < 0 {
					x[t] *= rp
				} else {
					x[t] /= rp
				}
			}
		}
		proc = logSoftmax(c.proc, x)
	} else {
		proc = c.proc
		copy(proc, raw)
	}
	ban := func(t int32) { proc[t] = math.Inf(-1) }
	for t := range c.bans.always {
		ban(t)
	}
	for _, p := range c.bans.phrases {
		if n := len(p) - 1; len(h.tokens) >= n && slices.Equal(h.tokens[len(h.tokens)-n:], p[:n]) {
			ban(p[n])
		}
	}
	if len(h.tokens) < c.opts.MinNewTokens {
		ban(text.EndID)
	}
	if n := len(h.tokens); n > 0 && c.bans.badEndings[h.tokens[n-1]] {
		ban(text.EndID)
	}
	for _, t := range repeatedNgramEnds(h.tokens, c.opts.NoRepeatNgramSize) {
		ban(t)
	}
	for t, n := range chosen {
		proc[t] -= c.opts.DiversityPenalty * float64(n)
	}
	return proc, raw
}

// repeatedNgramEnds are the words that would repeat an n-gram of tokens: those that followed
// an earlier occurrence of the last n−1 tokens.
func repeatedNgramEnds(tokens []int32, n int) []int32 {
	if n <= 0 || len(tokens) < n-1 {
		return nil
	}
	if n == 1 {
		return slices.Clone(tokens)
	}
	prefix := tokens[len(tokens)-(n-1):]
	var out []int32
	for i := 0; i+n <= len(tokens); i++ {
		if slices.Equal(tokens[i:i+n-1], prefix) {
			out = append(out, tokens[i+n-1])
		}
	}
	return out
}

// candidate is one continuation of a hypothesis.
type candidate struct {
	parent      int
	word        int32
	search, raw float64
}

// topCandidates are the n best continuations of live by processed total (ties: the earlier
// hypothesis, then the lower id).
func (c *controller) topCandidates(live []ctlHyp, logits []float32, n int, chosen map[int32]int) []candidate {
	var cands []candidate
	for j := range live {
		h := &live[j]
		proc, raw := c.process(logits[h.row*c.vocab:(h.row+1)*c.vocab], h, chosen)
		// Only a row's n best words can be among the n best candidates.
		for _, w := range topWords(proc, n) {
			cands = append(cands, candidate{j, w, h.search + proc[w], h.raw + raw[w]})
		}
	}
	sort.SliceStable(cands, func(a, b int) bool { return cands[a].search > cands[b].search })
	return cands[:min(n, len(cands))]
}

// topWords are the ids of the n largest finite values of lp, largest first (ties: the lower
// id), found in one pass that keeps a sorted buffer of n.
func topWords(lp []float64, n int) []int32 {
	best := make([]int32, 0, n+1)
	for w, v := range lp {
		if math.IsInf(v, -1) || math.IsNaN(v) || (len(best) == n && v <= lp[best[n-1]]) {
			continue
		}
		i := len(best)
		for i > 0 && lp[best[i-1]] < v {
			i--
		}
		best = slices.Insert(best, i, int32(w))
		if len(best) > n {
			best = best[:n]
		}
	}
	return best
}

// group is one group of a (diverse) beam search for one image.
type group struct {
	live, finished []ctlHyp
	done           bool
}

// beamSearch runs Hugging Face's beam search with the controls: per image, NumBeamGroups
// groups of k/groups beams searched in turn at every step; a group keeps its best k/groups
// finished captions by penalised score and stops once none of its live ones can beat the worst
// of them (early_stopping false). It returns each image's finished captions, with the live
// ones of groups that finished fewer than their beams.
func (c *controller) beamSearch(s *decodeSession, k, steps int) ([][]ctlHyp, error) {
	numGroups := max(1, c.opts.NumBeamGroups)
	kg := k / numGroups
	images := s.rows / k
	groups := make([][]group, images)
	parents, prev := make([]int32, s.rows), make([]int32, s.rows)
	for img := range groups {
		groups[img] = make([]group, numGroups)
		for g := range groups[img] {
			row := img*k + g*kg
			groups[img][g].live = []ctlHyp{{row: row, parentRow: row}}
		}
	}
	for i := range parents {
		parents[i], prev[i] = int32(i), text.StartID
	}
	for t := 0; t < steps; t++ {
		logits, alpha, err := s.stepLogits(parents, prev)
		if err != nil {
			return nil, err
		}
		active := false
		for img := range groups {
			chosen := map[int32]int{}
			for g := range groups[img] {
				gr := &groups[img][g]
				if !gr.done {
					c.advance(gr, logits, alpha, s, kg, img*k+g*kg, chosen)
				}
				for j := 0; j < kg; j++ { // lay out the group's rows for the next step
					r := img*k + g*kg + j
					if j < len(gr.live) && !gr.done { // a finished group's rows idle
						h := &gr.live[j]
						parents[r], prev[r] = int32(h.parentRow), h.tokens[len(h.tokens)-1]
						h.row = r
					} else {
						parents[r], prev[r] = int32(r), text.EndID
					}
				}
				active = active || !gr.done
			}
		}
		if !active {
			break
		}
	}
	pools := make([][]ctlHyp, images)
	for img := range groups {
		for _, gr := range groups[img] {
			pools[img] = append(pools[img], gr.finished...)
			pools[img] = append(pools[img], gr.live...) // unfinished: only where too few finished
		}
	}
	return pools, nil
}

// advance takes one step for a group whose rows start at firstRow: of its best 2·kg
// candidates, an <end> among the first kg finishes its hypothesis, the others continue until
// kg are live. The words the group continues with count for the later groups' diversity.
func (c *controller) advance(gr *group, logits, alpha []float32, s *decodeSession, kg, firstRow int, chosen map[int32]int) {
	lp := c.opts.LengthPenalty
	cands := c.topCandidates(gr.live, logits, 2*kg, chosen)
	var next []ctlHyp
	for rank, cd := range cands {
		h := gr.live[cd.parent]
		if cd.word == text.EndID {
			if rank < kg {
				f := ctlHyp{tokens: h.tokens, attention: h.attention, raw: cd.raw, search: cd.search, finished: true}
				gr.finished = keepBest(append(gr.finished, f), keepFinished*kg, lp)
			}
			continue
		}
		if len(next) == kg {
			break
		}
		n := ctlHyp{tokens: append(slices.Clone(h.tokens), cd.word), raw: cd.raw, search: cd.search,
			row: firstRow + len(next), parentRow: h.row}
		if a := s.rowAttention(alpha, h.row); a != nil {
			n.attention = append(slices.Clone(h.attention), a)
		}
		next = append(next, n)
	}
	for _, h := range next {
		chosen[h.tokens[len(h.tokens)-1]]++
	}
	if len(next) == 0 { // every continuation was blocked: the live ones stop, unfinished
		for i := range gr.live {
			gr.live[i].blocked = true
		}
		gr.done = true
		return
	}
	gr.live = next
	if len(gr.finished) >= kg {
		worst := penalised(gr.finished[kg-1].search, gr.finished[kg-1].length(), lp)
		best := penalised(next[0].search, len(next[0].tokens)+1, lp)
		if worst >= best {
			gr.done = true
		}
	}
}

// keepFinished is how many finished captions a group keeps per beam: more than Hugging Face's
// one, so that an n-best list stays full of distinct captions when groups find the same ones.
// The search does not depend on it (a group stops on its kg best), nor the 1-best.
const keepFinished = 4

// keepBest sorts finished hypotheses by penalised search score, best first, and keeps n.
func keepBest(hs []ctlHyp, n int, lp float64) []ctlHyp {
	sort.SliceStable(hs, func(a, b int) bool {
		return penalised(hs[a].search, hs[a].length(), lp) > penalised(hs[b].search, hs[b].length(), lp)
	})
	return hs[:min(n, len(hs))]
}

// sample draws perImage captions per image, each row on its own generator seeded by
// (Seed, row within the image), so that an image's samples do not depend on its batch.
func (c *controller) sample(s *decodeSession, perImage, steps int) ([][]ctlHyp, error) {
	hyps := make([]ctlHyp, s.rows)
	rngs := make([]*rand.Rand, s.rows)
	done := make([]bool, s.rows)
	parents, prev := make([]int32, s.rows), make([]int32, s.rows)
	for i := range hyps {
		hyps[i].row = i
		rngs[i] = rand.New(rand.NewPCG(c.opts.Seed, uint64(i%perImage)))
		parents[i], prev[i] = int32(i), text.StartID
	}
	for t := 0; t < steps; t++ {
		logits, alpha, err := s.stepLogits(parents, prev)
		if err != nil {
			return nil, err
		}
		active := false
		for i := range hyps {
			if done[i] {
				continue
			}
			h := &hyps[i]
			proc, raw := c.process(logits[i*c.vocab:(i+1)*c.vocab], h, nil)
			w, ok := c.draw(proc, rngs[i])
			switch {
			case !ok: // every word is banned: the caption stays unfinished
				done[i], h.blocked = true, true
			case w == text.EndID:
				h.raw += raw[w]
				h.search, h.finished, done[i] = h.raw, true, true
			default:
				h.raw += raw[w]
				h.search = h.raw
				h.tokens = append(h.tokens, w)
				if a := s.rowAttention(alpha, i); a != nil {
					h.attention = append(h.attention, slices.Clone(a))
				}
			}
			prev[i] = text.EndID
			if !done[i] {
				prev[i], active = w, true
			}
		}
		if !active {
			break
		}
	}
	pools := make([][]ctlHyp, s.rows/perImage)
	for i, h := range hyps {
		pools[i/perImage] = append(pools[i/perImage], h)
	}
	return pools, nil
}

// draw samples a word from processed log-probabilities: divided by the temperature, cut to the
// top k and to the nucleus of probability top p, renormalised. ok is false when every word is
// banned.
func (c *controller) draw(proc []float64, rng *rand.Rand) (int32, bool) {
	temp := c.opts.Temperature
	if temp == 0 {
		temp = 1
	}
	var ids []int32
	mx := math.Inf(-1)
	for w, lp := range proc {
		if !math.IsInf(lp, -1) && !math.IsNaN(lp) {
			ids = append(ids, int32(w))
			mx = math.Max(mx, lp)
		}
	}
	if len(ids) == 0 {
		return 0, false
	}
	nucleus := c.opts.TopP > 0 && c.opts.TopP < 1
	switch {
	case c.opts.TopK > 0 && len(ids) > c.opts.TopK:
		ids = topWords(proc, c.opts.TopK) // best first
	case nucleus: // the nucleus is cut from the most probable words down
		sort.SliceStable(ids, func(a, b int) bool { return proc[ids[a]] > proc[ids[b]] })
	}
	probs := make([]float64, len(ids))
	total := 0.0
	for i, w := range ids {
		probs[i] = math.Exp((proc[w] - mx) / temp) // relative to the best word: no overflow as T → 0
		total += probs[i]
	}
	if p := c.opts.TopP; nucleus {
		cum := 0.0
		for i := range probs {
			cum += probs[i] / total
			if cum >= p {
				ids, probs = ids[:i+1], probs[:i+1]
				break
			}
		}
		total = 0
		for _, q := range probs {
			total += q
		}
	}
	u := rng.Float64() * total
	for i, q := range probs {
		if u < q {
			return ids[i], true
		}
		u -= q
	}
	return ids[len(ids)-1], true
}

// nBest turns an image's pool into its caption and n-best alternatives: scored by the length
// penalty on the raw log-probability, distinct, NumReturnSequences of them, the finished ones
// best first, then (only where too few finished) unfinished ones best first.
func (c *controller) nBest(pool []ctlHyp) Caption {
	lp := c.opts.LengthPenalty
	caps := make([]Caption, 0, len(pool))
	for i := range pool {
		h := &pool[i]
		words := make([]string, len(h.tokens))
		for j, t := range h.tokens {
			words[j] = c.m.Vocab.Word(int(t))
		}
		cp := Caption{Tokens: h.tokens, Words: words, LogProb: h.raw, Finished: h.finished, Attention: h.attention}
		cp.Score = penalised(h.raw, h.length(), lp)
		cp.Limit = limitOf(c.m, &cp, c.opts)
		if h.blocked {
			cp.Limit = LimitBlocked
		}
		caps = append(caps, cp)
	}
	sort.SliceStable(caps, func(a, b int) bool {
		if caps[a].Finished != caps[b].Finished {
			return caps[a].Finished
		}
		return caps[a].Score > caps[b].Score
	})
	var out []Caption
	seen := map[string]bool{}
	for _, cp := range caps {
		key := fmt.Sprint(cp.Tokens)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, cp)
	}
	n := max(1, c.opts.NumReturnSequences)
	if len(out) == 0 {
		return Caption{LogProb: math.Inf(-1), Score: math.Inf(-1), Limit: LimitBlocked}
	}
	out = out[:min(n, len(out))]
	best := out[0]
	best.Alternatives = out[1:]
	return best
}
