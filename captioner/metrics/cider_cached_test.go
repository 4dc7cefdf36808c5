package metrics

import (
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

func capsOf(ss ...string) [][]string {
	out := make([][]string, len(ss))
	for i, s := range ss {
		out[i] = toks(s)
	}
	return out
}

// Training references of three images, shared by the hand-computed tests.
//
//	A: "a b", "b c"    B: "a b"    C: "c"
var handCorpus = [][][]string{capsOf("a b", "b c"), capsOf("a b"), capsOf("c")}

func TestCIDErDScorerHandComputed(t *testing.T) {
	s := NewCIDErDScorer(handCorpus, CIDErDOptions{})
	// N = 3. Document frequencies (images whose references hold the n-gram):
	//   a: A,B → 2   b: A,B → 2   c: A,C → 2   "a b": A,B → 2   "b c": A → 1
	// Weights ln N − ln max(1, df): df 2 → u = ln 3 − ln 2; df 1 or unseen → v = ln 3.
	if s.NumImages() != 3 {
		t.Errorf("NumImages = %d, want 3", s.NumImages())
	}
	for _, c := range []struct {
		gram []string
		df   int
	}{{toks("a"), 2}, {toks("b"), 2}, {toks("c"), 2}, {toks("a b"), 2}, {toks("b c"), 1}, {toks("a b c"), 0}, {toks("c a"), 0}, {toks("zz"), 0}} {
		if got := s.DocFreq(c.gram...); got != c.df {
			t.Errorf("df(%q) = %d, want %d", c.gram, got, c.df)
		}
	}
	u, v := math.Log(3)-math.Log(2), math.Log(3)
	// Candidate "a b c" against A's references.
	//   cand: unigrams a,b,c = u,u,u (‖·‖ = √3·u); bigrams "a b" = u, "b c" = v (‖·‖ = √(u²+v²));
	//         trigram "a b c" = v (unseen); 2 bigrams.
	//   ref1 "a b": unigrams u,u (√2·u); bigram "a b" = u; no trigram (norm 0); 1 bigram.
	//   ref2 "b c": unigrams u,u (√2·u); bigram "b c" = v; 1 bigram.
	//   δ = 1 for both: pen = exp(−1/72).
	//   ref1: n=1 (u²+u²)/(√3u·√2u) = 2/√6; n=2 u·u/(√(u²+v²)·u) = u/√(u²+v²); n=3,4: 0.
	//   ref2: n=1 2/√6;                     n=2 v·v/(√(u²+v²)·v) = v/√(u²+v²); n=3,4: 0.
	//   CIDEr-D = 10 · pen · (4/√6 + (u+v)/√(u²+v²)) / 4 / 2 ≈ 3.5964.
	pen := math.Exp(-1.0 / 72)
	want := 10 * pen * (4/math.Sqrt(6) + (u+v)/math.Sqrt(u*u+v*v)) / 4 / 2
	near(t, "a b c vs A", s.Score(toks("a b c"), handCorpus[0]), want, 1e-12)
	// Candidate "c" against C's reference "c": unigram c = u on both sides, cos 1; nothing else;
	// no bigrams on either side, δ = 0. CIDEr-D = 10 · 1/4 = 2.5.
	near(t, "c vs C", s.Score(toks("c"), handCorpus[2]), 2.5, 1e-12)
	// Candidate "b a" against B's reference "a b": unigrams cos 1; bigram "b a" (unseen, v)
	// against "a b": 0; δ = 0. CIDEr-D = 2.5.
	near(t, "b a vs B", s.Score(toks("b a"), handCorpus[1]), 2.5, 1e-12)
	// The empty candidate has no n-gram: 0.
	near(t, "empty", s.Score(nil, handCorpus[0]), 0, 0)
}

func TestCIDErDScorerHandComputedWithEnd(t *testing.T) {
	s := NewCIDErDScorer(handCorpus, CIDErDOptions{AppendEnd: true})
	// With E = </s> appended: A: "a b E", "b c E"; B: "a b E"; C: "c E". N = 3.
	//   a, b, c: 2; E: 3 (every image, weight 0); "a b" 2, "b E" 2, "b c" 1, "c E" 2;
	//   "a b E" 2, "b c E" 1.
	for _, c := range []struct {
		gram string
		df   int
	}{{"a", 2}, {"</s>", 3}, {"a b", 2}, {"b </s>", 2}, {"b c", 1}, {"c </s>", 2}, {"a b </s>", 2}, {"b c </s>", 1}, {"a b c </s>", 0}} {
		if got := s.DocFreq(toks(c.gram)...); got != c.df {
			t.Errorf("df(%q) = %d, want %d", c.gram, got, c.df)
		}
	}
	u, v := math.Log(3)-math.Log(2), math.Log(3)
	// Candidate "a b c E" against A:
	//   cand: unigrams a,b,c = u, E = 0 (√3·u); bigrams "a b" u, "b c" v, "c E" u (√(2u²+v²));
	//         trigrams "a b c" v (unseen), "b c E" v (√2·v); 4-gram "a b c E" v (v); 3 bigrams.
	//   ref1 "a b E": unigrams u,u,0 (√2·u); bigrams "a b" u, "b E" u (√2·u); trigram u; 2 bigrams.
	//   ref2 "b c E": unigrams u,u,0 (√2·u); bigrams "b c" v, "c E" u (√(u²+v²)); trigram "b c E" v; 2.
	//   δ = 1: pen = exp(−1/72).
	//   ref1: n=1 2/√6; n=2 u²/(√(2u²+v²)·√2u) = u/(√2·√(2u²+v²)); n=3 0 (no common trigram);
	//         n=4 0 (ref has none).
	//   ref2: n=1 2/√6; n=2 (v²+u²)/(√(2u²+v²)·√(u²+v²)) = √(u²+v²)/√(2u²+v²); n=3 v²/(√2v·v) = 1/√2.
	d := math.Sqrt(2*u*u + v*v)
	want := 10 * math.Exp(-1.0/72) * (4/math.Sqrt(6) + u/(math.Sqrt2*d) + math.Sqrt(u*u+v*v)/d + 1/math.Sqrt2) / 4 / 2
	near(t, "a b c </s> vs A", s.Score(toks("a b c"), handCorpus[0]), want, 1e-12)
	// "c E" against C's "c E": unigrams c = u, E = 0: cos 1; bigram "c E" u: cos 1; δ = 0. 10·2/4 = 5
	// (2.5 without the end token).
	near(t, "c </s> vs C", s.Score(toks("c"), handCorpus[2]), 5, 1e-12)
}

func TestCIDErDScorerEndTokenAddsNgrams(t *testing.T) {
	corpus := [][][]string{capsOf("p q r"), capsOf("s t"), capsOf("u")}
	plain := NewCIDErDScorer(corpus, CIDErDOptions{})
	withEnd := NewCIDErDScorer(corpus, CIDErDOptions{AppendEnd: true})
	// Every word is in one image: weight v = ln 3. A candidate equal to the only reference has
	// cosine 1 for every n that has n-grams and δ = 0. Without the end token "p q r" has no
	// 4-gram: 10·3/4 = 7.5. With it, "p q r E" has one (E weighs 0 but the 4-gram "p q r E" is
	// in one image): 10·4/4 = 10, the maximum (Σ min(x,y)·y ≤ x·y ≤ ‖x‖‖y‖ for every n).
	near(t, "identical, no end", plain.Score(toks("p q r"), corpus[0]), 7.5, 1e-12)
	near(t, "identical, end", withEnd.Score(toks("p q r"), corpus[0]), 10, 1e-12)
	// "s t": 2 orders without the end token (5), 3 with it (7.5).
	near(t, "s t, no end", plain.Score(toks("s t"), corpus[1]), 5, 1e-12)
	near(t, "s t, end", withEnd.Score(toks("s t"), corpus[1]), 7.5, 1e-12)
	if got := withEnd.DocFreq("r", "</s>"); got != 1 {
		t.Errorf("df(r </s>) = %d, want 1", got)
	}
	if got, want := withEnd.DocFreq("</s>"), 3; got != want {
		t.Errorf("df(</s>) = %d, want %d (every image)", got, want)
	}
	if plain.DocFreq("</s>") != 0 {
		t.Errorf("df(</s>) without AppendEnd should be 0")
	}
	// Every other candidate scores below the identical one.
	p := withEnd.Prepare(corpus[0])
	for _, c := range []string{"p q", "p q r r", "q r", "p q r s", "r q p", ""} {
		if got := withEnd.ScoreWith(p, toks(c)); !(got < 10) {
			t.Errorf("%q scores %v, not below the identical caption's 10", c, got)
		}
	}
	// A sample cut at the length limit gets no end token (ruotianluo keeps index 0 only when
	// emitted): "p q r" against "p q r E": unigrams cos 1 (E weighs 0); bigrams {pq, qr} vs
	// {pq, qr, rE}: 2v²/(√2v·√3v) = 2/√6; trigrams {pqr} vs {pqr, qrE}: v²/(v·√2v) = 1/√2;
	// no 4-gram in the candidate; 2 bigrams against 3: δ = −1.
	want := 10 * math.Exp(-1.0/72) * (1 + 2/math.Sqrt(6) + 1/math.Sqrt2) / 4
	near(t, "unfinished", withEnd.ScoreUnfinishedWith(p, toks("p q r")), want, 1e-12)
	got := withEnd.ScoreBatchPrepared([][]string{toks("p q r"), toks("p q r")}, []*PreparedRefs{p}, []bool{false, true})
	near(t, "batch finished", got[0], 10, 1e-12)
	near(t, "batch unfinished", got[1], want, 1e-12)
	// A custom end token.
	custom := NewCIDErDScorer(corpus, CIDErDOptions{AppendEnd: true, EndToken: "<end>"})
	if custom.DocFreq("<end>") != 3 || custom.DocFreq("</s>") != 0 {
		t.Errorf("EndToken <end>: df(<end>) = %d, df(</s>) = %d", custom.DocFreq("<end>"), custom.DocFreq("</s>"))
	}
	near(t, "custom end", custom.Score(toks("p q r"), corpus[0]), 10, 1e-12)
}

func TestCIDErDScorerWordsOutsideTheDocumentFrequencies(t *testing.T) {
	s := NewCIDErDScorer(handCorpus, CIDErDOptions{})
	v := math.Log(3) // the weight of every n-gram below (df 0)
	_ = v
	// References "x y" (words no training image has): every n-gram weighs ln 3 (df 0). The
	// identical candidate: unigram and bigram cosines 1, δ = 0: 10·2/4 = 5.
	near(t, "unseen reference words", s.Score(toks("x y"), capsOf("x y")), 5, 1e-12)
	// "x z w" against "x y": z and w are in no reference and must stay two words. Unigrams:
	// cand {x, z, w} (√3·v), ref {x, y} (√2·v), common x: v²/(√3v·√2v) = 1/√6; bigrams none in
	// common; the candidate's trigram has no reference trigram (norm 0): 0. δ = 2 − 1 = 1.
	// (With z and w merged into one word the unigram term would be 1/√10.)
	want := 10 * math.Exp(-1.0/72) * (1 / math.Sqrt(6)) / 4
	near(t, "distinct unknown words", s.Score(toks("x z w"), capsOf("x y")), want, 1e-12)
}

// refCIDErDPerImage is the CIDEr-D of every image as metrics.go computed it before CIDErDScorer
// (commit 3e6281c), kept verbatim apart from returning the per-image scores: the identity test
// checks the shared implementation against it bit for bit.
func refCIDErDPerImage(examples []Example) []float64 {
	const maxN, sigma = 4, 6.0
	type ciderVec struct {
		keys   [4][]string
		vec    [4]map[string]float64
		norm   [4]float64
		length int
	}
	orderedNgrams := func(tokens []string, maxN int) ([]string, map[string]int) {
		counts := map[string]int{}
		var keys []string
		for n := 1; n <= maxN; n++ {
			for i := 0; i+n <= len(tokens); i++ {
				k := strings.Join(tokens[i:i+n], " ")
				if counts[k] == 0 {
					keys = append(keys, k)
				}
				counts[k]++
			}
		}
		return keys, counts
	}
	df := map[string]int{}
	for _, e := range examples {
		seen := map[string]bool{}
		for _, ref := range e.References {
			for k := range ngramCounts(ref, maxN) {
				seen[k] = true
			}
		}
		for k := range seen {
			df[k]++
		}
	}
	refLen := math.Log(float64(len(examples)))
	toVec := func(tokens []string) ciderVec {
		var v ciderVec
		for n := range v.vec {
			v.vec[n] = map[string]float64{}
		}
		keys, counts := orderedNgrams(tokens, maxN)
		for _, k := range keys {
			tf := counts[k]
			n := ngramOrder(k) - 1
			x := float64(tf) * (refLen - math.Log(math.Max(1, float64(df[k]))))
			v.keys[n] = append(v.keys[n], k)
			v.vec[n][k] = x
			v.norm[n] += x * x
			if n == 1 {
				v.length += tf
			}
		}
		for n := range v.norm {
			v.norm[n] = math.Sqrt(v.norm[n])
		}
		return v
	}
	var out []float64
	for _, e := range examples {
		c := toVec(e.Candidate)
		var score [maxN]float64
		for _, ref := range e.References {
			r := toVec(ref)
			delta := float64(c.length - r.length)
			for n := 0; n < maxN; n++ {
				var val float64
				for _, k := range c.keys[n] {
					vc, vr := c.vec[n][k], r.vec[n][k]
					val += math.Min(vc, vr) * vr
				}
				if c.norm[n] != 0 && r.norm[n] != 0 {
					val /= c.norm[n] * r.norm[n]
				}
				score[n] += val * math.Exp(-(delta*delta)/(2*sigma*sigma))
			}
		}
		var mean float64
		for _, s := range score {
			mean += s
		}
		mean /= maxN
		out = append(out, mean/float64(len(e.References))*10)
	}
	return out
}

// randomCorpus draws nImages examples over a small vocabulary (so n-grams repeat within and
// across captions); candidates also use words no reference has, some captions are empty and
// some are long (the scorer's map path above 48 tokens).
func randomCorpus(rng *rand.Rand, nImages int) []Example {
	words := strings.Fields("a b c d e f g h i j")
	sentence := func(vocab int) []string {
		var n int
		switch rng.IntN(20) {
		case 0:
			n = 0
		case 1:
			n = 50 + rng.IntN(30)
		default:
			n = 1 + rng.IntN(12)
		}
		s := make([]string, n)
		for i := range s {
			if w := rng.IntN(vocab); w < len(words) {
				s[i] = words[w]
			} else {
				s[i] = "unk" + string(rune('A'+w-len(words)))
			}
		}
		return s
	}
	out := make([]Example, nImages)
	for i := range out {
		refs := make([][]string, 1+rng.IntN(5))
		for j := range refs {
			refs[j] = sentence(len(words))
		}
		out[i] = Example{Candidate: sentence(len(words) + 3), References: refs}
	}
	return out
}

func TestCIDErDScorerIsTheCorpusCIDErDWithTheEvaluatedDocumentFrequencies(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 2))
	for trial := 0; trial < 40; trial++ {
		corpus := randomCorpus(rng, 1+rng.IntN(30))
		want := refCIDErDPerImage(corpus)
		refs := make([][][]string, len(corpus))
		for i, e := range corpus {
			refs[i] = e.References
		}
		s := NewCIDErDScorer(refs, CIDErDOptions{})
		var total float64
		cands := make([][]string, len(corpus))
		for i, e := range corpus {
			got := s.Score(e.Candidate, e.References)
			if got != want[i] {
				t.Fatalf("trial %d image %d: scorer %v, coco-caption order %v (Δ %g)", trial, i, got, want[i], got-want[i])
			}
			total += want[i]
			cands[i] = e.Candidate
		}
		for i, got := range s.ScoreBatch(cands, refs) {
			if got != want[i] {
				t.Fatalf("trial %d image %d: ScoreBatch %v, want %v", trial, i, got, want[i])
			}
		}
		if got, want := CIDErD(corpus), total/float64(len(corpus)); got != want {
			t.Fatalf("trial %d: CIDErD %v, before the shared implementation %v", trial, got, want)
		}
	}
}

// scstBatch is a synthetic SCST step: df from nTrain training images, nImages images of the
// batch (taken from the training set) with k samples each, image-major.
func scstBatch(seed uint64, nTrain, nImages, k int) (train [][][]string, cands [][]string, refs [][][]string) {
	rng := rand.New(rand.NewPCG(seed, 1))
	vocab := make([]string, 40)
	for i := range vocab {
		vocab[i] = "w" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	caption := func() []string {
		s := make([]string, 8+rng.IntN(5))
		for i := range s {
			s[i] = vocab[rng.IntN(len(vocab))]
		}
		return s
	}
	train = make([][][]string, nTrain)
	for i := range train {
		train[i] = make([][]string, 5)
		for j := range train[i] {
			train[i][j] = caption()
		}
	}
	refs = train[:nImages]
	for i := 0; i < nImages*k; i++ {
		c := caption()
		if rng.IntN(3) == 0 { // some samples copy a reference in part
			r := refs[i/k][rng.IntN(5)]
			c = append(append([]string(nil), r[:len(r)/2]...), c[:len(c)/2]...)
		}
		cands = append(cands, c)
	}
	return train, cands, refs
}

func TestCIDErDScorerBatchEqualsOneByOne(t *testing.T) {
	const nImages, k = 16, 5
	train, cands, refs := scstBatch(3, 300, nImages, k)
	s := NewCIDErDScorer(train, CIDErDOptions{AppendEnd: true})
	want := make([]float64, len(cands))
	for i, c := range cands {
		want[i] = s.Score(c, refs[i/k])
	}
	check := func(what string, got []float64, index func(i int) int) {
		t.Helper()
		if len(got) != len(cands) {
			t.Fatalf("%s: %d scores for %d candidates", what, len(got), len(cands))
		}
		for i, g := range got {
			if w := want[index(i)]; g != w {
				t.Fatalf("%s: candidate %d scores %v, one by one %v", what, i, g, w)
			}
		}
	}
	same := func(i int) int { return i }
	check("image-major", s.ScoreBatch(cands, refs), same)
	// Sample-major with one reference set per candidate (the same slices repeated).
	var sm [][]string
	var smRefs [][][]string
	for j := 0; j < k; j++ {
		for i := 0; i < nImages; i++ {
			sm = append(sm, cands[i*k+j])
			smRefs = append(smRefs, refs[i])
		}
	}
	check("sample-major", s.ScoreBatch(sm, smRefs), func(i int) int { return (i%nImages)*k + i/nImages })
	prepared := make([]*PreparedRefs, nImages)
	for i := range prepared {
		prepared[i] = s.Prepare(refs[i])
	}
	check("prepared", s.ScoreBatchPrepared(cands, prepared, nil), same)
	// Concurrent use of one scorer and the same prepared references.
	var wg sync.WaitGroup
	results := make([][]float64, 4)
	for g := range results {
		wg.Go(func() {
			if g%2 == 0 {
				results[g] = s.ScoreBatch(cands, refs)
			} else {
				out := make([]float64, len(cands))
				for i, c := range cands {
					out[i] = s.ScoreWith(prepared[i/k], c)
				}
				results[g] = out
			}
		})
	}
	wg.Wait()
	for g, r := range results {
		check("concurrent "+string(rune('0'+g)), r, same)
	}
}

func TestCIDErDScorerRefusesMissingReferences(t *testing.T) {
	s := NewCIDErDScorer(handCorpus, CIDErDOptions{})
	for name, f := range map[string]func(){
		"Prepare":          func() { s.Prepare(nil) },
		"ScoreBatch empty": func() { s.ScoreBatch([][]string{toks("a")}, [][][]string{{}}) },
		"ScoreBatch sizes": func() { s.ScoreBatch(capsOf("a", "b", "c"), [][][]string{capsOf("a"), capsOf("b")}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
}

// BenchmarkCIDErDBatch scores one SCST step's samples: 64 images × 5 samples of 8–12 words
// from a 40-word vocabulary against 5 references each, df from 2,400 training images, the
// end token appended; preparing the 64 images' references is part of each step.
func BenchmarkCIDErDBatch(b *testing.B) {
	const nImages, k = 64, 5
	train, cands, refs := scstBatch(7, 2400, nImages, k)
	s := NewCIDErDScorer(train, CIDErDOptions{AppendEnd: true})
	b.ResetTimer()
	for b.Loop() {
		s.ScoreBatch(cands, refs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(cands)), "ns/caption")
}

// BenchmarkCIDErDScorerBuild is the one-time cost of the document frequencies of 2,400
// training images with 5 references each.
func BenchmarkCIDErDScorerBuild(b *testing.B) {
	train, _, _ := scstBatch(7, 2400, 1, 1)
	for b.Loop() {
		NewCIDErDScorer(train, CIDErDOptions{AppendEnd: true})
	}
}
