package metrics

import "math"

// meteorStats are METEOR's sufficient statistics of an alignment, or their sum over a corpus
// (scorer.MeteorStats, word-based): lengths, function words, matched words per module and word
// kind, and chunks.
type meteorStats struct {
	testLen, refLen   int
	testFunc, refFunc int // function words
	testContent       [maxModules]int
	refContent        [maxModules]int
	testFunction      [maxModules]int
	refFunction       [maxModules]int
	chunks            int
}

func (s *meteorStats) countTest(module int, function bool) {
	if function {
		s.testFunction[module]++
	} else {
		s.testContent[module]++
	}
}

func (s *meteorStats) countRef(module int, function bool) {
	if function {
		s.refFunction[module]++
	} else {
		s.refContent[module]++
	}
}

// testMatches and refMatches are the matched words of each side.
func (s *meteorStats) testMatches() int { return sum(s.testContent[:]) + sum(s.testFunction[:]) }
func (s *meteorStats) refMatches() int  { return sum(s.refContent[:]) + sum(s.refFunction[:]) }

func sum(xs []int) int {
	t := 0
	for _, x := range xs {
		t += x
	}
	return t
}

// perfect reports an alignment of every word in one chunk, which has no fragmentation.
func (s *meteorStats) perfect() bool {
	return s.testMatches() == s.testLen && s.refMatches() == s.refLen && s.chunks == 1
}

// add sums o into s as MeteorStats.addStats does: the chunks of a perfect alignment are not
// counted.
func (s *meteorStats) add(o meteorStats) {
	s.testLen += o.testLen
	s.refLen += o.refLen
	s.testFunc += o.testFunc
	s.refFunc += o.refFunc
	for i := range s.testContent {
		s.testContent[i] += o.testContent[i]
		s.refContent[i] += o.refContent[i]
		s.testFunction[i] += o.testFunction[i]
		s.refFunction[i] += o.refFunction[i]
	}
	if !o.perfect() {
		s.chunks += o.chunks
	}
}

// meteorParams are the parameters of METEOR's score: task "rank" for English, and the module
// weights of the modules in use.
type meteorParams struct {
	alpha, beta, gamma, delta float64
	weights                   []float64
}

// rankParams are METEOR 1.5's English "rank" parameters for the first n modules.
func rankParams(n int) meteorParams {
	return meteorParams{alpha: 0.85, beta: 0.20, gamma: 0.60, delta: 0.75, weights: []float64{1.0, 0.6, 0.8, 0.6}[:n]}
}

// score is MeteorScorer.computeMetrics, operation for operation:
//
//	P = Σ_m w_m·(δ·content_m + (1−δ)·function_m) / (δ·content words + (1−δ)·function words) of the hypothesis,
//	R likewise for the reference,
//	Fmean = 1 / ((1−α)/P + α/R),
//	penalty = γ·(chunks / ((matched hypothesis words + matched reference words)/2))^β (0 for a perfect alignment),
//	score = max(0, Fmean·(1 − penalty)), and 0 where that is NaN (an empty caption).
//
// Products are rounded before they are added (float64 conversions), as Java does.
func (p *meteorParams) score(s meteorStats) float64 {
	testWeightedLen := float64(p.delta*float64(s.testLen-s.testFunc)) + float64((1.0-p.delta)*float64(s.testFunc))
	refWeightedLen := float64(p.delta*float64(s.refLen-s.refFunc)) + float64((1.0-p.delta)*float64(s.refFunc))
	var testWeighted, refWeighted float64
	for i, w := range p.weights {
		testWeighted += float64(float64(s.testContent[i]) * w * p.delta)
	}
	for i, w := range p.weights {
		refWeighted += float64(float64(s.refContent[i]) * w * p.delta)
	}
	for i, w := range p.weights {
		testWeighted += float64(float64(s.testFunction[i]) * w * (1.0 - p.delta))
	}
	for i, w := range p.weights {
		refWeighted += float64(float64(s.refFunction[i]) * w * (1.0 - p.delta))
	}
	precision := testWeighted / testWeightedLen
	recall := refWeighted / refWeightedLen
	fMean := 1.0 / (((1.0 - p.alpha) / precision) + (p.alpha / recall))
	frag := 0.0
	if !s.perfect() {
		frag = float64(s.chunks) / (float64(s.testMatches()+s.refMatches()) / 2)
	}
	penalty := p.gamma * math.Pow(frag, p.beta)
	score := fMean * (1.0 - penalty)
	if math.IsNaN(score) {
		return 0
	}
	return math.Max(score, 0)
}
