package metrics

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"

	"github.com/attncap/attncap/internal/pyref"

	"github.com/attncap/attncap/datasets"
)

func toks(s string) []string { return strings.Fields(s) }

func ex(cand string, refs ...string) Example {
	e := Example{Candidate: toks(cand)}
	for _, r := range refs {
		e.References = append(e.References, toks(r))
	}
	return e
}

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.12g, want %.12g", what, got, want)
	}
}

func TestBleuHandComputed(t *testing.T) {
	// Candidate a b c d vs reference a b c e: matches 3/4 unigrams, 2/3 bigrams, 1/2 trigrams,
	// 0/1 4-grams; equal lengths, so no brevity penalty.
	// Each precision is (correct + 1e-15)/(guesses + 1e-9), as in coco-caption; even with equal
	// lengths its ratio (4 + 1e-15)/(4 + 1e-9) is just below 1, so its brevity penalty applies.
	p := func(correct, guesses float64) float64 { return (correct + 1e-15) / (guesses + 1e-9) }
	bp := math.Exp(1 - (4+1e-9)/(4+1e-15))
	b := Bleu([]Example{ex("a b c d", "a b c e")})
	near(t, "BLEU-1", b[0], p(3, 4)*bp, 1e-15)
	near(t, "BLEU-2", b[1], math.Sqrt(p(3, 4)*p(2, 3))*bp, 1e-15)
	near(t, "BLEU-3", b[2], math.Cbrt(p(3, 4)*p(2, 3)*p(1, 2))*bp, 1e-15)
	near(t, "BLEU-4", b[3], math.Pow(p(3, 4)*p(2, 3)*p(1, 2)*p(0, 1), 0.25)*bp, 1e-18)

	// Brevity: 2 words against a 4-word reference, all matching: BP = exp(1 − 4/2).
	b = Bleu([]Example{ex("a b", "a b c d")})
	near(t, "short BLEU-1", b[0], math.Exp(-1), 1e-9)

	// Closest reference length, ties → the shorter: a 4-word candidate against references of
	// 3 and 5 words takes 3, so there is no brevity penalty and BLEU-1 is 2/4.
	b = Bleu([]Example{ex("a b x y", "a b c", "a b c d e")})
	near(t, "tie BLEU-1", b[0], 0.5, 1e-9)
	// Against references of 6 and 2 words the closest to 4 is... both 2 away: 2 is taken.
	b = Bleu([]Example{ex("a b x y", "a b c d e f", "a b")})
	near(t, "tie 2 BLEU-1", b[0], 0.5, 1e-9)

	// Clipping: "the the the the" against "the cat": only one "the" counts.
	b = Bleu([]Example{ex("the the the the", "the cat")})
	near(t, "clipped BLEU-1", b[0], 0.25, 1e-9)

	// Corpus level: counts are summed before dividing (not an average of sentence scores).
	b = Bleu([]Example{ex("a b", "a b"), ex("c d e f", "x y z w")})
	near(t, "corpus BLEU-1", b[0], 2.0/6, 1e-9)

	// Identical captions of 4+ words score 1.
	b = Bleu([]Example{ex("a man rides a horse", "a man rides a horse")})
	for k, v := range b {
		near(t, "identical BLEU", v, 1, 1e-9*float64(k+1))
	}
}

func TestBleuCountsNoGuessesForShortCandidates(t *testing.T) {
	// coco-caption counts max(0, len−n+1) possible n-grams: a 2-word candidate has no 3- or
	// 4-gram guesses. (NLTK would count one.) Two examples: one 2-word, one 5-word.
	b := Bleu([]Example{ex("a b", "a b"), ex("p q r s t", "p q r s t")})
	// trigrams: 3 correct out of 3 guesses (only from the 5-word caption) → precision 1.
	near(t, "BLEU-3", b[2], 1, 1e-9)
}

func TestRougeLHandComputed(t *testing.T) {
	// LCS(a b c d, a c d e f) = 3 (a c d): P = 3/4, R = 3/5.
	p, r, beta2 := 0.75, 0.6, 1.44
	near(t, "ROUGE-L", RougeL([]Example{ex("a b c d", "a c d e f")}), (1+beta2)*p*r/(r+beta2*p), 1e-12)
	// P and R are maximised separately over references: P from the first, R from the second.
	// cand a b (len 2); ref1 a b x y z w (LCS 2: P=1, R=2/6); ref2 a (LCS 1: P=1/2, R=1).
	p, r = 1, 1
	near(t, "ROUGE-L separate max", RougeL([]Example{ex("a b", "a b x y z w", "a")}), (1+beta2)*p*r/(r+beta2*p), 1e-12)
	near(t, "ROUGE-L disjoint", RougeL([]Example{ex("a b", "c d")}), 0, 0)
	near(t, "ROUGE-L empty candidate", RougeL([]Example{ex("", "c d")}), 0, 0)
	// Mean over images.
	near(t, "ROUGE-L mean", RougeL([]Example{ex("a b", "a b"), ex("a b", "c d")}), 0.5, 1e-12)
}

func TestCIDErDIdentities(t *testing.T) {
	// A single image: ln N = 0, every weight is 0, so is the score.
	near(t, "one image", CIDErD([]Example{ex("a b c", "a b c")}), 0, 0)
	// Two images with disjoint words, each candidate equal to its only reference: every n-gram
	// has df = 1, cosine similarity 1 for n = 1..4 and no length difference: 10 per image.
	two := []Example{ex("a b c d e", "a b c d e"), ex("p q r s t", "p q r s t")}
	near(t, "perfect", CIDErD(two), 10, 1e-9)
	// N-grams in every image's references carry no weight: adding a shared word "z" to both
	// references and candidates changes only the n ≥ 2 terms that include it... but an image
	// whose candidate shares only such n-grams scores 0.
	near(t, "only common words", CIDErD([]Example{ex("z", "z a"), ex("z", "z b")}), 0, 1e-12)
	// Length penalty: the candidate has the reference's n-grams plus extra unseen words; the
	// score is below 10 and falls as the bigram-count difference δ grows (Gaussian, σ = 6).
	short := CIDErD([]Example{ex("a b c d e x", "a b c d e"), ex("p q r s t", "p q r s t")})
	long := CIDErD([]Example{ex("a b c d e x y z w v u", "a b c d e"), ex("p q r s t", "p q r s t")})
	if !(short < 10 && long < short && long > 0) {
		t.Errorf("length penalty: %v (δ=1) and %v (δ=6) should fall below 10 in that order", short, long)
	}
}

func TestCIDErDTwoReferencesHandComputed(t *testing.T) {
	// Image 1: candidate "a b", refs "a b" and "a c"; image 2: candidate "d", ref "d".
	// N = 2, so weight w = ln 2 for every n-gram seen in one image (all of them here).
	// Unigrams: cand {a:w, b:w}; ref1 {a:w, b:w} → cos 1; ref2 {a:w, c:w} → w²/(√2w·√2w) = 1/2.
	// Bigrams: cand {ab}; ref1 {ab} → 1; ref2 {ac} → 0. 3-, 4-grams: none → 0.
	// Bigram counts: cand 1, ref1 1, ref2 1 → δ = 0.
	// Image 1: ((1 + 0.5) + (1 + 0) + 0 + 0)/4 / 2 refs · 10 = 3.125.
	// Image 2: unigram cos 1, nothing else: (1/4)/1 · 10 = 2.5. Mean: 2.8125.
	near(t, "CIDEr-D", CIDErD([]Example{ex("a b", "a b", "a c"), ex("d", "d")}), 2.8125, 1e-12)
}

func TestEvaluateRejectsExamplesWithoutReferences(t *testing.T) {
	if _, err := Evaluate([]Example{ex("a", "a"), {Candidate: toks("b")}}); err == nil || !strings.Contains(err.Error(), "example 1") {
		t.Fatalf("err = %v", err)
	}
}

// TestBleuAgreesWithNLTK compares corpus BLEU with NLTK's corpus_bleu on random corpora where
// the two definitions agree: every candidate has at least 4 words and every n-gram order has
// at least one match (NLTK then differs only by coco-caption's 1e-15/1e-9 constants).
func TestBleuAgreesWithNLTK(t *testing.T) {
	py := pyref.Require(t, "nltk")
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("a man dog runs on the grass red ball in with two")
	sentence := func(n int) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = words[rng.IntN(len(words))]
		}
		return s
	}
	for trial := 0; trial < 5; trial++ {
		var corpus []Example
		for i := 0; i < 30; i++ {
			ref := sentence(5 + rng.IntN(8))
			cand := append([]string{}, ref[:4]...) // guarantees matches of every order
			cand = append(cand, sentence(rng.IntN(6))...)
			corpus = append(corpus, Example{Candidate: cand, References: [][]string{ref, sentence(4 + rng.IntN(9))}})
		}
		input, _ := json.Marshal(corpus)
		script := `import json, sys
from nltk.translate.bleu_score import corpus_bleu
c = json.load(sys.stdin)
refs = [e["References"] for e in c]; hyps = [e["Candidate"] for e in c]
print(json.dumps([corpus_bleu(refs, hyps, weights=w) for w in [(1,), (.5,.5), (1/3,1/3,1/3), (.25,.25,.25,.25)]]))`
		cmd := exec.Command(py, "-c", script)
		cmd.Stdin = strings.NewReader(string(input))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("nltk: %v", err)
		}
		var want [4]float64
		if err := json.Unmarshal(out, &want); err != nil {
			t.Fatalf("nltk output %q: %v", out, err)
		}
		got := Bleu(corpus)
		for k := range want {
			near(t, "BLEU vs NLTK", got[k], want[k], 1e-9)
		}
	}
}

func TestEvaluateCOCONamesBadResults(t *testing.T) {
	ann := &COCOAnnotations{}
	for i, c := range []string{"A dog runs.", "A cat sits.", "Two birds fly."} {
		ann.Images = append(ann.Images, datasets.COCOImage{ID: datasets.IntID(int64(i + 1)), FileName: "x.jpg"})
		ann.Annotations = append(ann.Annotations, datasets.COCOAnnotation{ID: datasets.IntID(int64(10 + i)), ImageID: datasets.IntID(int64(i + 1)), Caption: c})
	}
	res := func(id int64, caption string) COCOResult {
		return COCOResult{ImageID: datasets.IntID(id), Caption: caption}
	}
	good := []COCOResult{res(1, "a dog runs"), res(2, "a cat sits"), res(3, "two birds fly")}
	s, err := EvaluateCOCO(ann, good)
	if err != nil {
		t.Fatal(err)
	}
	// Tokenization makes "A dog runs." equal "a dog runs": perfect unigram precision.
	near(t, "BLEU-1", s.Bleu1, 1, 1e-6)
	cases := []struct {
		res  []COCOResult
		want string
	}{
		{append(good[:3:3], res(7, "x"), res(9, "y"), res(7, "z")), "the results caption 2 image ids not in the annotations: 7, 9"},
		{append(good[:3:3], res(2, "again")), "the results caption 1 image id more than once: 2"},
		{good[:1], "the results have no caption for 2 annotated images: 2, 3"},
		{[]COCOResult{res(1, "a"), res(2, "b"), {ImageID: datasets.StringID("3"), Caption: "c"}},
			`the results' image ids mix integers (first: 1) and strings (first: "3"); write every image id with one type (all integers or all strings)`},
	}
	for _, c := range cases {
		if _, err := EvaluateCOCO(ann, c.res); err == nil || err.Error() != c.want {
			t.Errorf("err = %v\nwant %s", err, c.want)
		}
	}
}

func TestCIDErDIsBitForBitReproducible(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	words := strings.Fields("a b c d e f g h")
	sentence := func() []string {
		s := make([]string, 3+rng.IntN(6))
		for i := range s {
			s[i] = words[rng.IntN(len(words))]
		}
		return s
	}
	var corpus []Example
	for i := 0; i < 20; i++ {
		corpus = append(corpus, Example{Candidate: sentence(), References: [][]string{sentence(), sentence(), sentence()}})
	}
	first := CIDErD(corpus)
	for i := 0; i < 20; i++ {
		if got := CIDErD(corpus); got != first {
			t.Fatalf("run %d: %v, first run %v", i, got, first)
		}
	}
}
