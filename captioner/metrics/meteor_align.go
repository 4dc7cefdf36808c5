package metrics

import "slices"

// The alignment of a hypothesis (METEOR's line 1) with a reference (line 2), as METEOR 1.5's
// aligner.Aligner finds it: every module adds its candidate matches, matches that are the only
// ones covering their words are fixed, and a beam search over the reference positions, left to
// right, picks among the others. The search reproduces METEOR's exactly, including what its
// Java does besides the published description, since alignments and hence scores depend on it:
//   - paths are ranked by weighted matched words (more first), then chunks, then distance
//     (fewer first), with a stable sort;
//   - the weights used in the search are 1 for exact matches and 0.5 for every other module,
//     and each path keeps its weighted counts in int variables, so every addition is truncated
//     (a one-word stem match adds nothing, a two-word paraphrase adds 1);
//   - the distance |start − matchStart| of each match tried is added to the path being extended
//     (not to the new path), so it counts for that path's later extensions and for the path that
//     skips the position;
//   - a hypothesis equal to its reference is aligned with exact matches alone;
//   - words are compared by Java's String.hashCode.

// meteorModule is a matching module; a Meteor uses a prefix of exact, stem, synonym, paraphrase.
type meteorModule int8

const (
	moduleExact meteorModule = iota
	moduleStem
	moduleSynonym
	moduleParaphrase
	maxModules
)

// meteorWord is what the matchers need of a word.
type meteorWord struct {
	hash     int32   // Java String.hashCode of the word
	stem     int32   // … of its Snowball stem
	synsets  []int32 // WordNet synsets of the word and of its base forms, sorted
	para     int32   // id in the paraphrase table, −1 if none
	function bool    // listed in english.words
}

// meteorMatch is a match of ref[start : start+length] with hyp[matchStart : matchStart+matchLength].
type meteorMatch struct {
	start, length, matchStart, matchLength int
	module                                 int // index of the module that made it
}

// alignPath is a partial alignment of the beam search (aligner.PartialAlignment).
type alignPath struct {
	matches      []int32 // per reference position: 1 + index of the chosen match in the stage's list there; 0 for none
	used1, used2 []bool  // hypothesis and reference words in a chosen match
	matches1     int     // weighted matched hypothesis words, truncated at every addition
	matches2     int     // weighted matched reference words, likewise
	chunks       int
	idx          int // next reference position to extend from
	lastMatchEnd int // end in the hypothesis of the last match of the open chunk; −1 if none is open
	distance     int
}

// aligner aligns caption pairs with one Meteor's modules; it keeps its buffers from one pair to
// the next and is not safe for concurrent use.
type aligner struct {
	modules       []meteorModule
	searchWeights []float64
	beam          int
	words         []meteorWord // by word id
	para          *paraphraseTable

	candidates [][]meteorMatch // per reference position
	cover1     []int           // matches covering each hypothesis word
	cover2     []int           // … each reference word
	pool       []*alignPath
	poolUsed   int
	paths      []*alignPath
	next       []*alignPath
	top        []*alignPath
	paraBuf    []int32
}

// newAligner makes an aligner for the modules, with METEOR's beam of 40.
func newAligner(modules []meteorModule, words []meteorWord, para *paraphraseTable) *aligner {
	a := &aligner{modules: modules, beam: 40, words: words, para: para}
	for _, m := range modules {
		w := 0.5
		if m == moduleExact {
			w = 1
		}
		a.searchWeights = append(a.searchWeights, w)
	}
	return a
}

// align aligns a hypothesis with a reference (word ids) and returns METEOR's statistics.
func (a *aligner) align(hyp, ref []int32) meteorStats {
	a.collectMatches(hyp, ref)
	best := a.search(a.initialPath(len(hyp), len(ref)), len(ref))
	return a.stats(hyp, ref, best)
}

// collectMatches fills a.candidates with every module's matches, in METEOR's order.
func (a *aligner) collectMatches(hyp, ref []int32) {
	a.candidates = resize(a.candidates, len(ref))
	for j := range a.candidates {
		a.candidates[j] = a.candidates[j][:0]
	}
	a.cover1 = clearInts(a.cover1, len(hyp))
	a.cover2 = clearInts(a.cover2, len(ref))
	modules := a.modules
	if a.sameHashes(hyp, ref) {
		modules = modules[:1] // identical sentences need exact matches only
	}
	for stage, m := range modules {
		switch m {
		case moduleParaphrase:
			a.matchParaphrases(stage, hyp, ref)
		default:
			a.matchWords(stage, m, hyp, ref)
		}
	}
}

func (a *aligner) sameHashes(hyp, ref []int32) bool {
	return slices.EqualFunc(hyp, ref, func(x, y int32) bool { return a.words[x].hash == a.words[y].hash })
}

// matchWords adds the one-word matches of an exact, stem or synonym module.
func (a *aligner) matchWords(stage int, m meteorModule, hyp, ref []int32) {
	for j, r := range ref {
		wr := &a.words[r]
		for i, h := range hyp {
			wh := &a.words[h]
			var ok bool
			switch m {
			case moduleExact:
				ok = wh.hash == wr.hash
			case moduleStem:
				ok = wh.stem == wr.stem && wh.hash != wr.hash
			case moduleSynonym:
				ok = wh.hash != wr.hash && intersects(wh.synsets, wr.synsets)
			}
			if ok {
				a.addMatch(meteorMatch{start: j, length: 1, matchStart: i, matchLength: 1, module: stage})
			}
		}
	}
}

// intersects reports whether two sorted lists share an element.
func intersects(x, y []int32) bool {
	for len(x) > 0 && len(y) > 0 {
		switch {
		case x[0] == y[0]:
			return true
		case x[0] < y[0]:
			x = x[1:]
		default:
			y = y[1:]
		}
	}
	return false
}

func (a *aligner) addMatch(m meteorMatch) {
	a.candidates[m.start] = append(a.candidates[m.start], m)
	for k := 0; k < m.matchLength; k++ {
		a.cover1[m.matchStart+k]++
	}
	for k := 0; k < m.length; k++ {
		a.cover2[m.start+k]++
	}
}

// initialPath fixes the matches that are alone at their reference position and whose words no
// other match covers.
func (a *aligner) initialPath(n1, n2 int) *alignPath {
	a.poolUsed = 0
	p := a.newPath(n1, n2)
	for j, ms := range a.candidates {
		if len(ms) != 1 || !a.coveredOnce(ms[0]) {
			continue
		}
		p.matches[j] = 1
		p.setUsed(ms[0])
	}
	return p
}

func (a *aligner) coveredOnce(m meteorMatch) bool {
	for k := 0; k < m.length; k++ {
		if a.cover2[m.start+k] != 1 {
			return false
		}
	}
	for k := 0; k < m.matchLength; k++ {
		if a.cover1[m.matchStart+k] != 1 {
			return false
		}
	}
	return true
}

// search is METEOR's beam search (Aligner.resolve) from the initial path over n2 reference
// positions; it returns the best complete path.
func (a *aligner) search(start *alignPath, n2 int) *alignPath {
	a.next = append(a.next[:0], start)
	for current := 0; current <= n2; current++ {
		a.paths, a.next = a.next, a.paths[:0]
		a.paths = a.bestPaths(a.paths)
		for rank := 0; rank < a.beam && rank < len(a.paths); rank++ {
			a.advance(a.paths[rank], current, n2)
		}
		if len(a.next) == 0 {
			a.next = append(a.next, a.paths[0]) // every path died: carry the best one on
		}
	}
	return a.bestPaths(a.next)[0]
}

// bestPaths returns the first a.beam paths of the stable sort of paths by comparePaths, in
// order: only those are ever extended. Long lists are not sorted whole: the best paths are
// kept in a sorted buffer, a path going after the equal ones already there, so that the
// result is the stable sort's.
func (a *aligner) bestPaths(paths []*alignPath) []*alignPath {
	if len(paths) <= 2*a.beam {
		slices.SortStableFunc(paths, comparePaths)
		return paths
	}
	top := a.top[:0]
	for _, p := range paths {
		if len(top) == a.beam && comparePaths(p, top[len(top)-1]) >= 0 {
			continue
		}
		at, _ := slices.BinarySearchFunc(top, p, func(q, p *alignPath) int {
			if comparePaths(q, p) <= 0 {
				return -1 // q stays before p
			}
			return 1
		})
		if len(top) < a.beam {
			top = append(top, nil)
		}
		copy(top[at+1:], top[at:len(top)-1])
		top[at] = p
	}
	a.top = top
	return append(paths[:0], top...)
}

// advance extends one path at reference position current, appending the results to a.next.
func (a *aligner) advance(p *alignPath, current, n2 int) {
	switch {
	case current == n2: // complete: close the last chunk
		if p.lastMatchEnd != -1 {
			p.chunks++
		}
		a.next = append(a.next, p)
	case p.used2[current] && current < p.idx: // inside the path's last match
		a.next = append(a.next, p)
	case p.used2[current]: // a fixed match starts here
		if k := p.matches[p.idx]; k != 0 {
			m := a.candidates[p.idx][k-1]
			a.take(p, m)
			p.distance += abs(m.start - m.matchStart)
			a.next = append(a.next, p)
		}
	default:
		for k, m := range a.candidates[current] {
			if p.isUsed(m) {
				continue
			}
			np := a.newPath(len(p.used1), len(p.used2))
			np.copyFrom(p)
			np.setUsed(m)
			np.matches[current] = int32(k + 1)
			a.take(np, m)
			p.distance += abs(m.start - m.matchStart) // METEOR adds it to the path being extended
			a.next = append(a.next, np)
		}
		if p.lastMatchEnd != -1 { // skip this position
			p.chunks++
			p.lastMatchEnd = -1
		}
		p.idx++
		a.next = append(a.next, p)
	}
}

// take adds match m to path p's counts, as METEOR does: int weighted counts, chunk break when
// the match does not continue the last one in the hypothesis. (The caller adds the distance.)
func (a *aligner) take(p *alignPath, m meteorMatch) {
	w := a.searchWeights[m.module]
	p.matches1 = int(float64(p.matches1) + float64(m.matchLength)*w)
	p.matches2 = int(float64(p.matches2) + float64(m.length)*w)
	if p.lastMatchEnd != -1 && m.matchStart != p.lastMatchEnd {
		p.chunks++
	}
	p.idx = m.start + m.length
	p.lastMatchEnd = m.matchStart + m.matchLength
}

// comparePaths orders paths best first (Constants.PARTIAL_COMPARE_TOTAL).
func comparePaths(x, y *alignPath) int {
	if d := (y.matches1 + y.matches2) - (x.matches1 + x.matches2); d != 0 {
		return d
	}
	if d := x.chunks - y.chunks; d != 0 {
		return d
	}
	return x.distance - y.distance
}

func (p *alignPath) isUsed(m meteorMatch) bool {
	for k := 0; k < m.length; k++ {
		if p.used2[m.start+k] {
			return true
		}
	}
	for k := 0; k < m.matchLength; k++ {
		if p.used1[m.matchStart+k] {
			return true
		}
	}
	return false
}

func (p *alignPath) setUsed(m meteorMatch) {
	for k := 0; k < m.length; k++ {
		p.used2[m.start+k] = true
	}
	for k := 0; k < m.matchLength; k++ {
		p.used1[m.matchStart+k] = true
	}
}

func (p *alignPath) copyFrom(q *alignPath) {
	copy(p.matches, q.matches)
	copy(p.used1, q.used1)
	copy(p.used2, q.used2)
	p.matches1, p.matches2, p.chunks, p.idx, p.lastMatchEnd, p.distance =
		q.matches1, q.matches2, q.chunks, q.idx, q.lastMatchEnd, q.distance
}

// newPath returns an empty path from the aligner's pool (reset by initialPath).
func (a *aligner) newPath(n1, n2 int) *alignPath {
	if a.poolUsed == len(a.pool) {
		a.pool = append(a.pool, &alignPath{})
	}
	p := a.pool[a.poolUsed]
	a.poolUsed++
	p.matches = clearInt32s(p.matches, n2)
	p.used1 = clearBools(p.used1, n1)
	p.used2 = clearBools(p.used2, n2)
	p.matches1, p.matches2, p.chunks, p.idx, p.lastMatchEnd, p.distance = 0, 0, 0, 0, -1, 0
	return p
}

// stats counts the matched words of the best path by module and word kind, and its chunks.
func (a *aligner) stats(hyp, ref []int32, best *alignPath) meteorStats {
	s := meteorStats{testLen: len(hyp), refLen: len(ref)}
	for _, w := range hyp {
		if a.words[w].function {
			s.testFunc++
		}
	}
	for _, w := range ref {
		if a.words[w].function {
			s.refFunc++
		}
	}
	for j, k := range best.matches {
		if k == 0 {
			continue
		}
		m := a.candidates[j][k-1]
		for i := m.matchStart; i < m.matchStart+m.matchLength; i++ {
			s.countTest(m.module, a.words[hyp[i]].function)
		}
		for i := m.start; i < m.start+m.length; i++ {
			s.countRef(m.module, a.words[ref[i]].function)
		}
	}
	s.chunks = a.countChunks(best.matches)
	return s
}

// countChunks counts the runs of matches contiguous in both captions (Aligner.getCountAndChunks).
func (a *aligner) countChunks(matches []int32) int {
	chunks, lastMatchEnd := 0, -1
	for idx := 0; idx < len(matches); {
		if matches[idx] == 0 {
			if lastMatchEnd != -1 {
				chunks++
				lastMatchEnd = -1
			}
			idx++
			continue
		}
		m := a.candidates[idx][matches[idx]-1]
		if lastMatchEnd != -1 && m.matchStart != lastMatchEnd {
			chunks++
		}
		idx = m.start + m.length
		lastMatchEnd = m.matchStart + m.matchLength
	}
	if lastMatchEnd != -1 {
		chunks++
	}
	return chunks
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return append(s[:cap(s)], make([]T, n-cap(s))...)
	}
	return s[:n]
}

func clearInts(s []int, n int) []int       { s = resize(s, n); clear(s); return s }
func clearInt32s(s []int32, n int) []int32 { s = resize(s, n); clear(s); return s }
func clearBools(s []bool, n int) []bool    { s = resize(s, n); clear(s); return s }
