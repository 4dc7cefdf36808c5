package metrics

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// CIDEr-D, one implementation for the corpus score (CIDErD) and for the fixed-document-frequency
// reward of self-critical sequence training (CIDErDScorer).
//
// Sources: Vedantam, Zitnick and Parikh 2015, "CIDEr: Consensus-based Image Description
// Evaluation" (CVPR), §3 and the CIDEr-D variant of §4 (clipping, length penalty, no stemming);
// the coco-caption toolkit's pycocoevalcap/cider/cider_scorer.py ("CiderD" with σ = 6), whose
// order of operations is kept so that sums agree to the last bit; and ruotianluo's
// self-critical.pytorch (captioning/utils/rewards.py, cider/pyciderevalcap/ciderD/ciderD_scorer.py
// with df = "coco-train-idxs", scripts/prepro_ngrams.py), where the document frequencies are
// computed once from the training references, each caption carrying its end token.
//
// For a candidate c and the references R of its image, with g^n(s) the n-gram counts of s:
//
//	w(ω)      = ln N − ln max(1, df(ω))                     (df(ω): images whose references hold ω)
//	v^n(s)_ω  = g^n(s)_ω · w(ω)                            (tf-idf vector of the n-grams of s)
//	sim_n     = Σ_{ω ∈ c} min(v^n(c)_ω, v^n(r)_ω) · v^n(r)_ω / (‖v^n(c)‖·‖v^n(r)‖)
//	            (the division skipped when a norm is 0)
//	pen(c, r) = exp(−(ℓ(c) − ℓ(r))² / (2σ²)), σ = 6, ℓ(s) = number of bigrams of s
//	CIDEr-D   = 10 · (1/|R|) Σ_{r ∈ R} (1/4) Σ_{n=1..4} pen(c, r) · sim_n(c, r)
//
// coco-caption's length ℓ is the count of bigrams (its counts2vec adds term frequencies of
// n == 1 in 0-based n), not of words: one less for a non-empty caption, so ℓ(c) − ℓ(r) is the
// difference of word counts unless a caption is empty. In the corpus score N is the number of evaluated images and df is counted over
// their references; in the SCST reward (ruotianluo) N is the number of training images and df
// over the training references, with the end token appended to every caption.

const (
	ciderMaxN  = 4
	ciderSigma = 6.0
)

// DefaultEndToken is the token CIDErDScorer appends to captions when CIDErDOptions.AppendEnd
// is set and no EndToken is given. It stands for ruotianluo's end index 0 and never occurs in
// a caption tokenized by text.Tokenize.
const DefaultEndToken = "</s>"

// CIDErDOptions configure a CIDErDScorer.
type CIDErDOptions struct {
	// AppendEnd appends EndToken to every caption — the training references that give the
	// document frequencies, the references a candidate is scored against and the candidate —
	// so that the end of a caption counts as a token (a unigram in every image, weight 0, and
	// "last word, end" bigrams, trigrams and 4-grams that reward ending well), as ruotianluo's
	// SCST reward does.
	AppendEnd bool
	// EndToken is the appended token; "" means DefaultEndToken.
	EndToken string
}

// CIDErDScorer scores captions by CIDEr-D with document frequencies fixed when it is built,
// from a set of reference captions (the training references, for the SCST reward), instead of
// from the evaluated captions as the corpus CIDErD does. It is read-only once built and safe for
// concurrent use; so are the PreparedRefs it makes.
//
// Words are compared as given: map words outside the model's vocabulary to its unknown-word
// token before scoring (ruotianluo computes document frequencies on "UNK"-mapped references),
// so that training references, candidates and references agree.
type CIDErDScorer struct {
	appendEnd bool
	endToken  string
	endID     uint32
	vocab     map[string]uint32 // words of the df references → 1, 2, …
	nextID    uint32            // first id not in vocab
	// grams holds every n-gram of the df references as a chain from its (n−1)-gram prefix:
	// key prefixIndex<<32 | word id (prefixIndex 0 for unigrams), value index<<32 | df, the
	// indices 1, 2, … An n-gram whose prefix is absent is absent.
	grams   map[uint64]uint64
	nImages int
	refLen  float64   // ln N
	weights []float64 // by df, 0..N: ln N − ln max(1, df)
}

// ngramKey is an n-gram of word ids (ids ≥ 1), n = 1..4, unused places 0.
type ngramKey [ciderMaxN]uint32

func makeKey(ids []uint32) ngramKey {
	var k ngramKey
	copy(k[:], ids)
	return k
}

// NewCIDErDScorer computes the document frequencies of the n-grams (n = 1..4) of refs, the
// reference captions of each of N = len(refs) images (every entry counts as an image, as every
// image of ruotianluo's training split does): df(ω) is the number of images one of whose
// references holds ω, and each n-gram's weight is ln N − ln max(1, df). N-grams outside refs
// weigh ln N.
func NewCIDErDScorer(refs [][][]string, opts CIDErDOptions) *CIDErDScorer {
	s := &CIDErDScorer{
		appendEnd: opts.AppendEnd,
		endToken:  opts.EndToken,
		vocab:     map[string]uint32{},
		nextID:    1,
		grams:     map[uint64]uint64{},
		nImages:   len(refs),
		refLen:    math.Log(float64(len(refs))),
	}
	if s.endToken == "" {
		s.endToken = DefaultEndToken
	}
	if s.appendEnd {
		s.endID = s.intern(s.endToken)
	}
	df := []int32{0}   // by n-gram index
	last := []int32{0} // last image (1-based) that counted towards df
	var ids []uint32
	for img, caps := range refs {
		stamp := int32(img + 1)
		for _, ref := range caps {
			ids = ids[:0]
			for _, w := range ref {
				ids = append(ids, s.intern(w))
			}
			if s.appendEnd {
				ids = append(ids, s.endID)
			}
			for i := range ids {
				var prefix uint64
				for n := 1; n <= ciderMaxN && i+n <= len(ids); n++ {
					k := prefix<<32 | uint64(ids[i+n-1])
					idx, ok := s.grams[k]
					if !ok {
						idx = uint64(len(df))
						s.grams[k] = idx
						df = append(df, 0)
						last = append(last, 0)
					}
					if last[idx] != stamp {
						last[idx] = stamp
						df[idx]++
					}
					prefix = idx
				}
			}
		}
	}
	for k, idx := range s.grams {
		s.grams[k] = idx<<32 | uint64(df[idx])
	}
	s.weights = make([]float64, len(refs)+1)
	for d := range s.weights {
		s.weights[d] = s.refLen - math.Log(math.Max(1, float64(d)))
	}
	return s
}

func (s *CIDErDScorer) intern(w string) uint32 {
	id, ok := s.vocab[w]
	if !ok {
		id = s.nextID
		s.vocab[w] = id
		s.nextID++
	}
	return id
}

// lookup finds the n-gram that extends the n-gram of index prefix (0: none, for a unigram) by
// word: its index (0 when absent) and document frequency.
func (s *CIDErDScorer) lookup(prefix, word uint32) (index uint32, df int32) {
	v, ok := s.grams[uint64(prefix)<<32|uint64(word)]
	if !ok {
		return 0, 0
	}
	return uint32(v >> 32), int32(uint32(v))
}

// NumImages is N, the number of images whose references gave the document frequencies.
func (s *CIDErDScorer) NumImages() int { return s.nImages }

// DocFreq is the document frequency of an n-gram (1 ≤ n ≤ 4 words, the end token written as
// the options' EndToken): the number of images one of whose references holds it.
func (s *CIDErDScorer) DocFreq(ngram ...string) int {
	if len(ngram) < 1 || len(ngram) > ciderMaxN {
		return 0
	}
	var index uint32
	var df int32
	for i, w := range ngram {
		id, ok := s.vocab[w]
		if !ok || (i > 0 && index == 0) {
			return 0
		}
		index, df = s.lookup(index, id)
	}
	return int(df)
}

// PreparedRefs are one image's reference captions as CIDEr-D vectors under a CIDErDScorer's
// document frequencies, made once and reused for every candidate of the image (the K samples
// of SCST). Read-only: safe for concurrent use.
type PreparedRefs struct {
	nRefs  int
	extra  map[string]uint32    // words of the references outside the scorer's vocabulary
	local  map[ngramKey]int32   // every n-gram of the references → column
	index  []uint32             // per column: the n-gram's index in the scorer (0: absent)
	weight []float64            // per column: ln N − ln max(1, df)
	vals   []float64            // nRefs × len(weight): tf·weight of reference r, 0 where absent
	norm   [][ciderMaxN]float64 // per reference and n: ‖v^n(r)‖
	length []int                // per reference: its number of bigrams
}

// NumRefs is the number of reference captions.
func (p *PreparedRefs) NumRefs() int { return p.nRefs }

// Prepare makes the CIDEr-D vectors of one image's references (with the end token when
// AppendEnd is set). It panics when refs is empty: CIDEr-D divides by the number of references.
func (s *CIDErDScorer) Prepare(refs [][]string) *PreparedRefs {
	if len(refs) == 0 {
		panic("metrics: CIDEr-D of a candidate without reference captions")
	}
	return s.prepare(refs, new(ciderScratch))
}

func (s *CIDErDScorer) prepare(refs [][]string, sc *ciderScratch) *PreparedRefs {
	size := 0
	for _, ref := range refs {
		size += ciderMaxN * (len(ref) + 1)
	}
	p := &PreparedRefs{
		nRefs:  len(refs),
		local:  make(map[ngramKey]int32, size),
		index:  make([]uint32, 0, size),
		weight: make([]float64, 0, size),
		norm:   make([][ciderMaxN]float64, len(refs)),
		length: make([]int, len(refs)),
	}
	// Columns and their weights first, then each reference's row: the rows' sums of squares
	// run over each reference's own n-grams in coco-caption's insertion order.
	all := sc.refGrams[:0] // every reference's n-grams, one after the other
	starts := sc.refStarts[:0]
	for _, ref := range refs {
		ids := sc.ids[:0]
		for _, w := range ref {
			id, ok := s.vocab[w]
			if !ok {
				if id, ok = p.extra[w]; !ok {
					if p.extra == nil {
						p.extra = map[string]uint32{}
					}
					id = s.nextID + uint32(len(p.extra))
					p.extra[w] = id
				}
			}
			ids = append(ids, id)
		}
		if s.appendEnd {
			ids = append(ids, s.endID)
		}
		sc.ids = ids
		sc.collect(ids)
		for n := 0; n < ciderMaxN; n++ {
			for j := sc.start[n]; j < sc.start[n+1]; j++ {
				g := &sc.grams[j]
				col, ok := p.local[g.key]
				if ok {
					g.index = p.index[col]
				} else {
					var df int32
					if prefix := sc.prefix(n, g.pos); n == 0 || prefix != 0 {
						g.index, df = s.lookup(prefix, ids[int(g.pos)+n])
					}
					col = int32(len(p.weight))
					p.local[g.key] = col
					p.index = append(p.index, g.index)
					p.weight = append(p.weight, s.weights[df])
				}
				g.col = col
			}
		}
		st := sc.start
		for n := range st {
			st[n] += len(all)
		}
		starts = append(starts, st)
		all = append(all, sc.grams...)
	}
	sc.refGrams, sc.refStarts = all, starts
	nCols := len(p.weight)
	p.vals = make([]float64, len(refs)*nCols)
	for r := range refs {
		row := p.vals[r*nCols : (r+1)*nCols]
		for n := 0; n < ciderMaxN; n++ {
			var sq float64
			for _, g := range all[starts[r][n]:starts[r][n+1]] {
				x := float64(g.tf) * p.weight[g.col]
				row[g.col] = x
				sq += x * x
				if n == 1 {
					p.length[r] += int(g.tf)
				}
			}
			p.norm[r][n] = math.Sqrt(sq)
		}
	}
	return p
}

// ciderGram is one distinct n-gram of a caption.
type ciderGram struct {
	key   ngramKey
	tf    int32
	pos   int32   // position of its first occurrence
	index uint32  // index in the scorer, 0 when no df reference holds it
	col   int32   // column in PreparedRefs, −1 when no reference holds it
	x     float64 // tf · weight
}

// ciderScratch holds one caption's n-grams; one per goroutine.
type ciderScratch struct {
	ids   []uint32
	unk   []string // the candidate's words known neither to the scorer nor to the references
	grams []ciderGram
	start [ciderMaxN + 1]int // grams[start[n]:start[n+1]] are the (n+1)-grams
	at    []int32            // at[n·len(ids) + i]: the (n+1)-gram at position i, an index into grams
	index map[ngramKey]int32 // for long captions

	refGrams  []ciderGram          // prepare: the n-grams of all references
	refStarts [][ciderMaxN + 1]int // prepare: start of each reference's n-grams by n
}

// prefix is the scorer index of the n-gram (0-based n ≥ 1) at position pos without its last
// word, once the shorter n-grams are resolved.
func (sc *ciderScratch) prefix(n int, pos int32) uint32 {
	if n == 0 {
		return 0
	}
	return sc.grams[sc.at[(n-1)*len(sc.ids)+int(pos)]].index
}

// collect sets grams to the distinct n-grams of ids, n = 1..4, each n in order of first
// occurrence (coco-caption's precook order), with their counts.
func (sc *ciderScratch) collect(ids []uint32) {
	sc.grams = sc.grams[:0]
	if cap(sc.at) < ciderMaxN*len(ids) {
		sc.at = make([]int32, ciderMaxN*len(ids))
	}
	at := sc.at[:ciderMaxN*len(ids)]
	long := len(ids) > 48
	if long {
		if sc.index == nil {
			sc.index = map[ngramKey]int32{}
		}
		clear(sc.index)
	}
	for n := 1; n <= ciderMaxN; n++ {
		first := len(sc.grams)
		sc.start[n-1] = first
	next:
		for i := 0; i+n <= len(ids); i++ {
			k := makeKey(ids[i : i+n])
			if long {
				if j, ok := sc.index[k]; ok {
					sc.grams[j].tf++
					at[(n-1)*len(ids)+i] = j
					continue
				}
				sc.index[k] = int32(len(sc.grams))
			} else {
				for j := first; j < len(sc.grams); j++ {
					if sc.grams[j].key == k {
						sc.grams[j].tf++
						at[(n-1)*len(ids)+i] = int32(j)
						continue next
					}
				}
			}
			at[(n-1)*len(ids)+i] = int32(len(sc.grams))
			sc.grams = append(sc.grams, ciderGram{key: k, tf: 1, pos: int32(i)})
		}
	}
	sc.start[ciderMaxN] = len(sc.grams)
}

// Score is the CIDEr-D of one candidate against its image's references (Prepare then
// ScoreWith).
func (s *CIDErDScorer) Score(candidate []string, refs [][]string) float64 {
	return s.ScoreWith(s.Prepare(refs), candidate)
}

// ScoreWith is the CIDEr-D of a candidate against prepared references, the end token appended
// to the candidate when AppendEnd is set.
func (s *CIDErDScorer) ScoreWith(p *PreparedRefs, candidate []string) float64 {
	sc := scratchPool.Get().(*ciderScratch)
	defer scratchPool.Put(sc)
	return s.score(p, candidate, true, sc)
}

// ScoreUnfinishedWith is ScoreWith for a sampled caption that reached the length limit without
// ending: no end token is appended to it (ruotianluo's array_to_str keeps the end index 0 only
// when the sample emitted it). Without AppendEnd it is ScoreWith.
func (s *CIDErDScorer) ScoreUnfinishedWith(p *PreparedRefs, candidate []string) float64 {
	sc := scratchPool.Get().(*ciderScratch)
	defer scratchPool.Put(sc)
	return s.score(p, candidate, false, sc)
}

var scratchPool = sync.Pool{New: func() any { return new(ciderScratch) }}

func (s *CIDErDScorer) score(p *PreparedRefs, candidate []string, ended bool, sc *ciderScratch) float64 {
	ids := sc.ids[:0]
	sc.unk = sc.unk[:0]
	for _, w := range candidate {
		id, ok := s.vocab[w]
		if !ok {
			if id, ok = p.extra[w]; !ok {
				// Matches no reference n-gram; distinct such words stay distinct.
				base := s.nextID + uint32(len(p.extra))
				j := 0
				for j < len(sc.unk) && sc.unk[j] != w {
					j++
				}
				if j == len(sc.unk) {
					sc.unk = append(sc.unk, w)
				}
				id = base + uint32(j)
			}
		}
		ids = append(ids, id)
	}
	if ended && s.appendEnd {
		ids = append(ids, s.endID)
	}
	sc.ids = ids
	sc.collect(ids)

	var norm [ciderMaxN]float64
	length := 0
	for n := 0; n < ciderMaxN; n++ {
		var sq float64
		for i := sc.start[n]; i < sc.start[n+1]; i++ {
			g := &sc.grams[i]
			var w float64
			if col, ok := p.local[g.key]; ok {
				g.col, g.index, w = col, p.index[col], p.weight[col]
			} else {
				var df int32
				g.col, g.index = -1, 0
				if prefix := sc.prefix(n, g.pos); n == 0 || prefix != 0 {
					g.index, df = s.lookup(prefix, ids[int(g.pos)+n])
				}
				w = s.weights[df]
			}
			g.x = float64(g.tf) * w
			sq += g.x * g.x
			if n == 1 {
				length += int(g.tf)
			}
		}
		norm[n] = math.Sqrt(sq)
	}

	nCols := len(p.weight)
	var score [ciderMaxN]float64
	for r := 0; r < p.nRefs; r++ {
		row := p.vals[r*nCols : (r+1)*nCols]
		delta := float64(length - p.length[r])
		pen := math.Exp(-(delta * delta) / (2 * ciderSigma * ciderSigma))
		for n := 0; n < ciderMaxN; n++ {
			var val float64
			for _, g := range sc.grams[sc.start[n]:sc.start[n+1]] {
				// An n-gram no reference holds adds min(x, 0)·0 = 0 (x ≥ 0): skipped.
				if g.col >= 0 {
					vr := row[g.col]
					val += math.Min(g.x, vr) * vr
				}
			}
			if norm[n] != 0 && p.norm[r][n] != 0 {
				val /= norm[n] * p.norm[r][n]
			}
			score[n] += val * pen
		}
	}
	var mean float64
	for _, v := range score {
		mean += v
	}
	mean /= ciderMaxN
	return mean / float64(p.nRefs) * 10
}

// ScoreBatch scores many candidates, in parallel over GOMAXPROCS goroutines, preparing each
// image's references once. Either refs has one entry per candidate — candidate i against
// refs[i], and entries that are the same slice (same first element and length, as when one
// image's references are repeated for its K samples in any order) prepared once — or
// len(cands) is a multiple K of len(refs) and candidate i is scored against refs[i/K]
// (image-major: the K samples of image 0, then of image 1, …, ruotianluo's layout). Every
// candidate counts as finished (see ScoreUnfinishedWith and ScoreBatchPrepared otherwise).
// It panics on other lengths and on an image without references.
func (s *CIDErDScorer) ScoreBatch(cands [][]string, refs [][][]string) []float64 {
	if len(cands) == 0 {
		return nil
	}
	group := make([]int, len(cands)) // candidate → index into unique
	var unique [][][]string
	switch {
	case len(refs) == len(cands):
		type sliceID struct {
			first *[]string
			n     int
		}
		seen := map[sliceID]int{}
		for i, r := range refs {
			if len(r) == 0 {
				panic(fmt.Sprintf("metrics: CIDEr-D of candidate %d without reference captions", i))
			}
			id := sliceID{&r[0], len(r)}
			u, ok := seen[id]
			if !ok {
				u = len(unique)
				seen[id] = u
				unique = append(unique, r)
			}
			group[i] = u
		}
	case len(refs) > 0 && len(cands)%len(refs) == 0:
		k := len(cands) / len(refs)
		for i, r := range refs {
			if len(r) == 0 {
				panic(fmt.Sprintf("metrics: CIDEr-D of image %d without reference captions", i))
			}
		}
		for i := range group {
			group[i] = i / k
		}
		unique = refs
	default:
		panic(fmt.Sprintf("metrics: ScoreBatch of %d candidates against %d reference sets: want one per candidate or per K candidates", len(cands), len(refs)))
	}
	prepared := make([]*PreparedRefs, len(unique))
	parallelFor(len(unique), 8, func(i int, sc *ciderScratch) { prepared[i] = s.prepare(unique[i], sc) })
	out := make([]float64, len(cands))
	parallelFor(len(cands), 32, func(i int, sc *ciderScratch) { out[i] = s.score(prepared[group[i]], cands[i], true, sc) })
	return out
}

// ScoreBatchPrepared scores candidate i against refs[i] (or refs[i/K] when len(cands) is K
// times len(refs)), in parallel. unfinished, when not nil, marks the candidates that reached
// the length limit without ending (no end token appended; see ScoreUnfinishedWith).
func (s *CIDErDScorer) ScoreBatchPrepared(cands [][]string, refs []*PreparedRefs, unfinished []bool) []float64 {
	if len(cands) == 0 {
		return nil
	}
	if len(refs) == 0 || len(cands)%len(refs) != 0 || (unfinished != nil && len(unfinished) != len(cands)) {
		panic(fmt.Sprintf("metrics: ScoreBatchPrepared of %d candidates against %d prepared references (%d unfinished flags)", len(cands), len(refs), len(unfinished)))
	}
	k := len(cands) / len(refs)
	out := make([]float64, len(cands))
	parallelFor(len(cands), 32, func(i int, sc *ciderScratch) {
		out[i] = s.score(refs[i/k], cands[i], unfinished == nil || !unfinished[i], sc)
	})
	return out
}

// parallelFor runs fn(i) for i in [0, n) over up to GOMAXPROCS goroutines, each with its own
// scratch, at least minPer items per goroutine.
func parallelFor(n, minPer int, fn func(i int, sc *ciderScratch)) {
	workers := min(runtime.GOMAXPROCS(0), (n+minPer-1)/minPer)
	if workers <= 1 {
		sc := new(ciderScratch)
		for i := 0; i < n; i++ {
			fn(i, sc)
		}
		return
	}
	const chunk = 8
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			sc := new(ciderScratch)
			for {
				lo := int(next.Add(chunk)) - chunk
				if lo >= n {
					return
				}
				for i := lo; i < min(lo+chunk, n); i++ {
					fn(i, sc)
				}
			}
		})
	}
	wg.Wait()
}
